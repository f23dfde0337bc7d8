/* ops_checks_blas.c: the table's checks of memory, transfers, copy, transpose, gemm and
 * axpby against host references (see ops_checks.h for the tolerances). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_checks.h"

#define AT(h, ld, i, j) (h)[(size_t)(i) + (size_t)(j) * (size_t)(ld)]

void oc_alloc(oc_ctx *c)
{
    dln_mat m;
    OC_OK(c, dln_mat_alloc(c->be, &m, 5, 3, c->dtype));
    cr_expect_eq(m.rows, 5);
    cr_expect_eq(m.cols, 3);
    cr_expect_geq(m.ld, 5);
    double *z = oc_get(c, &m);
    for (int e = 0; e < 15; e++) cr_expect_eq(z[e], 0.0, "%s: alloc zero-fills (entry %d: %g)", c->label, e, z[e]);
    dln_mat e0;
    OC_OK(c, dln_mat_alloc(c->be, &e0, 0, 4, c->dtype)); /* empty matrices are legal */
    dln_mat bad;
    oc_expect_refused(c, dln_mat_alloc(c->be, &bad, -1, 3, c->dtype), "alloc", "a negative shape");
    cr_expect_null(bad.data);
    size_t fb = 1, tb = 1;
    OC_OK(c, dln_backend_mem_info(c->be, &fb, &tb));
    if (dln_backend_supports(c->be, DLN_CAP_DEVICE_MEMORY))
        cr_expect(tb > 0 && fb > 0 && fb <= tb, "%s: mem_info free %zu total %zu", c->label, fb, tb);
    else
        cr_expect(fb == 0 && tb == 0, "%s: no device memory, yet mem_info says %zu of %zu", c->label, fb, tb);
    dln_mat_free(c->be, &m);
    dln_mat_free(c->be, &e0);
    free(z);
}

void oc_transfer(oc_ctx *c)
{
    // upload host (rows, cols) with ld 24 into a view with ld > rows; download into ld 21
    int rows = 19, cols = 11, lds = rows + 5, ldd = rows + 2;
    oc_mat p = oc_rand(c, rows + 6, cols + 2);
    dln_mat v = dln_mat_view(&p.m, 3, 1, rows, cols);
    double *src = ts_randn(&c->g, lds, cols), *dst = malloc(sizeof(double) * (size_t)ldd * cols);
    double *want = ts_copy(p.h, (size_t)p.m.rows * p.m.cols);
    for (int e = 0; e < ldd * cols; e++) dst[e] = -99.0;
    OC_OK(c, dln_upload(c->be, &v, src, lds));
    OC_OK(c, dln_download(c->be, &v, dst, ldd));
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < ldd; i++) {
            double s = AT(src, lds, i, j), stored = c->dtype == DLN_F32 ? (double)(float)s : s;
            if (i < rows) AT(want, p.m.rows, 3 + i, 1 + j) = stored;
            /* fp64 moves bits; fp32 rounds to nearest on upload and widens exactly back */
            cr_assert_eq(AT(dst, ldd, i, j), i < rows ? stored : -99.0, "%s: round trip (%d, %d) (seed %llu)",
                         c->label, i, j, (unsigned long long)c->seed);
            if (i < rows && c->dtype == DLN_F32)
                cr_assert(fabs(stored - s) <= 0x1p-24 * fabs(s), "%s: fp32 rounding beyond half an ulp", c->label);
        }
    oc_expect(c, &p, want, 3, 1, rows, cols, 0.0, "upload into a view");
    oc_expect_refused(c, dln_upload(c->be, &v, src, rows - 1), "upload", "a host leading dim below the rows");
    free(src), free(dst), free(want);
    oc_free(c, &p);
}

void oc_copy(oc_ctx *c)
{
    oc_mat P = oc_rand(c, 8, 7), Q = oc_rand(c, 6, 9);
    dln_mat S = dln_mat_view(&P.m, 2, 1, 5, 4), E = dln_mat_view(&Q.m, 1, 3, 5, 4);
    OC_OK(c, dln_copy(c->be, &E, &S));
    double *want = ts_copy(Q.h, 54);
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < 5; i++) AT(want, 6, 1 + i, 3 + j) = AT(P.h, 8, 2 + i, 1 + j);
    oc_expect(c, &Q, want, 1, 3, 5, 4, 0.0, "copy of a view into a view");
    dln_mat wrong = dln_mat_view(&Q.m, 0, 0, 4, 5), overlap = dln_mat_view(&P.m, 3, 2, 5, 4);
    oc_expect_refused(c, dln_copy(c->be, &wrong, &S), "copy", "a shape mismatch");
    oc_expect_refused(c, dln_copy(c->be, &overlap, &S), "copy", "overlapping blocks");
    free(want);
    oc_free(c, &P), oc_free(c, &Q);
}

