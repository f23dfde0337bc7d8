/* convex.c: the shallow problem without a rank bound for any convex loss, min over R (dy, dx)
 * of L(R X) (dln/solver.h, dln_shallow_convex): Newton-CG (newton_cg.c) on the shallow
 * objective's exact Hessian-vector products (shallow_eval.c), to ||g|| <= tol ||g(0)||. The
 * infimum of the logistic and softmax losses on separable data is 0 and not attained (the
 * margins grow without bound): a run that drives such a loss below UNATTAINED times its
 * value at R = 0 stops and says so; so does one whose R grows to ESCAPE times its size after
 * the first Newton step (partly separable data: the infimum is positive but lies at
 * infinity, some samples' margins growing without bound). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solver/shallow_eval.h"

#define UNATTAINED 1e-10
#define ESCAPE 1e4 /* logistic, softmax: R outgrowing its size after the first Newton step this much */

static int eval_R(void *ctx, const double *R, double *f, double *g)
{
    return dln_shallow_eval_at(ctx, R, f, g);
}

static int hvp_R(void *ctx, const double *v, double *hv)
{
    return dln_shallow_eval_hvp(ctx, v, hv);
}

int dln_shallow_infimum_unattainable(const dln_objective *obj)
{
    const char *name = dln_objective_name(obj);
    return name && (!strcmp(name, "logistic") || !strcmp(name, "softmax"));
}

int dln_shallow_convex_with(dln_shallow_eval *ev, const dln_objective *obj, const dln_data *d, double tol,
                            int max_iter, double *R, dln_convex_result *res, dln_error *err)
{
    // R (dy, dx) host, ld dy: the start on entry (zeros for R = 0), the solution on return
    memset(res, 0, sizeof *res);
    if (!(tol > 0.0) || max_iter < 1) return dln_fail(err, DLN_EINPUT, "convex shallow solve: tol must be > 0 and max_iter >= 1");
    res->unattainable = dln_shallow_infimum_unattainable(obj);
    size_t n = (size_t)d->dy * (size_t)d->dx;
    double *g = malloc(sizeof(double) * n), *zero = calloc(n, sizeof(double));
    int rc = !g || !zero ? dln_fail(err, DLN_ENOMEM, "out of host memory") : DLN_OK;
    if (!rc) rc = dln_shallow_eval_at(ev, zero, &res->zero_value, g); /* the scale: L(0), ||g(0)|| */
    double g0 = 0.0;
    for (size_t i = 0; !rc && i < n; i++) g0 += g[i] * g[i];
    res->grad_norm0 = g0 = sqrt(g0);
    dln_newton_fn fn = {n, eval_R, hvp_R, ev, res->unattainable ? ESCAPE : 0.0};
    dln_newton_result nr;
    double floor = res->unattainable ? UNATTAINED * res->zero_value : -INFINITY;
    if (!rc) rc = dln_newton_cg(&fn, R, tol * g0, floor, max_iter, &nr, err);
    if (!rc) {
        res->value = nr.value, res->grad_norm = nr.grad_norm, res->iterations = nr.iterations;
        res->hessian_products = nr.products;
        res->converged = nr.converged || nr.grad_norm <= tol * g0;
        res->unattained = (nr.below || nr.escaped) && !res->converged;
        res->escaped = nr.escaped && !res->converged;
    }
    free(g), free(zero);
    return rc;
}

int dln_shallow_convex(dln_backend *be, const dln_objective *obj, const dln_data *d, double tol, int max_iter,
                       double *R, dln_convex_result *res, dln_error *err)
{
    memset(res, 0, sizeof *res);
    if (!d || !d->X || !d->Y || d->dx < 1 || d->dy < 1 || d->m < 1 || !R)
        return dln_fail(err, DLN_EINPUT, "convex shallow solve: empty data");
    dln_shallow_eval *ev;
    DLN_TRY(dln_shallow_eval_create(be, obj, d, &ev));
    int rc = dln_shallow_convex_with(ev, obj, d, tol, max_iter, R, res, err);
    dln_shallow_eval_destroy(ev);
    return rc;
}
