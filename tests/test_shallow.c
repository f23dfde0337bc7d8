/* test_shallow.c: dln_shallow_solve (the closed-form optimum of min 1/2 ||R X - Y||^2 over
 * rank(R) <= k) against references computed independently of its SVD route:
 *   - least squares by LAPACKE_dgelsd, then the rank-k part as the Eckart-Young tail of
 *     the fitted values R_ls X, plus a feasible rank-k R built from them and re-fitted by
 *     dgelsd (an attained value, so the optimum cannot be below it);
 *   - the projection route through a QR (LAPACKE_dgeqrf) of a basis of the row space of
 *     X, known from how X was built (also the reference for sigma_k, sigma_{k+1});
 *   - for k = 1 on small problems, a dense scan over directions (dx = 2) and alternating
 *     least squares through the Gram matrix / Cholesky from many random starts;
 * over every shape class (dy > dx, dy < dx, m < dx, rank-deficient X, rank-deficient Y,
 * condition numbers 1e6 and 1e8), plus the compressed (C, M) identity for random R, the
 * reported ranks, tolerances, singular values and hypotheses flag, and k <= 0. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

typedef struct {
    int dx, dy, m;
    double *X, *Y;
    double *basis; /* (m, q) orthonormal basis of the row space of X, from the construction */
    int q;         /* rank of X by construction */
    int rank_y;    /* rank of Y by construction */
    double cond;   /* prescribed condition number of X, or 0 */
    uint64_t seed;
} sh_case;

#define SEED(c) (unsigned long long)(c)->seed

/* Y = T X + noise, T (dy, dx) with singular values 3, 3/2, 3/4, ... (a clear spectrum) */
static double *teacher_targets(dln_rng *g, const sh_case *c, double noise, int noise_perp)
{
    int n = c->dx < c->dy ? c->dx : c->dy;
    double t[64];
    cr_assert(n <= 64);
    for (int i = 0; i < n; i++) t[i] = 3.0 * pow(0.5, i) * (1.0 + 0.1 * dln_rng_uniform(g));
    double *T = ts_with_singular_values(g, c->dy, c->dx, t, NULL), *Y = ts_mul(0, 0, c->dy, c->m, c->dx, T, c->X);
    double *N = ts_randn(g, c->dy, c->m);
    if (noise_perp) { /* N - N Q Q^T: noise orthogonal to the row space of X */
        double *NQ = ts_mul(0, 0, c->dy, c->q, c->m, N, c->basis);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, c->dy, c->m, c->q, -1.0, NQ, c->dy, c->basis, c->m,
                    1.0, N, c->dy);
        free(NQ);
    }
    for (size_t e = 0; e < (size_t)c->dy * c->m; e++) Y[e] += noise * N[e];
    free(T), free(N);
    return Y;
}

static void case_init(sh_case *c, dln_rng *g, int dx, int dy, int m)
{
    memset(c, 0, sizeof *c);
    c->seed = ts_seed();
    dln_rng_seed(g, c->seed, 11);
    c->dx = dx, c->dy = dy, c->m = m;
}

/* Gaussian X; full rank min(dx, m); row space basis by QR of X^T (or all of R^m). */
static void make_generic(sh_case *c, int dx, int dy, int m, double noise)
{
    dln_rng g;
    case_init(c, &g, dx, dy, m);
    c->X = ts_randn(&g, dx, m);
    c->q = dx < m ? dx : m;
    if (m > dx) { /* QR of X^T */
        double *Xt = ts_transpose(dx, m, c->X);
        c->basis = ts_orth_columns(Xt, m, dx);
        free(Xt);
    } else {
        c->basis = calloc((size_t)m * m, sizeof(double));
        for (int i = 0; i < m; i++) c->basis[i + (size_t)i * m] = 1.0;
    }
    c->Y = teacher_targets(&g, c, noise, 0);
    c->rank_y = dy < m ? dy : m;
}

/* X = A B with A (dx, r), B (r, m): rank r, row space = range(B^T). */
static void make_rankdef_x(sh_case *c, int dx, int dy, int m, int r)
{
    dln_rng g;
    case_init(c, &g, dx, dy, m);
    double *A = ts_randn(&g, dx, r), *B = ts_randn(&g, r, m), *Bt = ts_transpose(r, m, B);
    c->X = ts_mul(0, 0, dx, m, r, A, B);
    c->basis = ts_orth_columns(Bt, m, r);
    c->q = r;
    c->Y = teacher_targets(&g, c, 0.3, 0);
    c->rank_y = dy < m ? dy : m;
    free(A), free(B), free(Bt);
}

