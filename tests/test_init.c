/* test_init.c: network shapes and the four initialisation schemes (gaussian, orthogonal,
 * identity, balanced): determinism in the seed, the gaussian variance scale^2 / d_in,
 * exact (semi-)orthogonality, the identity, balancedness W_{j+1}^T W_{j+1} = W_j W_j^T
 * with a rank-d_p product whose singular values each layer shares as sigma^(1/H); the
 * portable generator's range and moments; and the weights save / load round trip with
 * its refusals (non-chaining shapes, wrong dx or dy). */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#define SEEDV (unsigned long long)seed

static double **init(const dln_shape *s, dln_init_kind k, double scale, uint64_t seed)
{
    dln_error err;
    dln_error_clear(&err);
    double **W = NULL;
    cr_assert_eq(dln_init_weights(s, k, scale, seed, &W, &err), DLN_OK, "%s: %s", dln_init_name(k), err.msg);
    cr_assert_not_null(W);
    return W;
}

static size_t layer_size(const dln_shape *s, int i) { return (size_t)s->dims[i + 1] * s->dims[i]; }

/* 1 when every layer is bit-identical */
static int same_bits(const dln_shape *s, double **A, double **B)
{
    for (int i = 0; i < s->depth; i++)
        if (memcmp(A[i], B[i], sizeof(double) * layer_size(s, i))) return 0;
    return 1;
}

Test(init, shapes_and_refusals)
{
    dln_shape s;
    int dims[] = {7, 5, 9, 3};
    ts_shape(&s, 3, dims);
    cr_expect_eq(s.depth, 3);
    for (int i = 0; i <= 3; i++) cr_expect_eq(s.dims[i], dims[i]);
    cr_expect_eq(dln_shape_narrowest(&s), 3);
    cr_expect_eq(dln_shape_params(&s), (size_t)(5 * 7 + 9 * 5 + 3 * 9));
    dln_shape_free(&s);
    dln_error err;
    int h[] = {4, 0};
    dln_error_clear(&err);
    cr_expect_eq(dln_shape_make(0, 3, 3, NULL, 0, &s, &err), DLN_EINPUT, "depth 0");
    dln_error_clear(&err);
    cr_expect_eq(dln_shape_make(3, 3, 3, h, 1, &s, &err), DLN_EINPUT, "one hidden width for depth 3");
    dln_error_clear(&err);
    cr_expect_eq(dln_shape_make(3, 3, 3, h, 2, &s, &err), DLN_EINPUT, "a zero width");
    dln_error_clear(&err);
    cr_expect_eq(dln_shape_make(1, 3, 0, NULL, 0, &s, &err), DLN_EINPUT, "dy = 0");
    ts_shape(&s, 3, dims);
    double **W = NULL;
    dln_error_clear(&err);
    cr_expect_eq(dln_init_weights(&s, DLN_INIT_GAUSSIAN, -1.0, 1, &W, &err), DLN_EINPUT, "negative scale");
    dln_error_clear(&err);
    cr_expect_eq(dln_init_weights(&s, DLN_INIT_GAUSSIAN, NAN, 1, &W, &err), DLN_EINPUT, "NaN scale");
    dln_init_kind k;
    const char *names[] = {"gaussian", "orthogonal", "identity", "balanced"};
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(dln_init_parse(names[i], &k), DLN_OK);
        cr_expect_eq((int)k, i);
        cr_expect_str_eq(dln_init_name(k), names[i]);
    }
    cr_expect_eq(dln_init_parse("xavier", &k), DLN_EINPUT);
    dln_shape_free(&s);
}

Test(init, determinism_in_the_seed)
{
    uint64_t seed = ts_seed();
    dln_shape s;
    int dims[] = {6, 8, 4, 5};
    ts_shape(&s, 3, dims);
    for (int k = 0; k < 4; k++) {
        double **A = init(&s, (dln_init_kind)k, 0.8, seed), **B = init(&s, (dln_init_kind)k, 0.8, seed);
        cr_expect(same_bits(&s, A, B), "%s: same seed, different weights (seed %llu)", dln_init_name(k), SEEDV);
        uint64_t others[] = {seed + 1, seed ^ 1, seed + (1ull << 32), ~seed};
        for (int o = 0; o < 4; o++) {
            double **C = init(&s, (dln_init_kind)k, 0.8, others[o]);
            if (k == DLN_INIT_IDENTITY)
                cr_expect(same_bits(&s, A, C), "identity does not depend on the seed");
            else
                cr_expect(!same_bits(&s, A, C), "%s: seeds %llu and %llu give the same weights", dln_init_name(k),
                          SEEDV, (unsigned long long)others[o]);
            dln_weights_free(3, C);
        }
        for (int i = 0; i < 3; i++) /* never all zero at a positive scale */
            cr_expect_gt(ts_sumsq(A[i], layer_size(&s, i)), 0.0, "%s: layer %d is zero", dln_init_name(k), i + 1);
        dln_weights_free(3, A), dln_weights_free(3, B);
    }
    dln_shape_free(&s);
}

