/* test_backend_cpu.c: every operation of the CPU backend against a direct element-wise
 * computation written here: alloc (zero fill), upload / download (fp64 exact, fp32
 * conversion), copy, transpose, gemm in the four transpose combinations on sub-block
 * views with ld > rows (and nothing outside the view touched), axpby, sumsq with and
 * without accumulation, read_slots, and gesvd (reconstruction, orthonormal factors,
 * values only, and the refusal of rows < cols and of fp32). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

typedef struct {
    uint64_t seed;
    dln_rng g;
    dln_error err;
    dln_backend *be;
    const dln_backend_ops *op;
} bk;

#define SEED(b) (unsigned long long)(b)->seed

static void bk_make(bk *b)
{
    b->seed = ts_seed();
    dln_rng_seed(&b->g, b->seed, 31);
    b->be = ts_cpu(&b->err);
    b->op = b->be->ops;
}

/* A backend matrix (rows, cols) of dtype holding fresh N(0,1) values; host copy in *h. */
static dln_mat rand_mat(bk *b, int rows, int cols, dln_dtype t, double **h)
{
    dln_mat m;
    cr_assert_eq(b->op->alloc(b->be, &m, rows, cols, t), DLN_OK);
    double *v = ts_randn(&b->g, rows, cols);
    if (t == DLN_F32)
        for (size_t e = 0; e < (size_t)rows * cols; e++) v[e] = (float)v[e];
    cr_assert_eq(b->op->upload(b->be, &m, v, rows), DLN_OK);
    *h = v;
    return m;
}

static double *download(bk *b, const dln_mat *m)
{
    double *h = malloc(sizeof(double) * ((size_t)m->rows * m->cols + 1));
    cr_assert_eq(b->op->download(b->be, m, h, m->rows), DLN_OK);
    return h;
}

#define AT(h, ld, i, j) (h)[(size_t)(i) + (size_t)(j) * (size_t)(ld)]

Test(backend_cpu, alloc_upload_download)
{
    bk b;
    bk_make(&b);
    dln_mat m;
    cr_assert_eq(b.op->alloc(b.be, &m, 5, 3, DLN_F64), DLN_OK);
    cr_expect_eq(m.rows, 5);
    cr_expect_eq(m.cols, 3);
    cr_expect_geq(m.ld, 5);
    double *z = download(&b, &m);
    for (int e = 0; e < 15; e++) cr_expect_eq(z[e], 0.0, "alloc zero-fills");
    // upload from a host block with ld 8 > rows, download into ld 7: exact in fp64
    double *src = ts_randn(&b.g, 8, 3), dst[7 * 3];
    for (int e = 0; e < 21; e++) dst[e] = -99.0;
    cr_assert_eq(b.op->upload(b.be, &m, src, 8), DLN_OK);
    cr_assert_eq(b.op->download(b.be, &m, dst, 7), DLN_OK);
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 7; i++)
            cr_expect_eq(AT(dst, 7, i, j), i < 5 ? AT(src, 8, i, j) : -99.0, "(%d, %d) (seed %llu)", i, j,
                         SEED(&b));
    // fp32: values are rounded to float on upload and widened exactly on download
    dln_mat f;
    cr_assert_eq(b.op->alloc(b.be, &f, 8, 3, DLN_F32), DLN_OK);
    cr_assert_eq(b.op->upload(b.be, &f, src, 8), DLN_OK);
    cr_expect_eq(((float *)f.data)[1 + 2 * f.ld], (float)AT(src, 8, 1, 2), "stored as float");
    double *back = download(&b, &f);
    for (int e = 0; e < 24; e++) {
        cr_expect_eq(back[e], (double)(float)src[e], "fp32 entry %d (seed %llu)", e, SEED(&b));
        cr_expect_lt(fabs(back[e] - src[e]), 6e-8 * fabs(src[e]) + 1e-300, "rounding within half an fp32 ulp");
    }
    size_t fb = 1, tb = 1;
    cr_expect_eq(b.op->mem_info(b.be, &fb, &tb), DLN_OK);
    b.op->free(b.be, &m), b.op->free(b.be, &f);
    free(z), free(src), free(back);
    dln_backend_destroy(b.be);
}