void oc_transpose(oc_ctx *c)
{
    /* a wide source into a tall view whose old values are NaN: they must not leak through */
    oc_mat P = oc_rand(c, 9, 40), Q = oc_rand(c, 41, 8);
    dln_mat S = dln_mat_view(&P.m, 2, 1, 5, 37), D = dln_mat_view(&Q.m, 1, 2, 37, 5);
    double *nan = malloc(sizeof(double) * 37 * 5);
    for (int e = 0; e < 37 * 5; e++) nan[e] = NAN;
    OC_OK(c, dln_upload(c->be, &D, nan, 37));
    OC_OK(c, dln_transpose(c->be, &D, &S));
    double *want = ts_copy(Q.h, (size_t)41 * 8);
    for (int j = 0; j < 5; j++)
        for (int i = 0; i < 37; i++) AT(want, 41, 1 + i, 2 + j) = AT(P.h, 9, 2 + j, 1 + i);
    oc_expect(c, &Q, want, 1, 2, 37, 5, 0.0, "transpose of a wide view");
    oc_expect_refused(c, dln_transpose(c->be, &S, &S), "transpose", "a shape mismatch");
    dln_mat sq = dln_mat_view(&P.m, 0, 0, 5, 5), sq2 = dln_mat_view(&P.m, 1, 1, 5, 5);
    oc_expect_refused(c, dln_transpose(c->be, &sq2, &sq), "transpose", "overlapping blocks");
    free(nan), free(want);
    oc_free(c, &P), oc_free(c, &Q);
}

/* C = alpha op(A) op(B) + beta C on views, for one transpose pair. */
static void gemm_case(oc_ctx *c, int ta, int tb, int m, int n, int k, double beta)
{
    int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    oc_mat PA = oc_rand(c, ar + 3, ac + 2), PB = oc_rand(c, br + 2, bc + 1), PC = oc_rand(c, m + 4, n + 2);
    dln_mat A = dln_mat_view(&PA.m, 2, 1, ar, ac), B = dln_mat_view(&PB.m, 1, 1, br, bc);
    dln_mat C = dln_mat_view(&PC.m, 3, 1, m, n);
    double alpha = 0.75 + dln_rng_uniform(&c->g);
    if (c->dtype == DLN_F32) alpha = (float)alpha;
    double *want = ts_copy(PC.h, (size_t)(m + 4) * (n + 2));
    if (beta == 0.0) { /* beta = 0: C's old values are not read, NaN included */
        double *nan = malloc(sizeof(double) * (size_t)m * n);
        for (int e = 0; e < m * n; e++) nan[e] = NAN;
        OC_OK(c, dln_upload(c->be, &C, nan, m));
        free(nan);
    }
    OC_OK(c, dln_gemm(c->be, ta, tb, alpha, &A, &B, beta, &C));
    ref_gemm(ta, tb, m, n, k, alpha, &AT(PA.h, ar + 3, 2, 1), ar + 3, &AT(PB.h, br + 2, 1, 1), br + 2, beta,
             &AT(want, m + 4, 3, 1), m + 4);
    char what[64];
    snprintf(what, sizeof what, "gemm trans_a=%d trans_b=%d beta=%g", ta, tb, beta);
    oc_expect(c, &PC, want, 3, 1, m, n, oc_tol(c, 1e-13, 1e-5), what);
    free(want);
    oc_free(c, &PA), oc_free(c, &PB), oc_free(c, &PC);
}

void oc_gemm(oc_ctx *c)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) gemm_case(c, ta, tb, 13, 7, 29, -1.25);
    gemm_case(c, 0, 1, 6, 5, 4, 0.0);
    /* long skinny products, which the CPU backend computes in pieces (src/backends/cpu/
     * gemm_cpu.c): a reduction over k = 1000 into an 8 x 6 output (three chunks of 336), and
     * 1700 columns of an 8 x 40 op(A) (three pieces of 816); every transpose pair, alone and
     * on two threads (the pieces on the threads) */
    for (int threads = 1; threads <= 2; threads++) {
        OC_OK(c, dln_backend_set_threads(c->be, threads));
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                gemm_case(c, ta, tb, 8, 6, 1000, -0.5);
                gemm_case(c, ta, tb, 8, 1700, 40, 0.0);
            }
    }
    OC_OK(c, dln_backend_set_threads(c->be, 1));
    // shapes that do not chain, and an output overlapping an input, are refused
    oc_mat A = oc_rand(c, 4, 5), B = oc_rand(c, 6, 3), C = oc_rand(c, 4, 3), S = oc_rand(c, 4, 4);
    oc_expect_refused(c, dln_gemm(c->be, 0, 0, 1.0, &A.m, &B.m, 0.0, &C.m), "gemm", "inner dimensions 5 vs 6");
    oc_expect_refused(c, dln_gemm(c->be, 0, 0, 1.0, &S.m, &S.m, 0.0, &S.m), "gemm", "C overlapping A and B");
    oc_free(c, &A), oc_free(c, &B), oc_free(c, &C), oc_free(c, &S);
}

