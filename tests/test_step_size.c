/* test_step_size.c: the automatic step size (docs/maths.md, "Step size"). It must not
 * depend on the signs an SVD gives the singular vectors (any sign is legal, and LAPACK,
 * cuSOLVER and the emulated device choose differently): flipping the sign of random
 * columns of M together with the same columns of C (u_i, v_i -> -u_i, -v_i) leaves the
 * rule's value and a compressed trajectory unchanged bit for bit (sign flips are exact,
 * and every product the computation forms pairs two flipped factors or none). The value
 * is also checked against its formula with exact norms from LAPACK. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_cases.h"

/* Flips column j of M (dy, r) and C (dx, r) for every j whose bit is set; returns how many. */
static int flip_columns(dln_shallow *sh, dln_rng *g)
{
    int flipped = 0;
    for (int j = 0; j < sh->r; j++)
        if (dln_rng_next(g) >> 63) {
            for (int i = 0; i < sh->dy; i++) sh->M[i + (size_t)j * sh->dy] = -sh->M[i + (size_t)j * sh->dy];
            for (int i = 0; i < sh->dx; i++) sh->C[i + (size_t)j * sh->dx] = -sh->C[i + (size_t)j * sh->dx];
            flipped++;
        }
    return flipped;
}

/* A depth-3 problem whose X has rank 9 < m = 60 (so training runs compressed) on a
 * backend of this kind, and a generator for the signs. */
static void sign_case(tr_case *c, dln_backend_kind kind, dln_rng *g)
{
    int dims[] = {9, 5, 4, 7};
    tr_case_make(c, kind, 3, dims, 60, 4, 0.2, 0);
    dln_rng_seed(g, c->seed, 41);
}

TestOnBackends(step_size, auto_lr_does_not_depend_on_singular_vector_signs)
{
    tr_case c;
    dln_rng g;
    sign_case(&c, TS_KIND, &g);
    /* small layers: every a_j is the floor (1.1 ||R_ls||)^(1/H), the part that uses M */
    double **W = ts_rand_weights(&g, &c.s, 1e-3);
    double lr0 = dln_auto_lr(&c.s, W, &c.sh);
    cr_assert(lr0 > 0 && isfinite(lr0), "lr %g", lr0);
    for (int trial = 0; trial < 20; trial++) {
        int n = flip_columns(&c.sh, &g);
        double lr = dln_auto_lr(&c.s, W, &c.sh);
        cr_assert(memcmp(&lr, &lr0, sizeof lr) == 0, "%d columns flipped: lr %.17g, was %.17g (seed %llu)", n, lr,
                  lr0, SEED(&c));
    }
    dln_weights_free(3, W);
    tr_case_free(&c);
}

TestOnBackends(step_size, compressed_trajectory_does_not_depend_on_singular_vector_signs)
{
    tr_case c;
    dln_rng g;
    sign_case(&c, TS_KIND, &g);
    double **W = ts_rand_weights(&g, &c.s, 1e-3); /* the auto lr uses M (see above) */
    double **W2 = ts_copy_weights(&c.s, W);
    dln_train_opts o = opts(0.0, 300, 0.0, DLN_DATA_COMPRESSED);
    dln_train_result a = train(&c, W, &o);
    int n = flip_columns(&c.sh, &g);
    dln_train_result b = train(&c, W2, &o);
    cr_expect(memcmp(&a.lr, &b.lr, sizeof a.lr) == 0, "lr %.17g vs %.17g", a.lr, b.lr);
    cr_expect(memcmp(&a.loss, &b.loss, sizeof a.loss) == 0, "%d flipped: loss %.17g vs %.17g (seed %llu)", n, a.loss,
              b.loss, SEED(&c));
    cr_expect_eq(ts_rel_weights(&c.s, W, W2), 0.0, "%d flipped: the weights differ (seed %llu)", n, SEED(&c));
    dln_weights_free(3, W), dln_weights_free(3, W2);
    tr_case_free(&c);
}

/* sigma_1 and sigma_2 (0 when there is none) of A (rows, cols) by LAPACKE_dgesvd. */
static double exact_norm(int rows, int cols, const double *A, double *second)
{
    double *s = ts_singular_values(rows, cols, A), v = s[0];
    *second = (rows < cols ? rows : cols) > 1 ? s[1] : 0.0;
    free(s);
    return v;
}

