/* test_shallow.c: dln_shallow_solve (the closed-form optimum of min 1/2 ||R X - Y||^2 over
 * rank(R) <= k), on every backend, against references computed independently of its SVD
 * route (tests/shallow_cases.c):
 *   - least squares by LAPACKE_dgelsd, then the rank-k part as the Eckart-Young tail of
 *     the fitted values R_ls X, plus a feasible rank-k R built from them and re-fitted by
 *     dgelsd (an attained value, so the optimum cannot be below it);
 *   - the projection route through a QR (LAPACKE_dgeqrf) of a basis of the row space of
 *     X, known from how X was built (also the reference for sigma_k, sigma_{k+1});
 * over every shape class (dy > dx, dy < dx, m < dx, rank-deficient X, also wide,
 * rank-deficient Y, condition numbers 1e6 and 1e8), plus the compressed (C, M) identity
 * for random R, the reported ranks, tolerances, singular values and hypotheses flag, and
 * k <= 0. Every check runs by every route of sh_routes (the SVD route, the QR route in one
 * block and in blocks of 7 rows). The k = 1 brute-force checks are in
 * test_shallow_rank1.c; the routes against each other in test_shallow_routes.c. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "shallow_cases.h"

/* The full set of checks for one problem and one k (1 <= k < min(dx, dy)). */
typedef struct {
    double sm_tol; /* bound on |sigma_i(M) - reference| / sigma_1(M) */
    int no_ls;     /* skip the dgelsd route (inaccurate when the optimal R is huge) */
} check_opts;

