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
    double **W = tr_init(&c, DLN_INIT_GAUSSIAN);
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
    double **W = tr_init(&c, DLN_INIT_ORTHOGONAL);
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

/* ||A||_2 of A (rows, cols) by LAPACKE_dgesvd. */
static double exact_norm(int rows, int cols, const double *A)
{
    double *s = ts_singular_values(rows, cols, A), v = s[0];
    free(s);
    return v;
}

Test(step_size, auto_lr_follows_its_formula)
{
    tr_case c;
    int dims[] = {8, 6, 3, 5};
    tr_case_make(&c, DLN_BACKEND_CPU, 3, dims, 50, 3, 0.1, 0);
    double **W = tr_init(&c, DLN_INIT_GAUSSIAN);
    // lr = 1 / (s_1(X)^2 sum_i prod_{j != i} a_j^2), a_j = max(1.1 ||W_j||, (1.1 ||M S^-1||)^(1/H))
    int H = c.s.depth;
    double *B = ts_copy(c.sh.M, (size_t)c.sh.dy * c.sh.r);
    for (int j = 0; j < c.sh.r; j++)
        for (int i = 0; i < c.sh.dy; i++) B[i + (size_t)j * c.sh.dy] /= c.sh.sx[j];
    double rho = 1.1 * exact_norm(c.sh.dy, c.sh.r, B), a[8], sum = 0.0;
    for (int j = 0; j < H; j++) a[j] = fmax(1.1 * exact_norm(c.s.dims[j + 1], c.s.dims[j], W[j]), pow(rho, 1.0 / H));
    for (int i = 0; i < H; i++) {
        double p = 1.0;
        for (int j = 0; j < H; j++) p *= j == i ? 1.0 : a[j] * a[j];
        sum += p;
    }
    double want = 1.0 / (c.sh.sx[0] * c.sh.sx[0] * sum), got = dln_auto_lr(&c.s, W, &c.sh);
    /* 30 power iterations estimate each norm from below: the rule's lr is at least the
     * exact formula's and, with these well-separated spectra, within 1e-3 of it */
    cr_expect_geq(got, want * (1 - 1e-12), "lr %.17g below the exact formula's %.17g (seed %llu)", got, want,
                  SEED(&c));
    cr_expect_lt(ts_rel(got, want), 1e-3, "lr %.17g vs the exact formula's %.17g (seed %llu)", got, want, SEED(&c));
    free(B);
    dln_weights_free(H, W);
    tr_case_free(&c);
}