/* The rule composed from its parts: the same 30-step norm estimates, then the formula in
 * plain (not log-space) arithmetic. Checks the composition, the factors 1.1, the floor
 * and the log-space sum; the estimates themselves are checked in the next test. */
Test(step_size, auto_lr_follows_its_formula)
{
    tr_case c;
    int dims[] = {8, 6, 3, 5};
    tr_case_make(&c, DLN_BACKEND_CPU, 3, dims, 50, 3, 0.1, 0);
    for (int scale = 0; scale < 2; scale++) { /* large layers (the norms bind), small ones (the floor) */
        dln_rng g;
        dln_rng_seed(&g, c.seed, 43 + scale);
        double **W = ts_rand_weights(&g, &c.s, scale ? 1e-3 : 3.0);
        // lr = 1 / (s_1(X)^2 sum_i prod_{j != i} a_j^2), a_j = max(1.1 w_j, (1.1 rho)^(1/H))
        int H = c.s.depth;
        double rho = 1.1 * dln_spectral_norm(c.sh.dy, c.sh.r, c.sh.M, 0, c.sh.sx, 30), a[8], sum = 0.0;
        for (int j = 0; j < H; j++)
            a[j] = fmax(1.1 * dln_spectral_norm(c.s.dims[j + 1], c.s.dims[j], W[j], 1, NULL, 30), pow(rho, 1.0 / H));
        for (int i = 0; i < H; i++) {
            double p = 1.0;
            for (int j = 0; j < H; j++) p *= j == i ? 1.0 : a[j] * a[j];
            sum += p;
        }
        double want = 1.0 / (c.sh.sx[0] * c.sh.sx[0] * sum), got = dln_auto_lr(&c.s, W, &c.sh);
        /* exp/log round trips: a few ulps of each of H terms */
        cr_expect_lt(ts_rel(got, want), 1e-13, "scale %d: lr %.17g vs the formula %.17g (seed %llu)", scale, got,
                     want, SEED(&c));
        dln_weights_free(H, W);
    }
    tr_case_free(&c);
}

/* The power iteration estimates ||op(A) diag(1/s)||_2 from below, and converges to it
 * when the top two singular values are apart. */
Test(step_size, spectral_norm_from_below_and_converging)
{
    uint64_t seed = ts_seed();
    dln_rng g;
    dln_rng_seed(&g, seed, 44);
    const int shapes[][2] = {{7, 4}, {4, 7}, {12, 12}, {1, 5}, {5, 1}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int rows = shapes[k][0], cols = shapes[k][1], n = rows < cols ? rows : cols;
        double sv[12], sc[12];
        for (int i = 0; i < n; i++) sv[i] = 2.0 * pow(0.5, i); /* sigma_2 / sigma_1 = 1/2 */
        for (int j = 0; j < 12; j++) sc[j] = 0.5 + dln_rng_uniform(&g);
        double *A = ts_with_singular_values(&g, rows, cols, sv, NULL);
        for (int trans = 0; trans < 2; trans++)
            for (int scaled = 0; scaled < 2; scaled++) {
                /* B = op(A) diag(1/s): its exact norm from LAPACK on an explicit copy */
                int p = trans ? cols : rows, q = trans ? rows : cols;
                double *B = trans ? ts_transpose(rows, cols, A) : ts_copy(A, (size_t)rows * cols);
                for (int j = 0; j < q && scaled; j++)
                    for (int i = 0; i < p; i++) B[i + (size_t)j * p] /= sc[j];
                double s2, exact = exact_norm(p, q, B, &s2);
                double few = dln_spectral_norm(rows, cols, A, trans, scaled ? sc : NULL, 3);
                double many = dln_spectral_norm(rows, cols, A, trans, scaled ? sc : NULL, 200);
                cr_expect_leq(few, exact * (1 + 1e-14), "%dx%d trans %d: 3 steps give %.17g above %.17g", rows, cols,
                              trans, few, exact);
                /* the estimate's relative error falls like (s2/s1)^(2k) (times a constant set by
                 * the start's overlap with the top vector): 1e-12 plus that bound with k = 200
                 * and a factor 1e6 of slack for the start */
                double bound = 1e-12 + 1e6 * pow(s2 / exact, 400);
                cr_expect_lt(ts_rel(many, exact), bound, "%dx%d trans %d scaled %d: %.17g vs %.17g (seed %llu)", rows,
                             cols, trans, scaled, many, exact, (unsigned long long)seed);
                free(B);
            }
        free(A);
    }
}