Test(init, gaussian_variance)
{
    uint64_t seed = ts_seed();
    dln_shape s;
    int dims[] = {500, 400, 3};
    ts_shape(&s, 2, dims);
    double scale = 1.7, **W = init(&s, DLN_INIT_GAUSSIAN, scale, seed);
    size_t n = layer_size(&s, 0);
    double mean = 0.0, var = 0.0, want = scale * scale / 500.0;
    for (size_t e = 0; e < n; e++) mean += W[0][e];
    mean /= n;
    for (size_t e = 0; e < n; e++) var += (W[0][e] - mean) * (W[0][e] - mean);
    var /= (n - 1);
    /* n = 2e5 normal samples: the sample variance has relative sd sqrt(2 / n) = 0.32%,
     * the mean sd sqrt(want / n): 6-sigma bounds (false failure odds ~1e-9) */
    cr_expect_lt(fabs(var / want - 1.0), 6.0 * sqrt(2.0 / n), "variance %.6g, expected %.6g (seed %llu)", var,
                 want, SEEDV);
    cr_expect_lt(fabs(mean), 6.0 * sqrt(want / n), "mean %.3g (seed %llu)", mean, SEEDV);
    dln_weights_free(2, W);
    dln_shape_free(&s);
}

Test(init, orthogonal_rows_or_columns)
{
    uint64_t seed = ts_seed();
    dln_shape s;
    int dims[] = {9, 4, 4, 11, 6};
    ts_shape(&s, 4, dims);
    double scale = 1.3, **W = init(&s, DLN_INIT_ORTHOGONAL, scale, seed);
    for (int i = 0; i < 4; i++) {
        int r = s.dims[i + 1], c = s.dims[i], n = r < c ? r : c;
        /* tall: W^T W (c, c); wide: W W^T (r, r); must be scale^2 I */
        double *P = r >= c ? ts_mul(1, 0, c, c, r, W[i], W[i]) : ts_mul(0, 1, r, r, c, W[i], W[i]);
        double worst = 0.0;
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
                worst = fmax(worst, fabs(P[a + (size_t)b * n] - (a == b ? scale * scale : 0.0)));
        /* Householder QR: orthogonal to a few ulps */
        cr_expect_lt(worst / (scale * scale), 1e-12, "layer %d (%d x %d): max |W W^T - s^2 I| = %.3e (seed %llu)",
                     i + 1, r, c, worst, SEEDV);
        free(P);
    }
    dln_weights_free(4, W);
    dln_shape_free(&s);
}

Test(init, identity_is_scaled_eye)
{
    dln_shape s;
    int dims[] = {5, 5, 7, 3};
    ts_shape(&s, 3, dims);
    double **W = init(&s, DLN_INIT_IDENTITY, 0.7, 42);
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < s.dims[i]; c++)
            for (int r = 0; r < s.dims[i + 1]; r++)
                cr_expect_eq(W[i][r + (size_t)c * s.dims[i + 1]], r == c ? 0.7 : 0.0, "layer %d (%d, %d)", i + 1,
                             r, c);
    dln_weights_free(3, W);
    dln_shape_free(&s);
}

