/* derivatives.c: the loss, its gradient and its Hessian-vector products at given weights,
 * computed by the library's own chains on the backend (a network of one member: the
 * forward and backward chains the trainer steps with, and the exact Hessian-vector
 * product its sharpness is measured with), for front ends that build on dln's exact
 * derivatives (the Python package's dln.loss, dln.gradient, dln.hvp); and the gradient flow
 * from given weights (dln.flow). */
#include <string.h>

#include "dln/dln.h"

/* A network of one member of shape s on (X, Y) (m columns) at the weights W; Y checked to be
 * a target of the objective. */
static int at_weights(dln_backend *be, const dln_objective *obj, const dln_shape *s, const double *X, const double *Y,
                      int m, double *const *W, dln_network **net, dln_error *err)
{
    DLN_TRY(dln_objective_check_target(obj, Y, s->dims[s->depth], m, err));
    dln_network_config c = {.n = m, .count = 1, .dtype = DLN_F64, .objective = obj};
    DLN_TRY(dln_network_create(be, s, &c, net));
    DLN_TRY(dln_network_set_data(*net, X, Y));
    return dln_network_set_weights(*net, 0, W);
}

/* The backend's message for a failure recorded there, when err holds none. */
static int reported(dln_backend *be, int rc, dln_error *err)
{
    const dln_error *be_err = dln_backend_error(be);
    if (rc && err && !err->code && be_err && be_err != err && be_err->code)
        dln_fail(err, be_err->code, "%s", be_err->msg);
    return rc;
}

int dln_loss_at(dln_backend *be, const dln_objective *obj, const dln_shape *s, const double *X, const double *Y, int m,
                double *const *W, double *loss, double **G, dln_error *err)
{
    dln_network *net = NULL;
    dln_network_stats st;
    int rc = at_weights(be, obj, s, X, Y, m, W, &net, err);
    if (!rc) rc = dln_network_evaluate(net);
    if (!rc) rc = dln_network_read(net, &st);
    if (!rc && G) rc = dln_network_get_gradients(net, 0, G);
    if (!rc) *loss = st.loss;
    dln_network_destroy(net);
    return reported(be, rc, err);
}

int dln_hvp_at(dln_backend *be, const dln_objective *obj, const dln_shape *s, const double *X, const double *Y, int m,
               double *const *W, double *const *V, double **HV, dln_error *err)
{
    dln_network *net = NULL;
    int rc = at_weights(be, obj, s, X, Y, m, W, &net, err);
    if (!rc) rc = dln_network_hvp(net, 0, V, HV);
    dln_network_destroy(net);
    return reported(be, rc, err);
}

int dln_flow_at(dln_backend *be, const dln_objective *obj, const dln_shape *s, const double *X, const double *Y, int m,
                double **W, double T, double rtol, long max_tries, dln_flow_stats *st, dln_error *err)
{
    dln_network *net = NULL;
    if (!(rtol > 0 && rtol < 1)) return dln_fail(err, DLN_EINPUT, "the flow's tolerance must be in (0, 1), got %g", rtol);
    int rc = at_weights(be, obj, s, X, Y, m, W, &net, err);
    if (!rc) rc = dln_flow_integrate(net, &T, rtol, max_tries, st, err);
    if (!rc) rc = dln_network_get_weights(net, 0, W);
    dln_network_destroy(net);
    return reported(be, rc, err);
}