static void check_case_opts(const sh_case *c, int k, const char *what, check_opts o)
{
    sh_ref r;
    reference(c, k, &r);
    dln_shallow sh = solve(c, k, 1);
    int dx = c->dx, dy = c->dy, m = c->m;
    /* 1e-9 relative (to 1/2||Y||^2 for values that may be ~0, as in rel_gap): the routes
     * are backward stable and these problems well conditioned, so they agree to ~1e-13;
     * a wrong projection, rank or tail is off by O(sigma^2). */
    double tol = 1e-9;
    cr_expect_eq(sh.k, k, "%s: k", what);
    cr_expect_eq(sh.rank_x, c->q, "%s: rank_x %d, expected %d (seed %llu)", what, sh.rank_x, c->q, SEED(c));
    cr_expect_eq(sh.r, c->q, "%s: r", what);
    cr_expect_eq(sh.rank_y, c->rank_y, "%s: rank_y %d, expected %d (seed %llu)", what, sh.rank_y, c->rank_y,
                 SEED(c));
    cr_expect_gt(sh.tol_x, 0.0, "%s: tol_x", what);
    cr_expect_gt(sh.tol_y, 0.0, "%s: tol_y", what);
    /* tol_y = max(dy, m) eps sigma_1(Y): sigma_1(Y) against LAPACK on the host */
    double *sy = ts_singular_values(dy, m, c->Y), want_y = (dy > m ? dy : m) * DBL_EPSILON * sy[0];
    cr_expect_lt(ts_rel(sh.tol_y, want_y), 1e-13, "%s: tol_y %.17g vs %.17g (seed %llu)", what, sh.tol_y, want_y,
                 SEED(c));
    free(sy);
    cr_expect_eq(sh.hypotheses, c->q == dx && c->rank_y == dy, "%s: hypotheses flag %d (seed %llu)", what,
                 sh.hypotheses, SEED(c));
    cr_expect_lt(ts_rel(sh.y_half, r.y_half), 1e-13, "%s: y_half", what);
    double tol_ls = o.no_ls ? INFINITY : tol;
    cr_expect_lt(fabs(sh.lstsq - r.lstsq_ls) / r.y_half, tol_ls, "%s: lstsq %.17g vs dgelsd %.17g (seed %llu)",
                 what, sh.lstsq, r.lstsq_ls, SEED(c));
    cr_expect_lt(fabs(sh.lstsq - r.lstsq_qr) / r.y_half, tol, "%s: lstsq %.17g vs QR %.17g (seed %llu)", what,
                 sh.lstsq, r.lstsq_qr, SEED(c));
    cr_expect_lt(ts_rel(sh.optimum, r.opt_ls), tol_ls, "%s: L* %.17g vs dgelsd route %.17g (seed %llu)", what,
                 sh.optimum, r.opt_ls, SEED(c));
    cr_expect_lt(ts_rel(sh.optimum, r.opt_qr), tol, "%s: L* %.17g vs QR route %.17g (seed %llu)", what, sh.optimum,
                 r.opt_qr, SEED(c));
    cr_expect_lt(ts_rel(sh.optimum, r.opt_feasible), tol_ls,
                 "%s: L* %.17g vs attained by a rank-%d R %.17g "
                 "(seed %llu)",
                 what, sh.optimum, k, r.opt_feasible, SEED(c));
    cr_expect_lt(ts_rel(sh.optimum, sh.lstsq + sh.tail), 1e-15, "%s: optimum = lstsq + tail", what);
    // the rank path: L*_j for every j against the projection route's, L*_k itself exactly
    cr_expect_eq(sh.n_ranks, r.nm + 1, "%s: %d ranks on the path, expected %d", what, sh.n_ranks, r.nm + 1);
    cr_expect_eq(sh.optimum_by_rank[k < sh.n_ranks ? k : sh.n_ranks - 1], sh.optimum, "%s: L*_k is the optimum", what);
    for (int j = 0; j < sh.n_ranks && j <= r.nm; j++) {
        double want = r.lstsq_qr + half_tail(r.sm, r.nm, j);
        cr_expect_lt(fabs(sh.optimum_by_rank[j] - want) / r.y_half, tol, "%s: L*_%d %.17g vs %.17g (seed %llu)", what, j,
                     sh.optimum_by_rank[j], want, SEED(c));
        if (j > 0) cr_expect_leq(sh.optimum_by_rank[j], sh.optimum_by_rank[j - 1], "%s: the path decreases", what);
    }
    cr_expect_geq(sh.tail, 0.0, "%s: tail", what);
    // (d) sigma_k, sigma_{k+1} and all of sm against sv(Y Q); sx against sv(X)
    double s1 = r.sm[0], ref_k = k <= r.nm ? r.sm[k - 1] : 0.0;
    cr_expect_lt(fabs(sh.sigma_k - ref_k) / s1, o.sm_tol, "%s: sigma_k %.17g vs %.17g (seed %llu)", what,
                 sh.sigma_k, ref_k, SEED(c));
    double ref_k1 = k < r.nm ? r.sm[k] : 0.0;
    cr_expect_lt(fabs(sh.sigma_k1 - ref_k1) / s1, o.sm_tol, "%s: sigma_k1 %.17g vs %.17g (seed %llu)", what,
                 sh.sigma_k1, ref_k1, SEED(c));
    for (int i = 0; i < r.nm; i++)
        cr_expect_lt(fabs(sh.sm[i] - r.sm[i]) / s1, o.sm_tol, "%s: sm[%d] (seed %llu)", what, i, SEED(c));
    cr_expect_eq(sh.constrained, k < r.nm && r.sm[k] > 1e-10 * s1, "%s: constrained flag", what);
    int nx = dx < m ? dx : m;
    double *sx = ts_singular_values(dx, m, c->X);
    for (int i = 0; i < nx; i++)
        cr_expect_lt(fabs(sh.sx[i] - sx[i]) / sx[0], 1e-12, "%s: sx[%d] (seed %llu)", what, i, SEED(c));
    if (c->cond > 0) /* sigma_r(X) carries an absolute error ~eps sigma_1: relative eps * cond */
        cr_expect_lt(ts_rel(sh.cond_x, c->cond), 1e-15 * c->cond + 1e-12, "%s: cond_x %.17g (seed %llu)", what,
                     sh.cond_x, SEED(c));
    // (e) 1/2||R X - Y||^2 = 1/2||R C - M||^2 + lstsq for random R (any rank)
    cr_assert_not_null(sh.C);
    cr_assert_not_null(sh.M);
    dln_rng g;
    dln_rng_seed(&g, c->seed, 99);
    for (int trial = 0; trial < 3; trial++) {
        double *R = ts_randn(&g, dy, dx);
        double full = half_residual(c, R);
        double *P = ts_mul(0, 0, dy, sh.r, dx, R, sh.C);
        for (size_t e = 0; e < (size_t)dy * sh.r; e++) P[e] -= sh.M[e];
        double comp = 0.5 * ts_sumsq(P, (size_t)dy * sh.r) + sh.lstsq;
        /* both sides are sums of O(||R X||^2) terms: rounding ~1e-15 relative */
        cr_expect_lt(ts_rel(comp, full), 1e-10, "%s: compressed %.17g vs full %.17g (seed %llu)", what, comp, full,
                     SEED(c));
        free(R), free(P);
    }
    free(sx), free(r.sm);
    dln_shallow_free(&sh);
}

