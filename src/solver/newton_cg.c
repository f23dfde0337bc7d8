/* newton_cg.c: truncated Newton's method with conjugate gradients (solver/shallow_eval.h,
 * dln_newton_cg), for the shallow solvers. Each step solves H p = -g by CG on the
 * function's Hessian-vector products, truncated at a relative residual
 * eta = min(1/2, sqrt(||g|| / ||g_0||)) (superlinear near a minimum), then backtracks from
 * the full step until the Armijo condition holds. CG stops at a direction of non-positive
 * curvature: the iterate so far, or -g when it is met at the first product (Nocedal &
 * Wright 2006, Alg. 7.1). Near a minimum a decrease of f can fall below its rounding: a step
 * whose value changed by less than 1e-14 |f| is accepted when it lowers ||g|| (the test that
 * still means something there). For the losses whose infimum may lie at infinity, a caller
 * may stop the iteration where ||x|| outgrows its size after the first step (max_growth). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solver/shallow_eval.h"

#define ARMIJO 1e-4
#define MAX_HALVINGS 60

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Both methods' stopping tests at (f, ||g||): the values recorded; stop on a non-finite one
 * (*rc the failure), at the gradient target (converged) or below the floor. */
static int done(dln_newton_result *res, double f, double gn, double grad_target, double floor, int *rc, dln_error *err)
{
    res->value = f, res->grad_norm = gn;
    if (!isfinite(f) || !isfinite(gn))
        return *rc = dln_fail(err, DLN_ERUNTIME, "a shallow solve met a non-finite loss or gradient"), 1;
    if (gn <= grad_target) return res->converged = 1;
    if (f <= floor) return res->below = 1;
    return 0;
}