Test(init, balanced_layers)
{
    uint64_t seed = ts_seed();
    int cases[][6] = {{8, 6, 5, 7, 9, 0}, {6, 3, 8, 5, 0, 0}, {4, 9, 9, 0, 0, 0}};
    int depths[] = {4, 3, 2};
    for (int t = 0; t < 3; t++) {
        int H = depths[t], *dims = cases[t];
        dln_shape s;
        ts_shape(&s, H, dims);
        int dp = dln_shape_narrowest(&s), dx = dims[0], dy = dims[H];
        double **W = init(&s, DLN_INIT_BALANCED, 1.1, seed + t);
        /* W_{j+1}^T W_{j+1} = Q_j S^(2/H) Q_j^T = W_j W_j^T up to rounding: 1e-10 */
        double b = dln_weights_balancedness(&s, W);
        cr_expect_lt(b, 1e-10, "case %d: balancedness %.3e (seed %llu)", t, b, SEEDV);
        for (int j = 1; j < H; j++) { /* the same, computed here */
            int d = dims[j];
            double *L = ts_mul(1, 0, d, d, dims[j + 1], W[j], W[j]),
                   *R = ts_mul(0, 1, d, d, dims[j - 1], W[j - 1], W[j - 1]);
            cr_expect_lt(ts_rel_mat(L, R, (size_t)d * d), 1e-10, "case %d, j=%d (seed %llu)", t, j, SEEDV);
            free(L), free(R);
        }
        // product R = W_H ... W_1 (dy, dx): rank <= d_p, and every layer's singular values are sigma(R)^(1/H)
        double *P = ts_copy(W[0], layer_size(&s, 0));
        for (int i = 1; i < H; i++) {
            double *Q = ts_mul(0, 0, dims[i + 1], dx, dims[i], W[i], P);
            free(P);
            P = Q;
        }
        double *sr = ts_singular_values(dy, dx, P);
        int n = dx < dy ? dx : dy;
        for (int i = dp; i < n; i++)
            cr_expect_lt(sr[i] / sr[0], 1e-12, "case %d: sigma_%d(R) = %.3e beyond d_p = %d (seed %llu)", t, i + 1,
                         sr[i], dp, SEEDV);
        cr_expect_gt(sr[dp - 1] / sr[0], 1e-6, "case %d: the product has rank d_p = %d", t, dp);
        for (int i = 0; i < H; i++) {
            double *sw = ts_singular_values(dims[i + 1], dims[i], W[i]);
            for (int a = 0; a < dp; a++)
                cr_expect_lt(ts_rel(sw[a], pow(sr[a], 1.0 / H)), 1e-10, "case %d layer %d sigma_%d (seed %llu)", t,
                             i + 1, a + 1, SEEDV);
            free(sw);
        }
        free(P), free(sr);
        dln_weights_free(H, W);
        dln_shape_free(&s);
    }
    /* no truncation (d_p = min(dx, dy)): the product is the random end-to-end matrix A
     * itself, entries N(0, scale^2 / dx); n = 18000 entries, 6-sigma bound on the sample
     * variance (relative sd sqrt(2 / n)); scale 3 makes any other power of S visible */
    {
        dln_shape s;
        int dims[] = {150, 200, 180, 120};
        ts_shape(&s, 3, dims);
        double **W = init(&s, DLN_INIT_BALANCED, 3.0, seed);
        double *A1 = ts_mul(0, 0, 180, 150, 200, W[1], W[0]), *P = ts_mul(0, 0, 120, 150, 180, W[2], A1);
        size_t n = 120 * 150;
        double var = ts_sumsq(P, n) / n, want = 9.0 / 150;
        cr_expect_lt(fabs(var / want - 1.0), 6.0 * sqrt(2.0 / n),
                     "product variance %.5g, expected %.5g (seed %llu)", var, want, SEEDV);
        free(A1), free(P);
        dln_weights_free(3, W);
        dln_shape_free(&s);
    }
    /* a gaussian network is far from balanced: the measure is not trivially 0 */
    dln_shape s;
    int dims[] = {8, 6, 5};
    ts_shape(&s, 2, dims);
    double **G = init(&s, DLN_INIT_GAUSSIAN, 1.0, seed);
    cr_expect_gt(dln_weights_balancedness(&s, G), 0.1);
    dln_weights_free(2, G);
    dln_shape_free(&s);
}

