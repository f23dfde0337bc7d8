/* ops_checks_reduce.c: the table's checks of sumsq into a caller's result column, of the
 * SVD, and of graph capture and replay, against host references (tolerances in
 * ops_checks.h). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_checks.h"

#define AT(h, ld, i, j) (h)[(size_t)(i) + (size_t)(j) * (size_t)(ld)]

void oc_sumsq(oc_ctx *c)
{
    oc_mat X = oc_rand(c, 35, 19), Z = oc_rand(c, 601, 500); /* Z: more elements than one grid pass */
    dln_mat V = dln_mat_view(&X.m, 1, 2, 33, 17), E = dln_mat_view(&X.m, 0, 0, 33, 0);
    dln_mat out;
    OC_OK(c, dln_mat_alloc(c->be, &out, 8, 1, DLN_F64));
    OC_OK(c, dln_sumsq(c->be, &X.m, &out, 2, 0));
    OC_OK(c, dln_sumsq(c->be, &Z.m, &out, 2, 1)); /* out[2] = ||X||^2 + ||Z||^2 */
    OC_OK(c, dln_sumsq(c->be, &Z.m, &out, 5, 0));
    OC_OK(c, dln_sumsq(c->be, &V, &out, 5, 0));   /* overwrites */
    OC_OK(c, dln_sumsq(c->be, &Z.m, &out, 3, 0));
    OC_OK(c, dln_sumsq(c->be, &E, &out, 7, 0));   /* empty: 0 */
    double r[8];
    OC_OK(c, dln_download(c->be, &out, r, 8));
    double sx = ref_sumsq(35, 19, X.h, 35), sz = ref_sumsq(601, 500, Z.h, 601);
    double sv = ref_sumsq(33, 17, &AT(X.h, 35, 1, 2), 35);
    cr_assert(ts_rel(r[2], sx + sz) <= 1e-12, "%s: accumulated sumsq %.17g vs %.17g (seed %llu)", c->label, r[2],
              sx + sz, (unsigned long long)c->seed);
    cr_assert(ts_rel(r[5], sv) <= 1e-12, "%s: sumsq of a view %.17g vs %.17g (seed %llu)", c->label, r[5], sv,
              (unsigned long long)c->seed);
    cr_assert(ts_rel(r[3], sz) <= 1e-12, "%s: sumsq %.17g vs %.17g", c->label, r[3], sz);
    cr_assert_eq(r[7], 0.0, "%s: sumsq of an empty view: %g", c->label, r[7]);
    /* deterministic: the same reduction again gives the same bits */
    double again;
    dln_mat r3 = dln_mat_view(&out, 3, 0, 1, 1);
    OC_OK(c, dln_sumsq(c->be, &Z.m, &out, 3, 0));
    OC_OK(c, dln_download(c->be, &r3, &again, 1));
    cr_assert(memcmp(&again, &r[3], sizeof again) == 0, "%s: sumsq not reproducible: %.17g vs %.17g", c->label,
              again, r[3]);
    oc_expect_refused(c, dln_sumsq(c->be, &X.m, &out, 8, 0), "sumsq", "a result index past the column");
    oc_expect_refused(c, dln_sumsq(c->be, &X.m, &X.m, 0, 0), "sumsq", "a result matrix that is not a column");
    dln_mat_free(c->be, &out);
    oc_free(c, &X), oc_free(c, &Z);
}

/* ||U diag(s) VT - A||_F / ||A||_F, and ||U^T U - I||_F, ||VT VT^T - I||_F into *orth. */
static double svd_err(const double *U, const double *s, const double *VT, int m, int n, const double *A,
                      double *orth)
{
    double d = 0.0, r = 0.0, o = 0.0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            long double v = 0;
            for (int l = 0; l < n; l++) v += (long double)U[i + (size_t)l * m] * s[l] * VT[l + (size_t)j * n];
            d += ((double)v - A[i + (size_t)j * m]) * ((double)v - A[i + (size_t)j * m]);
            r += A[i + (size_t)j * m] * A[i + (size_t)j * m];
        }
    for (int j = 0; j < n; j++)
        for (int l = 0; l < n; l++) {
            double u = -(l == j), v = -(l == j);
            for (int i = 0; i < m; i++) u += U[i + (size_t)l * m] * U[i + (size_t)j * m];
            for (int i = 0; i < n; i++) v += VT[l + (size_t)i * n] * VT[j + (size_t)i * n];
            o += u * u + v * v;
        }
    *orth = sqrt(o);
    return sqrt(d / r);
}