/* C = alpha op(A) op(B) + beta C on views, for one dtype and one transpose pair. */
static void check_gemm(bk *b, dln_dtype t, int ta, int tb)
{
    int m = 5, n = 4, k = 6;
    int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    double *hA, *hB, *hC;
    /* parents larger than the views, so ld > rows and the views start off the corner */
    dln_mat PA = rand_mat(b, ar + 3, ac + 2, t, &hA), PB = rand_mat(b, br + 2, bc + 1, t, &hB);
    dln_mat PC = rand_mat(b, m + 4, n + 2, t, &hC);
    dln_mat A = dln_mat_view(&PA, 2, 1, ar, ac), B = dln_mat_view(&PB, 1, 1, br, bc),
            C = dln_mat_view(&PC, 3, 1, m, n);
    double alpha = 0.75 + dln_rng_uniform(&b->g), beta = -0.5 - dln_rng_uniform(&b->g);
    if (t == DLN_F32) alpha = (float)alpha, beta = (float)beta;
    cr_assert_eq(b->op->gemm(b->be, ta, tb, alpha, &A, &B, beta, &C), DLN_OK, "%s", b->err.msg);
    double *got = download(b, &PC), worst = 0.0, scale = 0.0;
    for (int j = 0; j < n + 2; j++)
        for (int i = 0; i < m + 4; i++) {
            double want = AT(hC, m + 4, i, j);
            if (i >= 3 && i < 3 + m && j >= 1 && j < 1 + n) {
                long double s = 0;
                for (int p = 0; p < k; p++) {
                    double a = ta ? AT(hA, ar + 3, 2 + p, 1 + (i - 3)) : AT(hA, ar + 3, 2 + (i - 3), 1 + p);
                    double bb = tb ? AT(hB, br + 2, 1 + (j - 1), 1 + p) : AT(hB, br + 2, 1 + p, 1 + (j - 1));
                    s += (long double)a * bb;
                }
                want = (double)(alpha * s + beta * (long double)want);
                worst = fmax(worst, fabs(AT(got, m + 4, i, j) - want));
                scale = fmax(scale, fabs(want));
            } else {
                cr_expect_eq(AT(got, m + 4, i, j), want, "gemm wrote outside the view at (%d, %d)", i, j);
            }
        }
    /* k = 6 products: fp64 rounding ~1e-15, fp32 ~1e-6 of the largest entry */
    double tol = t == DLN_F64 ? 1e-13 : 1e-5;
    cr_expect_lt(worst / scale, tol, "%s gemm ta=%d tb=%d: max error %.3e of %.3e (seed %llu)", dln_dtype_name(t),
                 ta, tb, worst, scale, SEED(b));
    b->op->free(b->be, &PA), b->op->free(b->be, &PB), b->op->free(b->be, &PC);
    free(hA), free(hB), free(hC), free(got);
}

Test(backend_cpu, gemm_four_transposes_on_views)
{
    bk b;
    bk_make(&b);
    for (int t = 0; t < 2; t++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) check_gemm(&b, (dln_dtype)t, ta, tb);
    // shapes that do not chain are refused
    dln_mat A, B, C;
    cr_assert_eq(b.op->alloc(b.be, &A, 3, 4, DLN_F64), DLN_OK);
    cr_assert_eq(b.op->alloc(b.be, &B, 5, 2, DLN_F64), DLN_OK);
    cr_assert_eq(b.op->alloc(b.be, &C, 3, 2, DLN_F64), DLN_OK);
    cr_expect_eq(b.op->gemm(b.be, 0, 0, 1.0, &A, &B, 0.0, &C), DLN_ERUNTIME, "(3x4)(5x2)");
    b.op->free(b.be, &A), b.op->free(b.be, &B), b.op->free(b.be, &C);
    dln_backend_destroy(b.be);
}

Test(backend_cpu, axpby_on_blocks_and_views)
{
    bk b;
    bk_make(&b);
    for (int t = 0; t < 2; t++) {
        double *hX, *hY;
        dln_mat PX = rand_mat(&b, 7, 5, (dln_dtype)t, &hX), PY = rand_mat(&b, 9, 6, (dln_dtype)t, &hY);
        double alpha = -1.5 + dln_rng_uniform(&b.g), beta = 0.25 + dln_rng_uniform(&b.g);
        if (t == DLN_F32) alpha = (float)alpha, beta = (float)beta;
        // a view (strided columns) and then the whole contiguous matrix
        dln_mat X = dln_mat_view(&PX, 1, 2, 4, 3), Y = dln_mat_view(&PY, 2, 1, 4, 3);
        cr_assert_eq(b.op->axpby(b.be, alpha, &X, beta, &Y), DLN_OK);
        double *got = download(&b, &PY);
        double tol = t == DLN_F64 ? 1e-15 : 2e-7; /* one multiply-add: an ulp or two */
        for (int j = 0; j < 6; j++)
            for (int i = 0; i < 9; i++) {
                double want = AT(hY, 9, i, j);
                if (i >= 2 && i < 6 && j >= 1 && j < 4) {
                    want = alpha * AT(hX, 7, i - 1, j + 1) + beta * want;
                    cr_expect_leq(fabs(AT(got, 9, i, j) - want),
                                  tol * (fabs(alpha * AT(hX, 7, i - 1, j + 1)) + fabs(beta * AT(hY, 9, i, j))),
                                  "%s axpby view (%d, %d) (seed %llu)", dln_dtype_name(t), i, j, SEED(&b));
                } else {
                    cr_expect_eq(AT(got, 9, i, j), want, "axpby wrote outside the view at (%d, %d)", i, j);
                }
            }
        free(got);
        double *hZ;
        dln_mat Z = rand_mat(&b, 7, 5, (dln_dtype)t, &hZ);
        cr_assert_eq(b.op->axpby(b.be, alpha, &PX, beta, &Z), DLN_OK);
        got = download(&b, &Z);
        for (int e = 0; e < 35; e++)
            cr_expect_leq(fabs(got[e] - (alpha * hX[e] + beta * hZ[e])),
                          tol * (fabs(alpha * hX[e]) + fabs(beta * hZ[e])), "%s axpby whole (seed %llu)",
                          dln_dtype_name(t), SEED(&b));
        cr_expect_eq(b.op->axpby(b.be, 1.0, &PX, 1.0, &PY), DLN_ERUNTIME, "shape mismatch");
        free(got), free(hX), free(hY), free(hZ);
        b.op->free(b.be, &PX), b.op->free(b.be, &PY), b.op->free(b.be, &Z);
    }
    dln_backend_destroy(b.be);
}