/* Gaussian X (m > dx), Y = Ay By of rank ry < dy (not a function of X). */
static void make_rankdef_y(sh_case *c, int dx, int dy, int m, int ry)
{
    sh_case tmp;
    make_generic(&tmp, dx, dy, m, 0.0);
    *c = tmp;
    dln_rng g;
    dln_rng_seed(&g, c->seed, 12);
    free(c->Y);
    double *A = ts_randn(&g, dy, ry), *B = ts_randn(&g, ry, m);
    c->Y = ts_mul(0, 0, dy, m, ry, A, B);
    c->rank_y = ry;
    free(A), free(B);
}

/* X = U diag(s) V^T, s log-spaced from 1 to 1/cond, V (m, dx) orthonormal. Two targets:
 * noise_perp: Y = T X + noise orthogonal to the row space of X: the least-squares part
 *   dominates, and the optimal R stays of the size of T, so L* is a well-conditioned
 *   function of X (first-order change ~ eps ||T|| ||X|| ||noise||) whatever cond is;
 * in_rowspace: Y = B V^T with B (dy, dx) of singular values 3, 3/2, ..: every direction
 *   of X matters equally, L* = the tail of sigma(B) (large), lstsq = 0, and the first-order
 *   change of L* under a perturbation of X vanishes (the residual is orthogonal to R X).
 * With generic noise, rounding X can move the exact optimum by up to ~eps * cond relative,
 * which at cond 1e8 exceeds any 1e-9 bound; these targets keep the reference meaningful. */
static void make_illcond(sh_case *c, int dx, int dy, int m, double cond, int in_rowspace)
{
    dln_rng g;
    case_init(c, &g, dx, dy, m);
    double s[64];
    cr_assert(dx <= 64 && m > dx && dy <= dx);
    for (int i = 0; i < dx; i++) s[i] = pow(cond, -(double)i / (dx - 1));
    c->X = ts_with_singular_values(&g, dx, m, s, &c->basis);
    c->q = dx;
    c->cond = cond;
    if (in_rowspace) {
        for (int i = 0; i < dy; i++) s[i] = 3.0 * pow(0.5, i) * (1.0 + 0.1 * dln_rng_uniform(&g));
        double *B = ts_with_singular_values(&g, dy, dx, s, NULL);
        c->Y = ts_mul(0, 1, dy, m, dx, B, c->basis);
        free(B);
    } else {
        c->Y = teacher_targets(&g, c, 0.5, 1);
    }
    c->rank_y = dy < m ? dy : m;
}

static void case_free(sh_case *c) { free(c->X), free(c->Y), free(c->basis); }

/* ---- references ------------------------------------------------------------------- */

typedef struct {
    double y_half;
    double lstsq_ls, opt_ls, opt_feasible; /* dgelsd route */
    double lstsq_qr, opt_qr;               /* projection through the row-space basis */
    double *sm;                            /* singular values of Y Q (min(dy, q)) */
    int nm;
} sh_ref;

/* min_R ||R X - Y|| by dgelsd (rcond 1e-11: keeps condition numbers up to 1e11, drops
 * the rounding-level singular values of a product X = A B). Returns R (dy, dx). */
static double *gelsd_fit(int dx, int dy, int m, const double *X, const double *Y)
{
    int ld = m > dx ? m : dx;
    double *A = ts_transpose(dx, m, X), *B = calloc((size_t)ld * dy, sizeof(double));
    double *s = malloc(sizeof(double) * (size_t)(dx < m ? dx : m)), *R = malloc(sizeof(double) * (size_t)dy * dx);
    lapack_int rank;
    for (int i = 0; i < dy; i++)
        for (int j = 0; j < m; j++) B[j + (size_t)i * ld] = Y[i + (size_t)j * dy];
    cr_assert_eq(LAPACKE_dgelsd(LAPACK_COL_MAJOR, m, dx, dy, A, m, B, ld, s, 1e-11, &rank), 0);
    for (int i = 0; i < dy; i++)
        for (int j = 0; j < dx; j++) R[i + (size_t)j * dy] = B[j + (size_t)i * ld];
    free(A), free(B), free(s);
    return R;
}

