/* shallow_cases.c: the shallow-solver tests' problems and references; see shallow_cases.h. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shallow_cases.h"

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

static void case_init(sh_case *c, dln_backend_kind kind, dln_rng *g, int dx, int dy, int m)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->seed = ts_seed();
    dln_rng_seed(g, c->seed, 11);
    c->dx = dx, c->dy = dy, c->m = m;
}

/* Gaussian X; full rank min(dx, m); row space basis by QR of X^T (or all of R^m). */
void make_generic(sh_case *c, dln_backend_kind kind, int dx, int dy, int m, double noise)
{
    dln_rng g;
    case_init(c, kind, &g, dx, dy, m);
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
void make_rankdef_x(sh_case *c, dln_backend_kind kind, int dx, int dy, int m, int r)
{
    dln_rng g;
    case_init(c, kind, &g, dx, dy, m);
    double *A = ts_randn(&g, dx, r), *B = ts_randn(&g, r, m), *Bt = ts_transpose(r, m, B);
    c->X = ts_mul(0, 0, dx, m, r, A, B);
    c->basis = ts_orth_columns(Bt, m, r);
    c->q = r;
    c->Y = teacher_targets(&g, c, 0.3, 0);
    c->rank_y = dy < m ? dy : m;
    free(A), free(B), free(Bt);
}

/* Gaussian X (m > dx), Y = Ay By of rank ry < dy (not a function of X). */
void make_rankdef_y(sh_case *c, dln_backend_kind kind, int dx, int dy, int m, int ry)
{
    sh_case tmp;
    make_generic(&tmp, kind, dx, dy, m, 0.0);
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
void make_illcond(sh_case *c, dln_backend_kind kind, int dx, int dy, int m, double cond, int in_rowspace)
{
    dln_rng g;
    case_init(c, kind, &g, dx, dy, m);
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

void sh_case_free(sh_case *c) { free(c->X), free(c->Y), free(c->basis); }

/* ---- references ------------------------------------------------------------------- */

/* min_R ||R X - Y|| by dgelsd (rcond 1e-11: keeps condition numbers up to 1e11, drops
 * the rounding-level singular values of a product X = A B). Returns R (dy, dx). */
double *gelsd_fit(int dx, int dy, int m, const double *X, const double *Y)
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

double half_residual(const sh_case *c, const double *R)
{
    double *P = ts_mul(0, 0, c->dy, c->m, c->dx, R, c->X);
    for (size_t e = 0; e < (size_t)c->dy * c->m; e++) P[e] -= c->Y[e];
    double v = 0.5 * ts_sumsq(P, (size_t)c->dy * c->m);
    free(P);
    return v;
}

double half_tail(const double *s, int n, int k)
{
    double t = 0.0;
    for (int i = n - 1; i >= k; i--) t += s[i] * s[i];
    return 0.5 * t;
}

void reference(const sh_case *c, int k, sh_ref *r)
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

dln_shallow solve_route(const sh_case *c, int k, int keep, dln_solver_route route, int block_rows)
{
    dln_error err;
    dln_backend *be = ts_backend(c->kind, &err);
    dln_data d = ts_data(c->dx, c->dy, c->m, c->X, c->Y);
    dln_shallow_opts o;
    dln_shallow_opts_default(&o);
    o.k = k;
    o.keep_compressed = keep;
    o.route = route;
    o.block_rows = block_rows;
    dln_shallow sh;
    cr_assert_eq(dln_shallow_solve_opts(be, &d, &o, &sh, &err), DLN_OK, "%s, route %s: %s (seed %llu)",
                 ts_backend_label(c->kind), dln_solver_route_name(route), err.msg, SEED(c));
    dln_solver_route want = route != DLN_SOLVER_AUTO ? route : c->m >= c->dx ? DLN_SOLVER_QR : DLN_SOLVER_SVD;
    cr_assert_eq(sh.route, want, "route %s ran as %s", dln_solver_route_name(route),
                 dln_solver_route_name(sh.route));
    dln_backend_destroy(be);
    return sh;
}

dln_shallow solve(const sh_case *c, int k, int keep) { return solve_route(c, k, keep, c->route, c->block_rows); }

const sh_route sh_routes[SH_ROUTES] = {
    {"svd route", DLN_SOLVER_SVD, 0},
    {"qr route", DLN_SOLVER_QR, 0},
    {"qr route in blocks of 7 rows", DLN_SOLVER_QR, 7},
};

int sh_use_route(sh_case *c, int i)
{
    c->route = sh_routes[i].route;
    c->block_rows = sh_routes[i].block_rows;
    return c->route != DLN_SOLVER_QR || c->m >= c->dx;
}