Test(backend_cpu, sumsq_slots)
{
    bk b;
    bk_make(&b);
    double *hA, *hB, *hF;
    dln_mat A = rand_mat(&b, 6, 5, DLN_F64, &hA), B = rand_mat(&b, 3, 7, DLN_F64, &hB);
    dln_mat F = rand_mat(&b, 4, 4, DLN_F32, &hF);
    dln_mat V = dln_mat_view(&A, 1, 2, 4, 2);
    double sv = 0;
    for (int j = 2; j < 4; j++)
        for (int i = 1; i < 5; i++) sv += AT(hA, 6, i, j) * AT(hA, 6, i, j);
    cr_assert_eq(b.op->sumsq(b.be, &A, 2, 0), DLN_OK);
    cr_assert_eq(b.op->sumsq(b.be, &B, 2, 1), DLN_OK); /* slot 2 = ||A||^2 + ||B||^2 */
    cr_assert_eq(b.op->sumsq(b.be, &V, 5, 0), DLN_OK);
    cr_assert_eq(b.op->sumsq(b.be, &F, 7, 1), DLN_OK); /* accumulates onto what slot 7 held */
    cr_assert_eq(b.op->sumsq(b.be, &F, 7, 0), DLN_OK); /* then overwritten */
    cr_assert_eq(b.op->sumsq(b.be, &F, 7, 1), DLN_OK); /* slot 7 = 2 ||F||^2 */
    double s[DLN_NUM_SLOTS];
    cr_assert_eq(b.op->read_slots(b.be, s, DLN_NUM_SLOTS), DLN_OK);
    /* sums of 30 positive terms in another order: a few ulps; fp32 inputs are squared in
     * fp64 (their products are exact), so the same bound holds */
    cr_expect_lt(ts_rel(s[2], ts_sumsq(hA, 30) + ts_sumsq(hB, 21)), 1e-14, "accumulated slot (seed %llu)",
                 SEED(&b));
    cr_expect_lt(ts_rel(s[5], sv), 1e-14, "view sumsq (seed %llu)", SEED(&b));
    cr_expect_lt(ts_rel(s[7], 2.0 * ts_sumsq(hF, 16)), 1e-14, "fp32 sumsq in fp64 (seed %llu)", SEED(&b));
    b.op->free(b.be, &A), b.op->free(b.be, &B), b.op->free(b.be, &F);
    free(hA), free(hB), free(hF);
    dln_backend_destroy(b.be);
}

Test(backend_cpu, copy_and_transpose)
{
    bk b;
    bk_make(&b);
    for (int t = 0; t < 2; t++) {
        double *hP, *hQ;
        dln_mat P = rand_mat(&b, 8, 7, (dln_dtype)t, &hP), Q = rand_mat(&b, 6, 9, (dln_dtype)t, &hQ);
        dln_mat S = dln_mat_view(&P, 2, 1, 5, 4);
        // transpose a view into a view: Q[1:5, 3:8] = P[2:7, 1:5]^T, exact
        dln_mat D = dln_mat_view(&Q, 1, 3, 4, 5);
        cr_assert_eq(b.op->transpose(b.be, &D, &S), DLN_OK);
        double *got = download(&b, &Q);
        for (int j = 0; j < 9; j++)
            for (int i = 0; i < 6; i++) {
                int in = i >= 1 && i < 5 && j >= 3 && j < 8;
                double want = in ? AT(hP, 8, 2 + (j - 3), 1 + (i - 1)) : AT(hQ, 6, i, j);
                cr_expect_eq(AT(got, 6, i, j), want, "%s transpose (%d, %d) (seed %llu)", dln_dtype_name(t), i, j,
                             SEED(&b));
            }
        free(got);
        // copy a view into a view, exact; other entries untouched
        dln_mat E = dln_mat_view(&Q, 0, 0, 5, 4);
        cr_assert_eq(b.op->copy(b.be, &E, &S), DLN_OK);
        got = download(&b, &Q);
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 5; i++)
                cr_expect_eq(AT(got, 6, i, j), AT(hP, 8, 2 + i, 1 + j), "%s copy (%d, %d)", dln_dtype_name(t), i,
                             j);
        cr_expect_eq(AT(got, 6, 5, 0), AT(hQ, 6, 5, 0), "copy wrote below the view");
        cr_expect_eq(b.op->copy(b.be, &D, &S), DLN_ERUNTIME, "copy shape mismatch");
        cr_expect_eq(b.op->transpose(b.be, &E, &S), DLN_ERUNTIME, "transpose shape mismatch");
        free(got), free(hP), free(hQ);
        b.op->free(b.be, &P), b.op->free(b.be, &Q);
    }
    dln_backend_destroy(b.be);
}