static double half_residual(const sh_case *c, const double *R)
{
    double *P = ts_mul(0, 0, c->dy, c->m, c->dx, R, c->X);
    for (size_t e = 0; e < (size_t)c->dy * c->m; e++) P[e] -= c->Y[e];
    double v = 0.5 * ts_sumsq(P, (size_t)c->dy * c->m);
    free(P);
    return v;
}

static double half_tail(const double *s, int n, int k)
{
    double t = 0.0;
    for (int i = n - 1; i >= k; i--) t += s[i] * s[i];
    return 0.5 * t;
}

static void reference(const sh_case *c, int k, sh_ref *r)
{
    int dx = c->dx, dy = c->dy, m = c->m;
    r->y_half = 0.5 * ts_sumsq(c->Y, (size_t)dy * m);
    // dgelsd route: R_ls, F = R_ls X (fitted values), L* = lstsq + tail of sv(F)
    double *Rls = gelsd_fit(dx, dy, m, c->X, c->Y);
    r->lstsq_ls = half_residual(c, Rls);
    double *F = ts_mul(0, 0, dy, m, dx, Rls, c->X);
    int nf = dy < m ? dy : m;
    double *sf = malloc(sizeof(double) * (size_t)nf), *U = malloc(sizeof(double) * (size_t)dy * nf);
    double *VT = malloc(sizeof(double) * (size_t)nf * m), *sup = malloc(sizeof(double) * (size_t)nf);
    double *Fc = ts_copy(F, (size_t)dy * m);
    cr_assert_eq(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', dy, m, Fc, dy, sf, U, dy, VT, nf, sup), 0);
    r->opt_ls = r->lstsq_ls + half_tail(sf, nf, k);
    // a feasible rank-k R: fit [F]_k = U_k S_k V_k^T by least squares (R = [F]_k X^+)
    memset(Fc, 0, sizeof(double) * (size_t)dy * m);
    for (int j = 0; j < k && j < nf; j++)
        cblas_dger(CblasColMajor, dy, m, sf[j], U + (size_t)j * dy, 1, VT + j, nf, Fc, dy);
    double *Rk = gelsd_fit(dx, dy, m, c->X, Fc);
    r->opt_feasible = half_residual(c, Rk);
    // projection route: M = Y Q, residual Y - M Q^T, tail of sv(M)
    double *M = ts_mul(0, 0, dy, c->q, m, c->Y, c->basis), *P = ts_copy(c->Y, (size_t)dy * m);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, dy, m, c->q, -1.0, M, dy, c->basis, m, 1.0, P, dy);
    r->lstsq_qr = 0.5 * ts_sumsq(P, (size_t)dy * m);
    r->nm = dy < c->q ? dy : c->q;
    r->sm = ts_singular_values(dy, c->q, M);
    r->opt_qr = r->lstsq_qr + half_tail(r->sm, r->nm, k);
    free(Rls), free(F), free(sf), free(U), free(VT), free(sup), free(Fc), free(Rk), free(M), free(P);
}

static dln_shallow solve(const sh_case *c, int k, int keep)
{
    dln_error err;
    dln_backend *be = ts_cpu(&err);
    dln_data d = ts_data(c->dx, c->dy, c->m, c->X, c->Y);
    dln_shallow sh;
    cr_assert_eq(dln_shallow_solve(be, &d, k, 0.0, keep, &sh, &err), DLN_OK, "%s (seed %llu)", err.msg, SEED(c));
    dln_backend_destroy(be);
    return sh;
}

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

Test(shallow, more_outputs_than_inputs)
{
    sh_case c;
    make_generic(&c, 5, 9, 40, 0.3);
    check_case(&c, 2, "dy > dx");
    check_case(&c, 4, "dy > dx, k = dx - 1");
    case_free(&c);
}

Test(shallow, fewer_outputs_than_inputs)
{
    sh_case c;
    make_generic(&c, 10, 4, 50, 0.3);
    check_case(&c, 1, "dy < dx, k = 1");
    check_case(&c, 3, "dy < dx, k = 3");
    case_free(&c);
}