static void check_case(const sh_case *c, int k, const char *what)
{
    /* singular values move by at most the rounding of M, ~eps ||Y||: 1e-12 of sigma_1 */
    check_case_opts(c, k, what, (check_opts){1e-12, 0});
}

/* The shape classes: how X and Y are built, and the rank bounds checked on each. */
typedef enum { GENERIC, RANKDEF_X, RANKDEF_Y } shape_kind;
typedef struct {
    const char *what;
    shape_kind kind;
    int dx, dy, m, rank; /* rank: of X (RANKDEF_X) or of Y (RANKDEF_Y) */
    int k[2];            /* rank bounds checked (0: none) */
} shape_class;

static const shape_class shape_classes[] = {
    {"dy > dx", GENERIC, 5, 9, 40, 0, {2, 4}},
    {"dy < dx", GENERIC, 10, 4, 50, 0, {1, 3}},
    {"m < dx (wide X: rank_x = m, outside the theorem)", GENERIC, 12, 7, 6, 0, {2, 0}},
    {"rank(X) = 4 < dx, k below and above it", RANKDEF_X, 9, 7, 30, 4, {2, 5}},
    {"wide X of rank 2 (the transposed factorisation)", RANKDEF_X, 30, 3, 12, 2, {1, 0}},
    {"rank(Y) = 3 < dy", RANKDEF_Y, 6, 8, 35, 3, {2, 0}},
};
#define N_SHAPES (sizeof shape_classes / sizeof shape_classes[0])

typedef struct {
    int backend; /* index into ts_backend_kinds */
    int shape;   /* index into shape_classes */
    int route;   /* index into sh_routes */
} shape_param;

ParameterizedTestParameters(shallow, every_shape_class)
{
    static shape_param params[TS_BACKENDS * N_SHAPES * SH_ROUTES];
    size_t n = 0;
    for (int b = 0; b < TS_BACKENDS; b++)
        for (size_t k = 0; k < N_SHAPES; k++)
            for (int r = 0; r < SH_ROUTES; r++) params[n++] = (shape_param){b, (int)k, r};
    return cr_make_param_array(shape_param, params, n);
}

/* The QR route factors X^T: with m < dx it is refused, naming the SVD route. */
static void check_qr_refused(const sh_case *c)
{
    dln_error err;
    dln_backend *be = ts_backend(c->kind, &err);
    dln_data d = ts_data(c->dx, c->dy, c->m, c->X, c->Y);
    dln_shallow_opts o;
    dln_shallow_opts_default(&o);
    o.route = DLN_SOLVER_QR;
    dln_shallow sh;
    cr_expect_eq(dln_shallow_solve_opts(be, &d, &o, &sh, &err), DLN_EINPUT, "QR route with m %d < dx %d", c->m, c->dx);
    cr_expect(ts_says(err.msg, "SVD route"), "the refusal names the SVD route: %s", err.msg);
    cr_expect_null(sh.sx, "nothing returned");
    dln_backend_destroy(be);
}