void oc_gemm_tf32(oc_ctx *c)
{
    if (!dln_backend_supports(c->be, DLN_CAP_TF32)) {
        cr_assert_eq(dln_backend_set_math(c->be, DLN_MATH_TF32), DLN_EINPUT, "%s: TF32 accepted", c->label);
        return;
    }
    OC_OK(c, dln_backend_set_math(c->be, DLN_MATH_TF32));
    if (c->dtype == DLN_F64) { /* TF32 applies to fp32 GEMMs only: fp64 stays fp64 */
        gemm_case(c, 0, 1, 13, 7, 29, -1.25);
        return;
    }
    const int m = 64, n = 48, k = 256;
    oc_mat A = oc_rand(c, m, k), B = oc_rand(c, k, n), C = oc_rand(c, m, n), D = oc_rand(c, k, k);
    double *want = calloc((size_t)m * n, sizeof(double)), *wd = calloc((size_t)k * k, sizeof(double));
    OC_OK(c, dln_gemm(c->be, 0, 0, 1.0, &A.m, &B.m, 0.0, &C.m));
    ref_gemm(0, 0, m, n, k, 1.0, A.h, m, B.h, k, 0.0, want, m);
    oc_expect(c, &C, want, 0, 0, m, n, 5e-3, "TF32 gemm");
    /* back to exact fp32: the backend must switch its GEMMs back */
    OC_OK(c, dln_backend_set_math(c->be, DLN_MATH_DEFAULT));
    OC_OK(c, dln_gemm(c->be, 1, 0, 1.0, &A.m, &A.m, 0.0, &D.m));
    ref_gemm(1, 0, k, k, m, 1.0, A.h, m, A.h, m, 0.0, wd, k);
    oc_expect(c, &D, wd, 0, 0, k, k, 1e-5, "fp32 gemm after switching back from TF32");
    free(want), free(wd);
    oc_free(c, &A), oc_free(c, &B), oc_free(c, &C), oc_free(c, &D);
}

/* Y = alpha X + beta Y on a (rows, cols) view of both parents, against the host. */
static void axpby_case(oc_ctx *c, int rows, int cols, double alpha, double beta, const char *what)
{
    oc_mat PX = oc_rand(c, rows + 3, cols + 2), PY = oc_rand(c, rows + 2, cols + 1);
    dln_mat X = dln_mat_view(&PX.m, 1, 2, rows, cols), Y = dln_mat_view(&PY.m, 2, 1, rows, cols);
    if (beta == 0.0) { /* beta = 0: Y's old values are not read, NaN included */
        double *nan = malloc(sizeof(double) * (size_t)rows * cols);
        for (size_t e = 0; e < (size_t)rows * cols; e++) nan[e] = NAN;
        OC_OK(c, dln_upload(c->be, &Y, nan, rows));
        free(nan);
    }
    OC_OK(c, dln_axpby(c->be, alpha, &X, beta, &Y));
    double *want = ts_copy(PY.h, (size_t)(rows + 2) * (cols + 1));
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++) {
            double *y = &AT(want, rows + 2, 2 + i, 1 + j), x = AT(PX.h, rows + 3, 1 + i, 2 + j);
            *y = beta == 0.0 ? alpha * x : alpha * x + beta * *y;
        }
    double tol = alpha == 1.0 && beta == 0.0 ? 0.0 : oc_tol(c, 1e-15, 2e-7);
    oc_expect(c, &PY, want, 2, 1, rows, cols, tol, what);
    free(want);
    oc_free(c, &PX), oc_free(c, &PY);
}

void oc_axpby(oc_ctx *c)
{
    double alpha = -1.5 + dln_rng_uniform(&c->g), beta = 0.25 + dln_rng_uniform(&c->g);
    if (c->dtype == DLN_F32) alpha = (float)alpha, beta = (float)beta;
    axpby_case(c, 17, 13, alpha, beta, "axpby on views");
    axpby_case(c, 8, 6, 1.0, 0.0, "axpby with beta = 0 (a copy)");
    axpby_case(c, 8, 6, alpha, 0.0, "axpby with beta = 0");
    /* more elements than one pass of a grid capped at 8192 blocks of 256 threads */
    axpby_case(c, 1501, 1499, alpha, beta, "axpby past one grid pass");
    oc_mat X = oc_rand(c, 7, 5), Y = oc_rand(c, 9, 6);
    oc_expect_refused(c, dln_axpby(c->be, 1.0, &X.m, 1.0, &Y.m), "axpby", "a shape mismatch");
    oc_free(c, &X), oc_free(c, &Y);
}