Test(shallow, fewer_samples_than_inputs)
{
    sh_case c;
    make_generic(&c, 12, 7, 6, 0.3); /* wide X: rank_x = m, outside the theorem */
    check_case(&c, 2, "m < dx");
    case_free(&c);
}

Test(shallow, rank_deficient_x)
{
    sh_case c;
    make_rankdef_x(&c, 9, 7, 30, 4);
    check_case(&c, 2, "rank(X) = 4 < dx");
    check_case(&c, 5, "rank(X) = 4 < k = 5");
    case_free(&c);
}

Test(shallow, rank_deficient_y)
{
    sh_case c;
    make_rankdef_y(&c, 6, 8, 35, 3);
    check_case(&c, 2, "rank(Y) = 3 < dy");
    case_free(&c);
}

static void check_illcond(double cond)
{
    sh_case c;
    /* sigma_i(Y P_X) has first-order sensitivity ~ ||noise|| / sigma_min(X) to the rounding
     * of X, so with noise the singular values agree only to ~eps * cond (observed ~1e-3 of
     * that); in the row space they agree to rounding level again. */
    make_illcond(&c, 8, 6, 40, cond, 0);
    check_case_opts(&c, 3, cond > 1e7 ? "cond(X) = 1e8, noise" : "cond(X) = 1e6, noise",
                    (check_opts){1e-12 + 1e-15 * cond, 0});
    case_free(&c);
    /* dgelsd's R_ls = B S^-1 U^T is ~cond large, so R_ls X carries errors ~eps * cond:
     * the reference is the projection route only */
    make_illcond(&c, 8, 6, 40, cond, 1);
    check_case_opts(&c, 3, cond > 1e7 ? "cond(X) = 1e8, row space" : "cond(X) = 1e6, row space",
                    (check_opts){1e-12, 1});
    /* an explicit rtol: the rank counts the prescribed s_i = cond^(-i/7) above rtol * s_1 */
    dln_error err;
    dln_backend *be = ts_cpu(&err);
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
    case_free(&c);
}

Test(shallow, ill_conditioned_x_1e6) { check_illcond(1e6); }

Test(shallow, ill_conditioned_x_1e8) { check_illcond(1e8); }

/* ---- k = 1 by brute force ------------------------------------------------------------ */

/* 1/2 ||a z^T - Y||^2 with z = X^T b and the best a = Y z / |z|^2, as a residual. */
static double rank1_value(const sh_case *c, const double *b)
{
    double z[64], a[64];
    cr_assert(c->m <= 64 && c->dy <= 64);
    cblas_dgemv(CblasColMajor, CblasTrans, c->dx, c->m, 1.0, c->X, c->dx, b, 1, 0.0, z, 1);
    double zz = cblas_ddot(c->m, z, 1, z, 1);
    cblas_dgemv(CblasColMajor, CblasNoTrans, c->dy, c->m, 1.0 / zz, c->Y, c->dy, z, 1, 0.0, a, 1);
    double v = 0.0;
    for (int j = 0; j < c->m; j++)
        for (int i = 0; i < c->dy; i++) {
            double e = a[i] * z[j] - c->Y[i + (size_t)j * c->dy];
            v += e * e;
        }
    return 0.5 * v;
}

/* dx = 2: b = (cos t, sin t) scanned densely over [0, pi), then golden section. */
static double rank1_scan(const sh_case *c)
{
    int n = 4096;
    double best = INFINITY, tb = 0.0, h = M_PI / n;
    for (int i = 0; i < n; i++) {
        double t = i * h, b[2] = {cos(t), sin(t)}, v = rank1_value(c, b);
        if (v < best) best = v, tb = t;
    }
    double lo = tb - h, hi = tb + h, gr = 0.5 * (sqrt(5.0) - 1.0);
    for (int it = 0; it < 80; it++) {
        double t1 = hi - gr * (hi - lo), t2 = lo + gr * (hi - lo);
        double b1[2] = {cos(t1), sin(t1)}, b2[2] = {cos(t2), sin(t2)};
        if (rank1_value(c, b1) < rank1_value(c, b2))
            hi = t2;
        else
            lo = t1;
    }
    double t = 0.5 * (lo + hi), b[2] = {cos(t), sin(t)}, v = rank1_value(c, b);
    return v < best ? v : best;
}