/* R* = dln_shallow_solution attains L* and has rank <= k. */
static void check_solution(const sh_case *c, int k, const char *what)
{
    dln_shallow sh = solve(c, k, 1);
    double *R = malloc(sizeof(double) * (size_t)c->dy * c->dx);
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_shallow_solution(&sh, sh.k, R, &err), DLN_OK, "%s: %s", what, err.msg);
    double L = half_residual(c, R), *sv = ts_singular_values(c->dy, c->dx, R);
    /* a residual of a backward-stable construction on well-conditioned data: 1e-9 of ||Y||^2 */
    cr_expect_lt(fabs(L - sh.optimum) / sh.y_half, 1e-9, "%s: 1/2 ||R* X - Y||^2 %.17g vs L* %.17g (seed %llu)", what,
                 L, sh.optimum, SEED(c));
    int n = c->dy < c->dx ? c->dy : c->dx;
    for (int i = sh.k; i < n; i++)
        cr_expect_lt(sv[i], 1e-12 * sv[0], "%s: sigma_%d(R*) = %.3e > 0 beyond rank %d", what, i + 1, sv[i], sh.k);
    free(R), free(sv);
    dln_shallow_free(&sh);
}

ParameterizedTest(shape_param *p, shallow, every_shape_class)
{
    const shape_class *sc = &shape_classes[p->shape];
    dln_backend_kind kind = ts_backend_kinds[p->backend];
    sh_case c;
    if (sc->kind == GENERIC) make_generic(&c, kind, sc->dx, sc->dy, sc->m, 0.3);
    else if (sc->kind == RANKDEF_X) make_rankdef_x(&c, kind, sc->dx, sc->dy, sc->m, sc->rank);
    else make_rankdef_y(&c, kind, sc->dx, sc->dy, sc->m, sc->rank);
    if (!sh_use_route(&c, p->route)) {
        check_qr_refused(&c);
        sh_case_free(&c);
        return;
    }
    for (int i = 0; i < 2 && sc->k[i] > 0; i++) {
        char what[160];
        snprintf(what, sizeof what, "%s, %s: %s, k = %d", ts_backend_label(kind), sh_routes[p->route].name, sc->what,
                 sc->k[i]);
        check_case(&c, sc->k[i], what);
        check_solution(&c, sc->k[i], what);
    }
    sh_case_free(&c);
}

static void check_illcond(dln_backend_kind kind, double cond)
{
    sh_case c;
    char what[128];
    for (int rt = 0; rt < SH_ROUTES; rt++) {
        /* sigma_i(Y P_X) has first-order sensitivity ~ ||noise|| / sigma_min(X) to the rounding
         * of X, so with noise the singular values agree only to ~eps * cond (observed ~1e-3 of
         * that); in the row space they agree to rounding level again. */
        make_illcond(&c, kind, 8, 6, 40, cond, 0);
        sh_use_route(&c, rt);
        snprintf(what, sizeof what, "%s: cond(X) = %.0e, noise", sh_routes[rt].name, cond);
        check_case_opts(&c, 3, what, (check_opts){1e-12 + 1e-15 * cond, 0});
        sh_case_free(&c);
        /* dgelsd's R_ls = B S^-1 U^T is ~cond large, so R_ls X carries errors ~eps * cond:
         * the reference is the projection route only */
        make_illcond(&c, kind, 8, 6, 40, cond, 1);
        sh_use_route(&c, rt);
        snprintf(what, sizeof what, "%s: cond(X) = %.0e, row space", sh_routes[rt].name, cond);
        check_case_opts(&c, 3, what, (check_opts){1e-12, 1});
        if (rt < SH_ROUTES - 1) sh_case_free(&c);
    }
    /* an explicit rtol: the rank counts the prescribed s_i = cond^(-i/7) above rtol * s_1 */
    dln_error err;
    dln_backend *be = ts_backend(kind, &err);
    dln_data d = ts_data(c.dx, c.dy, c.m, c.X, c.Y);
    dln_shallow sh;
    double rtol = 1e-3 / sqrt(cond) * 10.0; /* between prescribed values, far from any */
    int expect = 0;
    for (int i = 0; i < c.dx; i++) expect += pow(cond, -(double)i / (c.dx - 1)) > rtol;
    cr_assert_eq(dln_shallow_solve(be, &d, 2, rtol, 0, &sh, &err), DLN_OK, "%s", err.msg);
    cr_expect_eq(sh.rank_x, expect, "rtol %g: rank_x %d, expected %d (seed %llu)", rtol, sh.rank_x, expect,
                 SEED(&c));
    cr_expect_lt(ts_rel(sh.tol_x, rtol * sh.sx[0]), 1e-15, "tol_x = rtol * sigma_1(X)");
    cr_expect_eq(sh.hypotheses, 0, "X truncated to rank %d < dx is outside the theorem", sh.rank_x);
    cr_expect_null(sh.C, "keep_compressed = 0 returns no C");
    dln_shallow_free(&sh);
    dln_backend_destroy(be);
    sh_case_free(&c);
}

