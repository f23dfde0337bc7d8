/* shallow_eval.c: the shallow objective f(R) = L(R X) on a backend (solver/shallow_eval.h):
 *   f(R) = L(Z), Z = R X;   g(R) = dL/dZ X^T;   H(R)[V] = (d^2L/dZ^2 [V X]) X^T,
 * the m-sized work (the prediction, the loss's gradient and Hessian action in Z, the
 * products with X^T) on the backend through the objective's state (dln/objective.h), in
 * fp64; R, g and the directions are dy x dx host arrays (ld dy). */
#include <stdlib.h>

#include "solver/shallow_eval.h"

struct dln_shallow_eval {
    dln_backend *be;
    dln_objective_state *st;
    double scale;
    int dx, dy, m;
    long evals, hvps;
    dln_mat X, R, Z, Zp, G, D, out;
};

int dln_shallow_eval_create(dln_backend *be, const dln_objective *obj, const dln_data *d, dln_shallow_eval **out)
{
    // X (dx, m), Y (dy, m) of d uploaded; scratch Z, Zp, D (dy, m), R, G (dy, dx)
    *out = NULL;
    dln_shallow_eval *ev = calloc(1, sizeof *ev);
    if (!ev) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    ev->be = be, ev->scale = dln_objective_value_scale(obj), ev->dx = d->dx, ev->dy = d->dy, ev->m = d->m;
    int rc = dln_objective_state_create(obj, be, d->dy, d->m, DLN_F64, 1, &ev->st);
    if (!rc) rc = dln_objective_set_target(ev->st, d->Y);
    if (!rc) rc = dln_mat_alloc(be, &ev->X, d->dx, d->m, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &ev->R, d->dy, d->dx, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &ev->Z, d->dy, d->m, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &ev->Zp, d->dy, d->m, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &ev->D, d->dy, d->m, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &ev->G, d->dy, d->dx, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &ev->out, 1, 1, DLN_F64);
    if (!rc) rc = dln_upload(be, &ev->X, d->X, d->dx);
    if (rc) {
        dln_shallow_eval_destroy(ev);
        return rc;
    }
    *out = ev;
    return DLN_OK;
}

void dln_shallow_eval_destroy(dln_shallow_eval *ev)
{
    if (!ev) return;
    dln_mat *mats[] = {&ev->X, &ev->R, &ev->Z, &ev->Zp, &ev->D, &ev->G, &ev->out};
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) dln_mat_free(ev->be, mats[i]);
    dln_objective_state_destroy(ev->st);
    free(ev);
}

int dln_shallow_eval_at(dln_shallow_eval *ev, const double *R, double *value, double *g)
{
    // R (dy, dx) host -> f(R), g (dy, dx) host; the prediction R X kept in Zp for the Hessian
    double v;
    ev->evals++;
    DLN_TRY(dln_upload(ev->be, &ev->R, R, ev->dy));
    DLN_TRY(dln_gemm(ev->be, 0, 0, 1.0, &ev->R, &ev->X, 0.0, &ev->Z));
    DLN_TRY(dln_copy(ev->be, &ev->Zp, &ev->Z));
    DLN_TRY(dln_objective_gradient(ev->st, ev->be, &ev->Z, 0, 0, 1, &ev->out, 0));
    DLN_TRY(dln_download(ev->be, &ev->out, &v, 1));
    *value = ev->scale * v;
    if (!g) return DLN_OK;
    DLN_TRY(dln_gemm(ev->be, 0, 1, 1.0, &ev->Z, &ev->X, 0.0, &ev->G));
    return dln_download(ev->be, &ev->G, g, ev->dy);
}

int dln_shallow_eval_hvp(dln_shallow_eval *ev, const double *v, double *hv)
{
    // v (dy, dx) host -> hv = H(R) v (dy, dx) host, R the last point evaluated
    ev->hvps++;
    DLN_TRY(dln_upload(ev->be, &ev->R, v, ev->dy));
    DLN_TRY(dln_gemm(ev->be, 0, 0, 1.0, &ev->R, &ev->X, 0.0, &ev->D));
    DLN_TRY(dln_objective_hessian(ev->st, ev->be, &ev->Zp, 0, &ev->D, 0, 0, 1));
    DLN_TRY(dln_gemm(ev->be, 0, 1, 1.0, &ev->D, &ev->X, 0.0, &ev->G));
    return dln_download(ev->be, &ev->G, hv, ev->dy);
}

long dln_shallow_eval_count(const dln_shallow_eval *ev, long *hvps)
{
    if (hvps) *hvps = ev->hvps;
    return ev->evals;
}