/* Alternating least squares for R = a b^T: a = Y z / |z|^2, then the normal equations
 * (X X^T) b = X Y^T a / |a|^2 by Cholesky (LAPACKE_dposv), from many random starts. */
static double rank1_als(const sh_case *c, dln_rng *g, int starts)
{
    int dx = c->dx, dy = c->dy, m = c->m;
    double *G = ts_mul(0, 1, dx, dx, m, c->X, c->X), *XYt = ts_mul(0, 1, dx, dy, m, c->X, c->Y);
    double best = INFINITY;
    for (int s = 0; s < starts; s++) {
        double b[64], z[64], a[64], prev = INFINITY;
        for (int i = 0; i < dx; i++) b[i] = dln_rng_normal(g);
        for (int it = 0; it < 5000; it++) {
            cblas_dgemv(CblasColMajor, CblasTrans, dx, m, 1.0, c->X, dx, b, 1, 0.0, z, 1);
            double zz = cblas_ddot(m, z, 1, z, 1);
            cblas_dgemv(CblasColMajor, CblasNoTrans, dy, m, 1.0 / zz, c->Y, dy, z, 1, 0.0, a, 1);
            double aa = cblas_ddot(dy, a, 1, a, 1), Gc[64 * 64];
            memcpy(Gc, G, sizeof(double) * (size_t)dx * dx);
            cblas_dgemv(CblasColMajor, CblasNoTrans, dx, dy, 1.0 / aa, XYt, dx, a, 1, 0.0, b, 1);
            cr_assert_eq(LAPACKE_dposv(LAPACK_COL_MAJOR, 'U', dx, 1, Gc, dx, b, dx), 0);
            if (it % 10 == 9) {
                double v = rank1_value(c, b);
                if (!(v < prev * (1.0 - 1e-15))) break;
                prev = v;
            }
        }
        double v = rank1_value(c, b);
        if (v < best) best = v;
    }
    free(G), free(XYt);
    return best;
}

static double solve_optimum(const sh_case *c, int k)
{
    dln_shallow sh = solve(c, k, 0);
    double v = sh.optimum;
    dln_shallow_free(&sh);
    return v;
}

Test(shallow, rank1_against_dense_scan)
{
    sh_case c;
    make_generic(&c, 2, 3, 7, 0.3);
    double scan = rank1_scan(&c), opt = solve_optimum(&c, 1);
    /* the scan + golden section locates the minimiser to ~1e-12 in angle; the value is
     * quadratic there, so it matches to rounding: 1e-9 */
    cr_expect_lt(ts_rel(opt, scan), 1e-9, "k=1, dx=2: L* %.17g vs scan %.17g (seed %llu)", opt, scan, SEED(&c));
    case_free(&c);
}

Test(shallow, rank1_against_alternating_least_squares)
{
    int sizes[][3] = {{3, 4, 8}, {4, 3, 10}, {5, 5, 12}};
    for (int t = 0; t < 3; t++) {
        sh_case c;
        make_generic(&c, sizes[t][0], sizes[t][1], sizes[t][2], 0.3);
        dln_rng g;
        dln_rng_seed(&g, c.seed, 5);
        double als = rank1_als(&c, &g, 30), opt = solve_optimum(&c, 1);
        /* ALS decreases monotonically to a stationary value; run to a relative change
         * below 1e-15, the best of 30 starts is the global minimum to ~1e-12 */
        cr_expect_lt(ts_rel(opt, als), 1e-9, "k=1, %dx%d m=%d: L* %.17g vs ALS %.17g (seed %llu)", c.dx, c.dy, c.m,
                     opt, als, SEED(&c));
        case_free(&c);
    }
}

/* ---- no active constraint ------------------------------------------------------------- */

static void check_unconstrained(int dx, int dy, int m)
{
    sh_case c;
    make_generic(&c, dx, dy, m, 0.4);
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
    case_free(&c);
}

Test(shallow, k_at_least_min_dims_or_nonpositive_is_least_squares)
{
    check_unconstrained(5, 9, 30);
    check_unconstrained(9, 4, 30);
    check_unconstrained(1, 4, 10); /* vectors: k = 1 is the only rank */
    check_unconstrained(6, 1, 15);
}