Test(backend_cpu, gesvd_reconstructs)
{
    bk b;
    bk_make(&b);
    int m = 9, n = 5;
    double *hA;
    dln_mat P = rand_mat(&b, m + 2, n, DLN_F64, &hA);
    dln_mat A = dln_mat_view(&P, 1, 0, m, n); /* ld = m + 2 > rows */
    dln_mat U, VT;
    cr_assert_eq(b.op->alloc(b.be, &U, m, n, DLN_F64), DLN_OK);
    cr_assert_eq(b.op->alloc(b.be, &VT, n, n, DLN_F64), DLN_OK);
    double s[5], s2[5];
    cr_assert_eq(b.op->gesvd(b.be, &A, s, &U, &VT), DLN_OK, "%s", b.err.msg);
    double *hU = download(&b, &U), *hV = download(&b, &VT), Asub[9 * 5];
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) AT(Asub, m, i, j) = AT(hA, m + 2, i + 1, j);
    for (int i = 0; i + 1 < n; i++) cr_expect_geq(s[i], s[i + 1], "descending");
    cr_expect_gt(s[n - 1], 0.0);
    // U diag(s) VT = A, U^T U = I, VT VT^T = I: backward stable, ~1e-15
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) AT(hU, m, i, j) *= s[j];
    double *R = ts_mul(0, 0, m, n, n, hU, hV);
    cr_expect_lt(ts_rel_mat(R, Asub, (size_t)m * n), 1e-13, "reconstruction (seed %llu)", SEED(&b));
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) AT(hU, m, i, j) /= s[j];
    double *UtU = ts_mul(1, 0, n, n, m, hU, hU), *VVt = ts_mul(0, 1, n, n, n, hV, hV);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            cr_expect_lt(fabs(AT(UtU, n, i, j) - (i == j)), 1e-13, "U^T U (seed %llu)", SEED(&b));
            cr_expect_lt(fabs(AT(VVt, n, i, j) - (i == j)), 1e-13, "VT VT^T (seed %llu)", SEED(&b));
        }
    // values only (U, VT NULL) agree with an independent dgesvd
    double *ref = ts_singular_values(m, n, Asub);
    cr_assert_eq(b.op->upload(b.be, &A, Asub, m), DLN_OK);
    cr_assert_eq(b.op->gesvd(b.be, &A, s2, NULL, NULL), DLN_OK);
    for (int i = 0; i < n; i++) {
        cr_expect_lt(fabs(s2[i] - ref[i]) / ref[0], 1e-14, "values only sigma_%d (seed %llu)", i + 1, SEED(&b));
        cr_expect_lt(fabs(s[i] - ref[i]) / ref[0], 1e-14, "sigma_%d (seed %llu)", i + 1, SEED(&b));
    }
    // rows < cols and fp32 are refused
    dln_mat W, F;
    cr_assert_eq(b.op->alloc(b.be, &W, 3, 4, DLN_F64), DLN_OK);
    cr_assert_eq(b.op->alloc(b.be, &F, 4, 3, DLN_F32), DLN_OK);
    cr_expect_eq(b.op->gesvd(b.be, &W, s, NULL, NULL), DLN_ERUNTIME, "3 x 4 refused");
    cr_expect_eq(b.op->gesvd(b.be, &F, s, NULL, NULL), DLN_ERUNTIME, "fp32 refused");
    cr_expect_neq(b.err.msg[0], '\0');
    b.op->free(b.be, &P), b.op->free(b.be, &U), b.op->free(b.be, &VT), b.op->free(b.be, &W), b.op->free(b.be, &F);
    free(hA), free(hU), free(hV), free(R), free(UtU), free(VVt), free(ref);
    dln_backend_destroy(b.be);
}