/* x ~ -H^{-1} g by CG to ||H x + g|| <= eta ||g|| (at most 2 n products). */
static int direction(const dln_newton_fn *fn, const double *g, double eta, double *x, double *r, double *p, double *hp,
                     long *products)
{
    size_t n = fn->n;
    memset(x, 0, sizeof(double) * n);
    for (size_t i = 0; i < n; i++) r[i] = -g[i], p[i] = r[i];
    double rs = dot(r, r, n), target = eta * eta * rs;
    for (size_t k = 0; k < 2 * n && rs > target; k++) {
        DLN_TRY(fn->hvp(fn->ctx, p, hp));
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

int dln_newton_cg(const dln_newton_fn *fn, double *x, double grad_target, double floor, int max_iter,
                  dln_newton_result *res, dln_error *err)
{
    size_t n = fn->n;
    memset(res, 0, sizeof *res);
    double *w = malloc(sizeof(double) * 7 * (n ? n : 1));
    if (!w) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    double *g = w, *d = w + n, *r = w + 2 * n, *p = w + 3 * n, *hp = w + 4 * n, *trial = w + 5 * n, *gt = w + 6 * n;
    double f;
    int rc = fn->eval(fn->ctx, x, &f, g);
    double gn = rc ? NAN : sqrt(dot(g, g, n)), first_norm = NAN;
    res->grad_norm0 = gn;
    while (!rc) {
        if (done(res, f, gn, grad_target, floor, &rc, err)) break;
        if (res->iterations >= max_iter) break;
        double eta = fmin(0.5, sqrt(gn / res->grad_norm0));
        rc = direction(fn, g, eta, d, r, p, hp, &res->products);
        double slope = dot(g, d, n), t = 1.0, ft = f;
        if (!rc && !(slope < 0)) /* CG's iterate is a descent direction unless rounding broke it */
            for (size_t i = 0; i < n; i++) d[i] = -g[i];
        slope = dot(g, d, n);
        int accepted = 0;
        for (int h = 0; !rc && h < MAX_HALVINGS && !accepted; h++, t *= 0.5) {
            for (size_t i = 0; i < n; i++) trial[i] = x[i] + t * d[i];
            rc = fn->eval(fn->ctx, trial, &ft, gt);
            double gtn = rc ? INFINITY : sqrt(dot(gt, gt, n));
            accepted = !rc && isfinite(ft) &&
                       (ft <= f + ARMIJO * t * slope || (fabs(ft - f) <= 1e-14 * fabs(f) && gtn < gn));
            if (accepted) {
                memcpy(x, trial, sizeof(double) * n), memcpy(g, gt, sizeof(double) * n);
                f = ft, gn = gtn;
            }
        }
        if (rc) break;
        res->iterations++;
        if (accepted && fn->max_growth > 0) {
            double xn = sqrt(dot(x, x, n));
            if (res->iterations == 1) first_norm = xn;
            else if (xn > fn->max_growth * first_norm) {
                res->value = f, res->grad_norm = gn, res->escaped = 1;
                break;
            }
        }
        if (!accepted) { /* as far as fp64 goes; the last evaluation was a trial: back to x */
            rc = fn->eval(fn->ctx, x, &f, g);
            res->value = f, res->grad_norm = sqrt(dot(g, g, n));
            res->stuck = 1;
            break;
        }
    }
    free(w);
    return rc;
}

/* ---- the trust-region Newton method (Steihaug-Toint CG) ----------------------------------
 * For the non-convex rank-k problem: each step minimises the quadratic model g^T p + p^T H p / 2
 * over ||p|| <= delta by CG, which follows a direction of non-positive curvature to the
 * region's boundary instead of stopping (so saddles and concave regions are left along their
 * curvature); the step is taken when the actual decrease is at least RHO_ACCEPT of the
 * model's, and the radius shrinks by 4 below RHO_LOW and doubles above RHO_HIGH where the step
 * reached the boundary (Nocedal & Wright 2006, Alg. 4.1 and 7.2). */
#define RHO_ACCEPT 1e-4
#define RHO_LOW 0.25
#define RHO_HIGH 0.75

/* tau >= 0 with ||z + tau d|| = delta. */
static double to_boundary(const double *z, const double *d, double delta, size_t n)
{
    double dd = dot(d, d, n), zd = dot(z, d, n), zz = dot(z, z, n);
    return (-zd + sqrt(fmax(zd * zd + dd * (delta * delta - zz), 0.0))) / fmax(dd, 1e-300);
}

/* p ~ argmin of the model in the ball; *model = g^T p + p^T H p / 2. */
static int steihaug(const dln_newton_fn *fn, const double *g, double gn, double eta, double delta, double *p,
                    double *r, double *d, double *hd, double *hp, long *products, double *model)
{
    size_t n = fn->n;
    memset(p, 0, sizeof(double) * n), memset(hp, 0, sizeof(double) * n);
    for (size_t i = 0; i < n; i++) r[i] = g[i], d[i] = -g[i];
    double rr = dot(r, r, n);
    for (size_t j = 0; j < 2 * n && sqrt(rr) > eta * gn; j++) {
        DLN_TRY(fn->hvp(fn->ctx, d, hd));
        (*products)++;
        double dhd = dot(d, hd, n), alpha = rr / dhd, tau = to_boundary(p, d, delta, n);
        if (!(dhd > 0.0) || alpha >= tau) { /* to the boundary along d */
            for (size_t i = 0; i < n; i++) p[i] += tau * d[i], hp[i] += tau * hd[i];
            break;
        }
        for (size_t i = 0; i < n; i++) p[i] += alpha * d[i], hp[i] += alpha * hd[i], r[i] += alpha * hd[i];
        double rr1 = dot(r, r, n);
        for (size_t i = 0; i < n; i++) d[i] = -r[i] + (rr1 / rr) * d[i];
        rr = rr1;
    }
    *model = dot(g, p, n) + 0.5 * dot(p, hp, n);
    return DLN_OK;
}

int dln_trust_region(const dln_newton_fn *fn, double *x, double grad_target, double floor, int max_iter,
                     dln_newton_result *res, dln_error *err)
{
    size_t n = fn->n;
    memset(res, 0, sizeof *res);
    double *w = malloc(sizeof(double) * 8 * (n ? n : 1));
    if (!w) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    double *g = w, *p = w + n, *r = w + 2 * n, *d = w + 3 * n, *hd = w + 4 * n, *hp = w + 5 * n, *trial = w + 6 * n,
           *gt = w + 7 * n;
    double f, model;
    int rc = fn->eval(fn->ctx, x, &f, g), at_x = 1;
    double gn = rc ? NAN : sqrt(dot(g, g, n)), delta = fmax(sqrt(dot(x, x, n)), 1.0), first_norm = NAN;
    res->grad_norm0 = gn;
    while (!rc) {
        if (done(res, f, gn, grad_target, floor, &rc, err)) break;
        if (res->iterations >= max_iter || delta < 1e-14 * fmax(sqrt(dot(x, x, n)), 1e-300)) {
            res->stuck = res->iterations < max_iter;
            break;
        }
        if (!at_x) rc = fn->eval(fn->ctx, x, &f, g), at_x = 1; /* the Hessian's point back at x */
        if (rc) break;
        double eta = fmin(0.5, sqrt(gn / res->grad_norm0));
        rc = steihaug(fn, g, gn, eta, delta, p, r, d, hd, hp, &res->products, &model);
        if (rc) break;
        for (size_t i = 0; i < n; i++) trial[i] = x[i] + p[i];
        double ft;
        rc = fn->eval(fn->ctx, trial, &ft, gt);
        if (rc) break;
        at_x = 0;
        res->iterations++;
        double gtn = sqrt(dot(gt, gt, n)), pn = sqrt(dot(p, p, n));
        double rho = model < 0 ? (ft - f) / model : -1.0;
        int flat = fabs(ft - f) <= 1e-14 * fabs(f) && gtn < gn; /* below the rounding of f */
        if (rho < RHO_LOW && !flat) delta = 0.25 * pn;
        else if (rho > RHO_HIGH && pn >= 0.99 * delta) delta *= 2.0;
        if (isfinite(ft) && (rho > RHO_ACCEPT || flat)) {
            memcpy(x, trial, sizeof(double) * n), memcpy(g, gt, sizeof(double) * n);
            f = ft, gn = gtn, at_x = 1;
            double xn = sqrt(dot(x, x, n));
            if (isnan(first_norm)) first_norm = xn;
            else if (fn->max_growth > 0 && xn > fn->max_growth * first_norm) {
                res->value = f, res->grad_norm = gn, res->escaped = 1;
                break;
            }
        }
    }
    if (!rc && !at_x) rc = fn->eval(fn->ctx, x, &f, g); /* leave the evaluator at x */
    free(w);
    return rc;
}