/* gesvd of an (m, n) view (ld > m) with vectors, then values only, against LAPACKE. */
static void gesvd_case(oc_ctx *c, int m, int n)
{
    oc_mat P = oc_rand_t(c, m + 2, n, DLN_F64);
    dln_mat A = dln_mat_view(&P.m, 1, 0, m, n);
    double *Asub = malloc(sizeof(double) * (size_t)m * n), *s = malloc(sizeof(double) * n);
    double *s2 = malloc(sizeof(double) * n);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) AT(Asub, m, i, j) = AT(P.h, m + 2, i + 1, j);
    dln_mat U, VT;
    OC_OK(c, dln_mat_alloc(c->be, &U, m, n, DLN_F64));
    OC_OK(c, dln_mat_alloc(c->be, &VT, n, n, DLN_F64));
    OC_OK(c, dln_gesvd(c->be, &A, s, &U, &VT));
    double *hU = oc_get(c, &U), *hV = oc_get(c, &VT), *ref = ts_singular_values(m, n, Asub), orth;
    double e = svd_err(hU, s, hV, m, n, Asub, &orth), ds = 0.0;
    cr_assert(e <= 1e-12, "%s: gesvd %d x %d reconstruction %.3e (seed %llu)", c->label, m, n, e,
              (unsigned long long)c->seed);
    cr_assert(orth <= 1e-12, "%s: gesvd %d x %d orthonormality %.3e", c->label, m, n, orth);
    /* values only, on a fresh copy (gesvd destroys its input) */
    OC_OK(c, dln_upload(c->be, &A, Asub, m));
    OC_OK(c, dln_gesvd(c->be, &A, s2, NULL, NULL));
    for (int i = 0; i < n; i++) {
        cr_assert(i == 0 || s[i - 1] >= s[i], "%s: singular values not descending", c->label);
        ds = fmax(ds, fmax(fabs(s[i] - ref[i]), fabs(s2[i] - ref[i])));
    }
    cr_assert(ds / ref[0] <= 1e-12, "%s: gesvd %d x %d singular values off by %.3e of s_max", c->label, m, n,
              ds / ref[0]);
    dln_mat_free(c->be, &U), dln_mat_free(c->be, &VT);
    free(Asub), free(s), free(s2), free(hU), free(hV), free(ref);
    oc_free(c, &P);
}

void oc_gesvd(oc_ctx *c)
{
    if (c->dtype == DLN_F32) { /* factorisations are fp64 only */
        oc_mat F = oc_rand(c, 8, 5);
        double s[5];
        oc_expect_refused(c, dln_gesvd(c->be, &F.m, s, NULL, NULL), "gesvd", "an fp32 matrix");
        oc_free(c, &F);
        return;
    }
    /* several shapes: a workspace grows, then is reused; square included */
    gesvd_case(c, 40, 12);
    gesvd_case(c, 100, 30);
    gesvd_case(c, 40, 12);
    gesvd_case(c, 9, 9);
    /* wide (rows < cols) is refused, as cuSOLVER does; the caller transposes first */
    oc_mat W = oc_rand(c, 5, 8);
    double s[8];
    oc_expect_refused(c, dln_gesvd(c->be, &W.m, s, NULL, NULL), "gesvd", "a 5 x 8 matrix");
    oc_free(c, &W);
}

void oc_graph(oc_ctx *c)
{
    if (!dln_backend_supports(c->be, DLN_CAP_GRAPHS)) {
        oc_expect_refused(c, dln_capture_begin(c->be), "capture_begin", "a capture without graphs");
        return;
    }
    const int m = 24, k = 16, n = 20, reps = 10;
    oc_mat w = oc_rand(c, m, k), x = oc_rand(c, k, n), y = oc_rand(c, m, n), z = oc_rand(c, m, n);
    dln_mat out;
    OC_OK(c, dln_mat_alloc(c->be, &out, 2, 1, DLN_F64));
    double start, zero, acc;
    dln_mat r1 = dln_mat_view(&out, 1, 0, 1, 1);
    OC_OK(c, dln_sumsq(c->be, &z.m, &out, 1, 0));
    OC_OK(c, dln_download(c->be, &r1, &start, 1));
    dln_graph *g = NULL;
    OC_OK(c, dln_capture_begin(c->be));
    OC_OK(c, dln_gemm(c->be, 0, 0, 1.0, &w.m, &x.m, 0.5, &y.m));
    OC_OK(c, dln_axpby(c->be, 0.3, &y.m, 0.9, &z.m));
    OC_OK(c, dln_sumsq(c->be, &z.m, &out, 1, 1));
    /* an operation that waits is refused without breaking the capture */
    cr_assert_neq(dln_download(c->be, &r1, &zero, 1), DLN_OK, "%s: a download inside a capture", c->label);
    dln_error_clear(&c->err);
    OC_OK(c, dln_capture_end(c->be, &g));
    cr_assert_not_null(g);
    OC_OK(c, dln_download(c->be, &r1, &zero, 1));
    cr_assert_eq(zero, start, "%s: the capture executed the work (%g, was %g)", c->label, zero, start);
    for (int i = 0; i < reps; i++) OC_OK(c, dln_graph_launch(c->be, g));
    OC_OK(c, dln_download(c->be, &r1, &acc, 1));
    /* the same sequence on the host, in fp64 from the stored values */
    double *hy = ts_copy(y.h, (size_t)m * n), *hz = ts_copy(z.h, (size_t)m * n), want = 0.0;
    for (int i = 0; i < reps; i++) {
        ref_gemm(0, 0, m, n, k, 1.0, w.h, m, x.h, k, 0.5, hy, m);
        for (int e = 0; e < m * n; e++) {
            if (c->dtype == DLN_F32) hy[e] = (float)hy[e];
            hz[e] = 0.3 * hy[e] + 0.9 * hz[e];
            if (c->dtype == DLN_F32) hz[e] = (float)hz[e];
        }
        want += ref_sumsq(m, n, hz, m);
    }
    double tol = oc_tol(c, 1e-12, 1e-5);
    cr_assert(ts_rel(acc - start, want) <= tol, "%s: graph replays accumulated %.17g, host %.17g", c->label,
              acc - start, want);
    oc_expect(c, &y, hy, 0, 0, m, n, tol, "gemm output after replays");
    oc_expect(c, &z, hz, 0, 0, m, n, tol, "axpby output after replays");
    dln_graph_destroy(c->be, g);
    dln_mat_free(c->be, &out);
    free(hy), free(hz);
    oc_free(c, &w), oc_free(c, &x), oc_free(c, &y), oc_free(c, &z);
}
