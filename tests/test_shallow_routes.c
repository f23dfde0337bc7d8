/* test_shallow_routes.c: the QR route of the shallow solver against the SVD route, on every
 * shape class and backend, the QR route in one block, in blocks of 7 rows and of 1 row (a
 * fold of E per sample). The two routes share no factorisation: one takes a thin SVD of
 * X^T (m, dx) and forms U_r, the other a Householder QR of X^T in blocks and the SVD of its
 * (dx, dx) triangle. Compared, with tolerances:
 *   - ranks, k, the flags: equal;
 *   - L*, lstsq, the tail and every L*_j of the rank path: 1e-10 relative to the value,
 *     plus what rounding X alone can move them by, whatever the route (first-order bounds):
 *     (eps cond)^2 1/2||Y||^2, since rounding X tilts its row space by angles up to eps cond
 *     (the residual of a target inside the row space of an X of condition 1e8 is itself
 *     ~(eps cond)^2 ||Y||^2 of rounding), and eps r sigma_1(M) ||P|| for the tail, since a
 *     direction u_i of X tilts by ~eps / s_i, moving M's column of size ~s_i by ~eps / s_i
 *     times the residual P. Measured against long double (a Householder QR of the same
 *     floating-point X^T, 10 and 30 problems), with cond 1e8 both
 *     routes miss lstsq by up to 1.1e-17 of 1/2||Y||^2 (blocks of 1 row: 4.9e-17; the floor
 *     is 4.8e-16 of it) and, with noise, the tail by 4.5e-16 absolute (2e-9 relative: no two
 *     routes can agree on it to 1e-10; the floor is ~4e-14). With cond 1 both floors are
 *     ~1e-15 of the values or less;
 *   - 1/2||Y||^2: 1e-13 (one sum of squares in another order); the thresholds tol_x, tol_y
 *     (eps multiples of sigma_1(X), sigma_1(Y)): 1e-13;
 *   - sigma(X): 1e-13 of sigma_1 (both backward stable: ~dx eps); cond_x: 1e-15 cond + 1e-12
 *     (sigma_r carries ~eps sigma_1 absolute);
 *   - sigma(M): 1e-12 + 1e-15 cond of sigma_1(M) (with noise off X's row space sigma(M) moves
 *     by ~eps cond under X's rounding, test_shallow.c);
 *   - the compressed pair through the products that do not depend on the singular vectors'
 *     signs or on a basis within repeated singular values: C C^T = X_r X_r^T and
 *     M C^T = Y X_r^T, 1e-10 relative in the Frobenius norm (1e-13 observed). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "shallow_cases.h"

typedef enum { GENERIC, RANKDEF_X, RANKDEF_Y, ILLCOND_NOISE, ILLCOND_ROWSPACE } case_kind;
typedef struct {
    const char *what;
    case_kind kind;
    int dx, dy, m, arg; /* arg: rank of X or Y, or log10 of cond */
    int k;
} route_case;

static const route_case cases[] = {
    {"dy > dx", GENERIC, 5, 9, 40, 0, 2},
    {"dy < dx", GENERIC, 10, 4, 50, 0, 3},
    {"m = dx (square X: lstsq 0)", GENERIC, 7, 5, 7, 0, 2},
    {"m = dx + 1", GENERIC, 7, 5, 8, 0, 2},
    {"dy > m > dx", GENERIC, 4, 12, 9, 0, 2},
    {"m < dx (wide X: both run the SVD)", GENERIC, 12, 7, 6, 0, 2},
    {"rank(X) = 4 < dx", RANKDEF_X, 9, 7, 30, 4, 2},
    {"wide X of rank 2", RANKDEF_X, 30, 3, 12, 2, 1},
    {"rank(Y) = 3 < dy", RANKDEF_Y, 6, 8, 35, 3, 2},
    {"cond(X) = 1e6, noise", ILLCOND_NOISE, 8, 6, 40, 6, 3},
    {"cond(X) = 1e8, noise", ILLCOND_NOISE, 8, 6, 40, 8, 3},
    {"cond(X) = 1e6, row space", ILLCOND_ROWSPACE, 8, 6, 40, 6, 3},
    {"cond(X) = 1e8, row space", ILLCOND_ROWSPACE, 8, 6, 40, 8, 3},
};
#define N_CASES (sizeof cases / sizeof cases[0])
static const int block_rows[] = {0, 7, 1};
#define N_BLOCKS (sizeof block_rows / sizeof block_rows[0])

typedef struct {
    int backend, which, blocks;
} route_param;

ParameterizedTestParameters(shallow_routes, qr_against_svd)
{
    static route_param params[TS_BACKENDS * N_CASES * N_BLOCKS];
    size_t n = 0;
    for (int b = 0; b < TS_BACKENDS; b++)
        for (size_t c = 0; c < N_CASES; c++)
            for (size_t q = 0; q < N_BLOCKS; q++) params[n++] = (route_param){b, (int)c, (int)q};
    return cr_make_param_array(route_param, params, n);
}

