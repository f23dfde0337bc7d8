/* convex.c: the shallow problem without a rank bound for any convex loss, min over R (dy, dx)
 * of L(R X) (dln/solver.h, dln_shallow_convex), by Newton's method: each step solves
 * H p = -g by conjugate gradients on exact Hessian-vector products (truncated at a
 * relative residual eta = min(1/2, sqrt(||g|| / ||g_0||)): superlinear near the optimum),
 * then backtracks from the full step until the Armijo condition holds. The m-sized work (the
 * prediction R X, the loss's gradient and Hessian action in Z, the products with X^T) runs on
 * the backend through the objective's state (dln/objective.h); the dy x dx vectors of the
 * iteration are small and live on the host.
 *   g(R) = dL/dZ X^T at Z = R X;  H(R)[V] = (d^2L/dZ^2 [V X]) X^T.
 * Near the optimum a decrease of L can fall below its rounding: a step whose loss changed by
 * less than 1e-14 |L| is accepted when it lowers ||g|| (the test that still means
 * something there). The infimum of the logistic and softmax losses on separable data is 0
 * and not attained (the margins grow without bound): a run that drives such a loss below
 * UNATTAINED times its value at R = 0 stops and says so. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/objective.h"
#include "dln/solver.h"

#define ARMIJO 1e-4
#define MAX_HALVINGS 60
#define UNATTAINED 1e-10

typedef struct {
    dln_backend *be;
    dln_objective_state *st;
    double scale;
    int dx, dy, m;
    dln_mat X, R, Z, Zp, G, D, out;
} convex_ctx;

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* L(R) and g(R) (host, dy x dx); the prediction at R kept in Zp for the Hessian. */
static int evaluate(convex_ctx *c, const double *R, double *value, double *g)
{
    double v;
    DLN_TRY(dln_upload(c->be, &c->R, R, c->dy));
    DLN_TRY(dln_gemm(c->be, 0, 0, 1.0, &c->R, &c->X, 0.0, &c->Z));
    DLN_TRY(dln_copy(c->be, &c->Zp, &c->Z));
    DLN_TRY(dln_objective_gradient(c->st, c->be, &c->Z, 0, 0, 1, &c->out, 0));
    DLN_TRY(dln_gemm(c->be, 0, 1, 1.0, &c->Z, &c->X, 0.0, &c->G));
    DLN_TRY(dln_download(c->be, &c->out, &v, 1));
    *value = c->scale * v;
    return dln_download(c->be, &c->G, g, c->dy);
}

/* hv = H(R) v at the R of the last evaluate. */
static int hessian_vector(convex_ctx *c, const double *v, double *hv)
{
    DLN_TRY(dln_upload(c->be, &c->R, v, c->dy));
    DLN_TRY(dln_gemm(c->be, 0, 0, 1.0, &c->R, &c->X, 0.0, &c->D));
    DLN_TRY(dln_objective_hessian(c->st, c->be, &c->Zp, 0, &c->D, 0, 0, 1));
    DLN_TRY(dln_gemm(c->be, 0, 1, 1.0, &c->D, &c->X, 0.0, &c->G));
    return dln_download(c->be, &c->G, hv, c->dy);
}

/* x ~ -H^{-1} g by conjugate gradients to ||H x + g|| <= eta ||g|| (at most 2 n products);
 * direction of non-positive curvature at the first product: x = -g. */
static int newton_direction(convex_ctx *c, const double *g, double eta, double *x, double *r, double *p, double *hp,
                            size_t n, long *products)
{
    memset(x, 0, sizeof(double) * n);
    for (size_t i = 0; i < n; i++) r[i] = -g[i], p[i] = r[i];
    double rs = dot(r, r, n), target = eta * eta * rs;
    for (size_t k = 0; k < 2 * n && rs > target; k++) {
        DLN_TRY(hessian_vector(c, p, hp));
        (*products)++;
        double php = dot(p, hp, n);
        if (!(php > 0.0)) {
            if (k == 0)
                for (size_t i = 0; i < n; i++) x[i] = -g[i];
            break;
        }
        double a = rs / php;
        for (size_t i = 0; i < n; i++) x[i] += a * p[i], r[i] -= a * hp[i];
        double rs1 = dot(r, r, n);
        for (size_t i = 0; i < n; i++) p[i] = r[i] + (rs1 / rs) * p[i];
        rs = rs1;
    }
    return DLN_OK;
}

