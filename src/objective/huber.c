/* huber.c: the Huber loss L(Z) = sum h(Z - Y), h(e) = e^2 / 2 for |e| <= delta and
 * delta (|e| - delta / 2) beyond: quadratic near the target, linear in the outliers. Its
 * gradient is the residual clipped to [-delta, delta], its Hessian 1 where |e| <= delta and 0
 * beyond (a step function: finite differences across |e| = delta see the jump). The work is
 * dln/ops.h's loss operations (loss_state.c); no exact compression. */
#include <math.h>

#include "objective/objective.h"

static int huber_check(const dln_objective_params *p, double *param, dln_error *err)
{
    DLN_TRY(dln_objective_no_param("huber", p, "delta", err));
    if (!(p->delta > 0) || !isfinite(p->delta))
        return dln_fail(err, DLN_EINPUT, "the huber loss needs delta > 0 (got %g)", p->delta);
    *param = p->delta;
    return DLN_OK;
}

static double huber_zero_loss(const dln_objective *o, const double *Y, int rows, int n)
{
    double s = 0.0, d = o->loss.param;
    for (size_t e = 0; e < (size_t)rows * (size_t)n; e++) {
        double a = fabs(Y[e]);
        s += a <= d ? 0.5 * a * a : d * (a - 0.5 * d);
    }
    return s;
}

const dln_objective_ops dln_objective_huber = {
    .name = "huber",
    .flags = DLN_OBJECTIVE_INPUT | DLN_OBJECTIVE_UNIT_CURVATURE,
    .value_scale = 1.0,
    .loss = DLN_LOSS_HUBER,
    .check = huber_check,
    DLN_LOSS_STATE_OPS,
    .zero_loss = huber_zero_loss,
};