/* |a - b| within 1e-10 |b| + atol. */
static void expect_value(double a, double b, double atol, const char *name, const char *what, unsigned long long seed)
{
    double d = fabs(a - b), tol = 1e-10 * fabs(b) + atol;
    cr_log_info("%s: %s qr %.17g svd %.17g: |diff| %.2e (%.2e relative, bound %.2e)", what, name, a, b, d,
                b ? d / fabs(b) : d, tol);
    cr_expect(d <= tol, "%s: %s: QR route %.17g vs SVD route %.17g (diff %.3e > %.3e) (seed %llu)", what, name, a, b,
              d, tol, seed);
}

/* ||P_a - P_b||_F / ||P_b||_F for P = A B^T, A (p, r) and B (q, r) in both solutions. */
static double product_diff(const double *A1, const double *B1, const double *A2, const double *B2, int p, int q, int r)
{
    double *P1 = ts_mul(0, 1, p, q, r, A1, B1), *P2 = ts_mul(0, 1, p, q, r, A2, B2);
    double e = ts_rel_mat(P1, P2, (size_t)p * q);
    free(P1), free(P2);
    return e;
}

ParameterizedTest(route_param *p, shallow_routes, qr_against_svd)
{
    const route_case *rc = &cases[p->which];
    dln_backend_kind kind = ts_backend_kinds[p->backend];
    sh_case c;
    switch (rc->kind) {
    case GENERIC: make_generic(&c, kind, rc->dx, rc->dy, rc->m, 0.3); break;
    case RANKDEF_X: make_rankdef_x(&c, kind, rc->dx, rc->dy, rc->m, rc->arg); break;
    case RANKDEF_Y: make_rankdef_y(&c, kind, rc->dx, rc->dy, rc->m, rc->arg); break;
    default: make_illcond(&c, kind, rc->dx, rc->dy, rc->m, pow(10.0, rc->arg), rc->kind == ILLCOND_ROWSPACE);
    }
    double cond = c.cond > 0 ? c.cond : 1.0;
    int br = block_rows[p->blocks];
    char what[160];
    snprintf(what, sizeof what, "%s: %s, QR block rows %d", ts_backend_label(kind), rc->what, br);
    dln_shallow s = solve_route(&c, rc->k, 1, DLN_SOLVER_SVD, 0);
    dln_shallow q = solve_route(&c, rc->k, 1, c.m >= c.dx ? DLN_SOLVER_QR : DLN_SOLVER_AUTO, br);
    unsigned long long seed = SEED(&c);
    if (c.m >= c.dx) {
        int first = br ? (c.m < c.dx + br ? c.m : c.dx + br) : c.m;
        int blocks = br ? 1 + (c.m - first + br - 1) / br : 1;
        cr_expect_eq(q.qr_blocks, blocks, "%s: %d blocks, expected %d", what, q.qr_blocks, blocks);
    }
    cr_expect_eq(q.rank_x, s.rank_x, "%s: rank_x %d vs %d (seed %llu)", what, q.rank_x, s.rank_x, seed);
    cr_expect_eq(q.rank_y, s.rank_y, "%s: rank_y %d vs %d (seed %llu)", what, q.rank_y, s.rank_y, seed);
    cr_expect_eq(q.r, s.r, "%s: r", what);
    cr_expect_eq(q.k, s.k, "%s: k", what);
    cr_expect_eq(q.n_ranks, s.n_ranks, "%s: n_ranks", what);
    cr_expect_eq(q.constrained, s.constrained, "%s: constrained", what);
    cr_expect_eq(q.hypotheses, s.hypotheses, "%s: hypotheses", what);
    cr_expect_lt(ts_rel(q.y_half, s.y_half), 1e-13, "%s: y_half %.17g vs %.17g", what, q.y_half, s.y_half);
    cr_expect_lt(ts_rel(q.tol_y, s.tol_y), 1e-13, "%s: tol_y (sigma_1(Y)) %.17g vs %.17g", what, q.tol_y, s.tol_y);
    cr_expect_lt(ts_rel(q.tol_x, s.tol_x), 1e-13, "%s: tol_x (sigma_1(X)) %.17g vs %.17g", what, q.tol_x, s.tol_x);
    double eps_c = DBL_EPSILON * cond, atol = eps_c * eps_c * s.y_half;
    atol += DBL_EPSILON * s.r * (s.n_ranks > 1 ? s.sm[0] : 0.0) * sqrt(2.0 * s.lstsq);
    expect_value(q.optimum, s.optimum, atol, "L*", what, seed);
    expect_value(q.lstsq, s.lstsq, atol, "lstsq", what, seed);
    expect_value(q.tail, s.tail, atol, "tail", what, seed);
    for (int j = 0; j < q.n_ranks && j < s.n_ranks; j++)
        expect_value(q.optimum_by_rank[j], s.optimum_by_rank[j], atol, "L*_j", what, seed);
    if (c.m == c.dx && q.rank_x == c.m) cr_expect_eq(q.lstsq, 0.0, "%s: r = m gives lstsq 0 exactly", what);
    int nx = c.dx < c.m ? c.dx : c.m, nm = q.n_ranks - 1;
    double ds = 0.0, dm = 0.0;
    for (int i = 0; i < nx; i++) ds = fmax(ds, fabs(q.sx[i] - s.sx[i]) / s.sx[0]);
    for (int i = 0; i < nm; i++) dm = fmax(dm, fabs(q.sm[i] - s.sm[i]) / s.sm[0]);
    cr_log_info("%s: sigma(X) %.2e, sigma(M) %.2e of sigma_1", what, ds, dm);
    cr_expect_leq(ds, 1e-13, "%s: sigma(X) differ by %.3e of sigma_1 (seed %llu)", what, ds, seed);
    cr_expect_leq(dm, 1e-12 + 1e-15 * cond, "%s: sigma(M) differ by %.3e of sigma_1 (seed %llu)", what, dm, seed);
    cr_expect_lt(ts_rel(q.cond_x, s.cond_x), 1e-15 * cond + 1e-12, "%s: cond_x %.17g vs %.17g", what, q.cond_x,
                 s.cond_x);
    // the compressed pair through sign- and basis-free products
    double ecc = product_diff(q.C, q.C, s.C, s.C, c.dx, c.dx, q.r);
    double emc = product_diff(q.M, q.C, s.M, s.C, c.dy, c.dx, q.r);
    cr_log_info("%s: C C^T %.2e, M C^T %.2e", what, ecc, emc);
    cr_expect_leq(ecc, 1e-10, "%s: C C^T differ by %.3e (seed %llu)", what, ecc, seed);
    cr_expect_leq(emc, 1e-10, "%s: M C^T differ by %.3e (seed %llu)", what, emc, seed);
    dln_shallow_free(&s);
    dln_shallow_free(&q);
    sh_case_free(&c);
}