TestOnBackends(shallow, ill_conditioned_x_1e6) { check_illcond(TS_KIND, 1e6); }

TestOnBackends(shallow, ill_conditioned_x_1e8) { check_illcond(TS_KIND, 1e8); }

/* ---- no active constraint ------------------------------------------------------------- */

static void check_unconstrained(dln_backend_kind kind, int dx, int dy, int m, int route)
{
    sh_case c;
    make_generic(&c, kind, dx, dy, m, 0.4);
    sh_use_route(&c, route);
    int mn = dx < dy ? dx : dy;
    double *R = gelsd_fit(dx, dy, m, c.X, c.Y);
    double ls = half_residual(&c, R);
    int ks[] = {mn, mn + 3, 1000, 0, -2};
    for (int i = 0; i < 5; i++) {
        dln_shallow sh = solve(&c, ks[i], 0);
        /* both are residuals of backward-stable least-squares solvers on well-conditioned
         * Gaussian X: agreement to ~1e-15, bound 1e-10 */
        cr_expect_lt(ts_rel(sh.optimum, ls), 1e-10, "%dx%d k=%d: L* %.17g vs dgelsd %.17g (seed %llu)", dx, dy,
                     ks[i], sh.optimum, ls, SEED(&c));
        cr_expect_lt(ts_rel(sh.lstsq, ls), 1e-10, "%dx%d k=%d: lstsq (seed %llu)", dx, dy, ks[i], SEED(&c));
        cr_expect_eq(sh.optimum, sh.lstsq, "k=%d: optimum == lstsq", ks[i]);
        cr_expect_eq(sh.tail, 0.0, "k=%d: no tail", ks[i]);
        cr_expect_eq(sh.k, mn, "k=%d requested: k used %d, expected min(dx, dy) = %d", ks[i], sh.k, mn);
        cr_expect_eq(sh.constrained, 0, "k=%d: not constrained", ks[i]);
        cr_expect_eq(sh.sigma_k1, 0.0, "k=%d: no sigma_{k+1}", ks[i]);
        cr_expect_eq(sh.hypotheses, 1, "full row rank X and Y");
        dln_shallow_free(&sh);
    }
    free(R);
    sh_case_free(&c);
}

TestOnBackends(shallow, k_at_least_min_dims_or_nonpositive_is_least_squares)
{
    for (int rt = 0; rt < SH_ROUTES; rt++) {
        check_unconstrained(TS_KIND, 5, 9, 30, rt);
        check_unconstrained(TS_KIND, 9, 4, 30, rt);
        check_unconstrained(TS_KIND, 1, 4, 10, rt); /* vectors: k = 1 is the only rank */
        check_unconstrained(TS_KIND, 6, 1, 15, rt);
    }
}