static int solve(convex_ctx *c, double tol, int max_iter, double *R, dln_convex_result *res, dln_error *err)
{
    size_t n = (size_t)c->dy * (size_t)c->dx;
    double *w = malloc(sizeof(double) * 8 * (n ? n : 1));
    if (!w) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    double *g = w, *x = w + n, *r = w + 2 * n, *p = w + 3 * n, *hp = w + 4 * n, *trial = w + 5 * n, *gt = w + 6 * n,
           *zero = w + 7 * n;
    memset(zero, 0, sizeof(double) * n);
    double f, f0;
    int start_at_zero = 1, rc = DLN_OK;
    for (size_t i = 0; i < n && start_at_zero; i++) start_at_zero = R[i] == 0.0;
    if (!start_at_zero) rc = evaluate(c, zero, &f0, g); /* L(0) (the evaluation at R last: its prediction stays) */
    if (!rc) rc = evaluate(c, R, &f, g);
    if (start_at_zero) f0 = f;
    res->zero_value = f0;
    res->grad_norm0 = sqrt(dot(g, g, n));
    double gn = res->grad_norm0;
    while (!rc) {
        res->value = f, res->grad_norm = gn;
        if (!isfinite(f) || !isfinite(gn)) {
            rc = dln_fail(err, DLN_ERUNTIME, "the convex shallow solve met a non-finite loss or gradient");
            break;
        }
        if (gn <= tol * res->grad_norm0) {
            res->converged = 1;
            break;
        }
        if (res->unattainable && f <= UNATTAINED * f0) {
            res->unattained = 1;
            break;
        }
        if (res->iterations >= max_iter) break;
        double eta = fmin(0.5, sqrt(gn / res->grad_norm0));
        rc = newton_direction(c, g, eta, x, r, p, hp, n, &res->hessian_products);
        double slope = dot(g, x, n), t = 1.0, ft = f;
        int accepted = 0;
        for (int h = 0; !rc && h < MAX_HALVINGS && !accepted; h++, t *= 0.5) {
            for (size_t i = 0; i < n; i++) trial[i] = R[i] + t * x[i];
            rc = evaluate(c, trial, &ft, gt);
            double gtn = rc ? INFINITY : sqrt(dot(gt, gt, n));
            accepted = !rc && (ft <= f + ARMIJO * t * slope ||
                               (fabs(ft - f) <= 1e-14 * fabs(f) && gtn < gn)); /* below the loss's rounding */
            if (accepted) {
                memcpy(R, trial, sizeof(double) * n), memcpy(g, gt, sizeof(double) * n);
                f = ft, gn = gtn;
            }
        }
        if (rc) break;
        res->iterations++;
        if (!accepted) { /* no step lowers the loss: as far as fp64 goes; the prediction is at the last trial */
            rc = evaluate(c, R, &f, g);
            res->value = f, res->grad_norm = sqrt(dot(g, g, n));
            break;
        }
    }
    free(w);
    return rc;
}

int dln_shallow_convex(dln_backend *be, const dln_objective *obj, const dln_data *d, double tol, int max_iter,
                       double *R, dln_convex_result *res, dln_error *err)
{
    // R (dy, dx) host, ld dy: the start on entry (zeros for R = 0), the solution on return
    memset(res, 0, sizeof *res);
    if (!d || !d->X || !d->Y || d->dx < 1 || d->dy < 1 || d->m < 1 || !R)
        return dln_fail(err, DLN_EINPUT, "convex shallow solve: empty data");
    if (!(tol > 0.0) || max_iter < 1) return dln_fail(err, DLN_EINPUT, "convex shallow solve: tol must be > 0 and max_iter >= 1");
    const char *name = dln_objective_name(obj);
    res->unattainable = name && (!strcmp(name, "logistic") || !strcmp(name, "softmax"));
    convex_ctx c = {be, NULL, dln_objective_value_scale(obj), d->dx, d->dy, d->m, {0}, {0}, {0}, {0}, {0}, {0}, {0}};
    int rc = dln_objective_state_create(obj, be, d->dy, d->m, DLN_F64, 1, &c.st);
    if (!rc) rc = dln_objective_set_target(c.st, d->Y);
    if (!rc) rc = dln_mat_alloc(be, &c.X, d->dx, d->m, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &c.R, d->dy, d->dx, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &c.Z, d->dy, d->m, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &c.Zp, d->dy, d->m, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &c.D, d->dy, d->m, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &c.G, d->dy, d->dx, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &c.out, 1, 1, DLN_F64);
    if (!rc) rc = dln_upload(be, &c.X, d->X, d->dx);
    if (!rc) rc = solve(&c, tol, max_iter, R, res, err);
    dln_mat *mats[] = {&c.X, &c.R, &c.Z, &c.Zp, &c.D, &c.G, &c.out};
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) dln_mat_free(be, mats[i]);
    dln_objective_state_destroy(c.st);
    return rc;
}