/* The layout the solver picks before it runs: the route by shape, the QR route's blocks
 * from the requested rows or from the backend's memory, and the refusals. */
TestOnBackends(shallow_routes, layout_from_shape_and_memory)
{
    dln_error err;
    dln_backend *be = ts_backend(TS_KIND, &err);
    dln_shallow_opts o;
    dln_shallow_opts_default(&o);
    dln_shallow_layout l;
    // AUTO: QR when m >= dx, SVD when m < dx; QR with m < dx refused
    cr_assert_eq(dln_shallow_plan_memory(be, 8, 3, 40, &o, &l, &err), DLN_OK, "%s", err.msg);
    cr_expect_eq(l.route, DLN_SOLVER_QR);
    cr_expect_eq(l.blocks, 1, "a small problem is one block");
    cr_assert_eq(dln_shallow_plan_memory(be, 8, 3, 5, &o, &l, &err), DLN_OK, "%s", err.msg);
    cr_expect_eq(l.route, DLN_SOLVER_SVD);
    o.route = DLN_SOLVER_QR;
    cr_expect_eq(dln_shallow_plan_memory(be, 8, 3, 5, &o, &l, &err), DLN_EINPUT);
    // requested blocks: the first holds dx + b rows, then b rows each
    o.block_rows = 7;
    cr_assert_eq(dln_shallow_plan_memory(be, 8, 3, 40, &o, &l, &err), DLN_OK, "%s", err.msg);
    cr_expect_eq(l.blocks, 1 + (40 - 15 + 6) / 7, "blocks %d", l.blocks);
    cr_expect_eq(l.block_rows, 7);
    // a large problem: blocks whose working set is far below the data (host), or fits (device)
    o.block_rows = 0;
    size_t free_b = 0, total_b = 0;
    cr_assert_eq(dln_backend_mem_info(be, &free_b, &total_b), DLN_OK);
    int dx = 1000, dy = 100, m = 2000000000 / dx; /* X^T alone 16 GB */
    double data = 8.0 * (dx + dy) * (double)m;
    int rc = dln_shallow_plan_memory(be, dx, dy, m, &o, &l, &err);
    if (!total_b) {
        cr_assert_eq(rc, DLN_OK, "%s", err.msg);
        cr_expect_gt(l.blocks, 1, "host memory: blocks");
        cr_expect_lt(l.bytes, 0.05 * data, "host memory: the working set %.3g B is far below the data %.3g B", l.bytes,
                     data);
    } else if (data > (double)free_b) {
        cr_assert_eq(rc, DLN_OK, "%s", err.msg);
        cr_expect_gt(l.blocks, 1, "%.3g B of data in %zu B free: blocks", data, free_b);
        cr_expect_leq(l.bytes, 0.9 * (double)free_b, "the working set %.3g B fits the free %zu B", l.bytes, free_b);
        o.route = DLN_SOLVER_SVD; /* the SVD route needs all of it, several times: refused */
        cr_expect_eq(dln_shallow_plan_memory(be, dx, dy, m, &o, &l, &err), DLN_EINPUT);
        cr_expect(ts_says(err.msg, "needs"), "%s", err.msg);
    }
    dln_backend_destroy(be);
}
