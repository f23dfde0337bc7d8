/* test_shallow_rank1.c: the shallow optimum for k = 1 on small problems, on every
 * backend, against brute force independent of any SVD: a dense scan over directions
 * (dx = 2) refined by golden section, and alternating least squares through the Gram
 * matrix (Cholesky) from many random starts. Each by every route of sh_routes. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shallow_cases.h"

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

static double solve_optimum(sh_case *c, int k, int route)
{
    sh_use_route(c, route);
    dln_shallow sh = solve(c, k, 0);
    double v = sh.optimum;
    dln_shallow_free(&sh);
    return v;
}

TestOnBackends(shallow, rank1_against_dense_scan)
{
    sh_case c;
    make_generic(&c, TS_KIND, 2, 3, 7, 0.3);
    double scan = rank1_scan(&c);
    for (int rt = 0; rt < SH_ROUTES; rt++) {
        double opt = solve_optimum(&c, 1, rt);
        /* the scan + golden section locates the minimiser to ~1e-12 in angle; the value is
         * quadratic there, so it matches to rounding: 1e-9 */
        cr_expect_lt(ts_rel(opt, scan), 1e-9, "k=1, dx=2, %s: L* %.17g vs scan %.17g (seed %llu)", sh_routes[rt].name,
                     opt, scan, SEED(&c));
    }
    sh_case_free(&c);
}

TestOnBackends(shallow, rank1_against_alternating_least_squares)
{
    int sizes[][3] = {{3, 4, 8}, {4, 3, 10}, {5, 5, 12}};
    for (int t = 0; t < 3; t++) {
        sh_case c;
        make_generic(&c, TS_KIND, sizes[t][0], sizes[t][1], sizes[t][2], 0.3);
        dln_rng g;
        dln_rng_seed(&g, c.seed, 5);
        double als = rank1_als(&c, &g, 30);
        for (int rt = 0; rt < SH_ROUTES; rt++) {
            double opt = solve_optimum(&c, 1, rt);
            /* ALS decreases monotonically to a stationary value; run to a relative change
             * below 1e-15, the best of 30 starts is the global minimum to ~1e-12 */
            cr_expect_lt(ts_rel(opt, als), 1e-9, "k=1, %dx%d m=%d, %s: L* %.17g vs ALS %.17g (seed %llu)", c.dx, c.dy,
                         c.m, sh_routes[rt].name, opt, als, SEED(&c));
        }
        sh_case_free(&c);
    }
}