Test(init, rng_uniform_and_normal_moments)
{
    uint64_t seed = ts_seed();
    dln_rng g, h;
    dln_rng_seed(&g, seed, 1);
    dln_rng_seed(&h, seed, 1);
    for (int i = 0; i < 100; i++) cr_assert_eq(dln_rng_next(&g), dln_rng_next(&h), "same (seed, stream)");
    dln_rng_seed(&h, seed, 2);
    int same = 0;
    for (int i = 0; i < 100; i++) same += dln_rng_next(&g) == dln_rng_next(&h);
    cr_expect_lt(same, 3, "streams 1 and 2 coincide (seed %llu)", SEEDV);
    const long n = 1000000;
    double s1 = 0, s2 = 0;
    for (long i = 0; i < n; i++) {
        double u = dln_rng_uniform(&g);
        cr_assert(u > 0.0 && u < 1.0, "uniform %.17g outside (0, 1) (seed %llu)", u, SEEDV);
        s1 += u, s2 += u * u;
    }
    /* 6-sigma bounds: sd of the mean sqrt(1/12/n), of the second moment sqrt(4/45/n) */
    cr_expect_lt(fabs(s1 / n - 0.5), 6 * sqrt(1.0 / 12 / n), "uniform mean %.6f (seed %llu)", s1 / n, SEEDV);
    cr_expect_lt(fabs(s2 / n - 1.0 / 3), 6 * sqrt(4.0 / 45 / n), "uniform E[u^2] %.6f (seed %llu)", s2 / n, SEEDV);
    double m[5] = {0};
    for (long i = 0; i < n; i++) {
        double z = dln_rng_normal(&g), p = 1;
        for (int k = 1; k <= 4; k++) m[k] += (p *= z);
    }
    for (int k = 1; k <= 4; k++) m[k] /= n;
    /* raw moments 0, 1, 0, 3 with sds sqrt(1/n), sqrt(2/n), sqrt(15/n), sqrt(96/n): 6 sigma */
    double want[5] = {0, 0, 1, 0, 3}, sd[5] = {0, 1, 2, 15, 96};
    for (int k = 1; k <= 4; k++)
        cr_expect_lt(fabs(m[k] - want[k]), 6 * sqrt(sd[k] / n), "normal moment %d = %.6f (seed %llu)", k, m[k],
                     SEEDV);
}

Test(init, save_load_round_trip_and_refusals)
{
    uint64_t seed = ts_seed();
    char base[256], dir[320], f[400];
    ts_tempdir(base, sizeof base, "init");
    snprintf(dir, sizeof dir, "%s/w", base);
    dln_shape s, t;
    int dims[] = {6, 4, 7, 3};
    ts_shape(&s, 3, dims);
    dln_rng g;
    dln_rng_seed(&g, seed, 9);
    double **W = ts_rand_weights(&g, &s, 1.0), **L = NULL;
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_weights_save(dir, &s, W, &err), DLN_OK, "%s", err.msg);
    cr_assert_eq(dln_weights_load(dir, 6, 3, &t, &L, &err), DLN_OK, "%s", err.msg);
    cr_expect_eq(t.depth, 3);
    for (int i = 0; i <= 3; i++) cr_expect_eq(t.dims[i], dims[i]);
    cr_expect(same_bits(&s, W, L), "round trip is not bit-exact (seed %llu)", SEEDV);
    dln_weights_free(3, L);
    dln_shape_free(&t);
    /* wrong dx, wrong dy */
    dln_error_clear(&err);
    cr_expect_eq(dln_weights_load(dir, 5, 3, &t, &L, &err), DLN_EINPUT, "dx 5 for W1 with 6 columns");
    dln_error_clear(&err);
    cr_expect_eq(dln_weights_load(dir, 6, 4, &t, &L, &err), DLN_EINPUT, "dy 4 for W3 with 3 rows");
    /* shapes that do not chain: W2 (7, 5) after W1 (4, 6) */
    snprintf(f, sizeof f, "%s/W2.npy", dir);
    double *bad = ts_randn(&g, 7, 5);
    cr_assert_eq(dln_npy_write(f, 7, 5, bad, 7, &err), DLN_OK, "%s", err.msg);
    dln_error_clear(&err);
    cr_expect_eq(dln_weights_load(dir, 6, 3, &t, &L, &err), DLN_EINPUT, "W2 (7, 5) after W1 (4, 6)");
    cr_expect_neq(err.msg[0], '\0');
    /* a directory with other files is refused for saving; a missing one for loading */
    snprintf(f, sizeof f, "%s/notes.txt", dir);
    FILE *fp = fopen(f, "w");
    cr_assert_not_null(fp);
    fputs("x\n", fp);
    fclose(fp);
    dln_error_clear(&err);
    cr_expect_eq(dln_weights_save(dir, &s, W, &err), DLN_EINPUT, "saving over a foreign file");
    snprintf(f, sizeof f, "%s/missing", base);
    dln_error_clear(&err);
    cr_expect_eq(dln_weights_load(f, 6, 3, &t, &L, &err), DLN_EINPUT, "missing directory");
    free(bad);
    dln_weights_free(3, W);
    dln_shape_free(&s);
    ts_rmtree(base);
}
