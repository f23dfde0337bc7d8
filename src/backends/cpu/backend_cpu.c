/* backend_cpu.c: the CPU reference backend. Every operation is one OpenBLAS (CBLAS)
 * or LAPACKE call, or a plain element loop where BLAS has none (conversion, axpby on
 * a strided block, triu, geqrf's tau read off dgeqrt's block factors). Arguments arrive
 * checked (src/backends/ops.c); every LAPACK info is checked here. Work runs when it is
 * issued, so synchronize has nothing to wait for. Operations on distinct matrices may be
 * issued from several threads at once (DLN_CAP_THREADS: a batch's chunks of members). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_internal.h"

static int cpu_alloc(dln_backend *be, dln_mat *m, int rows, int cols, dln_dtype dtype)
{
    // m is (rows, cols), ld = max(rows, 1), zero-filled
    size_t n = (size_t)rows * (size_t)cols;
    m->rows = rows;
    m->cols = cols;
    m->ld = rows > 0 ? rows : 1;
    m->dtype = dtype;
    m->data = calloc(n ? n : 1, dln_dtype_size(dtype));
    if (!m->data)
        return dln_fail(be->err, DLN_ENOMEM, "out of host memory: %zu bytes needed for a %d x %d matrix",
                        n * dln_dtype_size(dtype), rows, cols);
    return DLN_OK;
}

static void cpu_free(dln_backend *be, dln_mat *m)
{
    (void)be;
    free(m->data);
    m->data = NULL;
}

static int cpu_mem_info(dln_backend *be, size_t *free_bytes, size_t *total_bytes)
{
    (void)be;
    *free_bytes = 0;
    *total_bytes = 0;
    return DLN_OK;
}

static int cpu_upload(dln_backend *be, dln_mat *dst, const double *src, int ld_src)
{
    // dst is (rows, cols) in its dtype, src is host fp64 (rows, cols) with ld_src
    (void)be;
    for (int j = 0; j < dst->cols; j++) {
        const double *s = src + (size_t)j * ld_src;
        if (dst->dtype == DLN_F64) {
            memcpy((double *)dst->data + IDX(dst, 0, j), s, sizeof(double) * (size_t)dst->rows);
        } else {
            float *d = (float *)dst->data + IDX(dst, 0, j);
            for (int i = 0; i < dst->rows; i++) d[i] = (float)s[i];
        }
    }
    return DLN_OK;
}

static int cpu_download(dln_backend *be, const dln_mat *src, double *dst, int ld_dst)
{
    // src is (rows, cols) in its dtype, dst is host fp64 (rows, cols) with ld_dst
    (void)be;
    for (int j = 0; j < src->cols; j++) {
        double *d = dst + (size_t)j * ld_dst;
        if (src->dtype == DLN_F64) {
            memcpy(d, (const double *)src->data + IDX(src, 0, j), sizeof(double) * (size_t)src->rows);
        } else {
            const float *s = (const float *)src->data + IDX(src, 0, j);
            for (int i = 0; i < src->rows; i++) d[i] = s[i];
        }
    }
    return DLN_OK;
}

static int cpu_copy(dln_backend *be, dln_mat *dst, const dln_mat *src)
{
    // dst and src are (rows, cols)
    (void)be;
    size_t es = dln_dtype_size(src->dtype);
    for (int j = 0; j < src->cols; j++)
        memcpy((char *)dst->data + IDX(dst, 0, j) * es, (const char *)src->data + IDX(src, 0, j) * es,
               es * (size_t)src->rows);
    return DLN_OK;
}

static int cpu_transpose(dln_backend *be, dln_mat *dst, const dln_mat *src)
{
    // src is (r, c), dst is (c, r)
    (void)be;
    if (src->dtype == DLN_F64)
        cblas_domatcopy(CblasColMajor, CblasTrans, src->rows, src->cols, 1.0, src->data, src->ld,
                        dst->data, dst->ld);
    else
        cblas_somatcopy(CblasColMajor, CblasTrans, src->rows, src->cols, 1.0f, src->data, src->ld,
                        dst->data, dst->ld);
    return DLN_OK;
}

static int axpby_one(dln_backend *be, double alpha, const dln_mat *X, double beta, dln_mat *Y)
{
    // X and Y are (rows, cols): Y = alpha X + beta Y
    (void)be;
    int contiguous = X->ld == X->rows && Y->ld == Y->rows;
    int nvec = contiguous ? 1 : X->cols;
    int len = contiguous ? X->rows * X->cols : X->rows;
    for (int j = 0; j < nvec; j++) {
        if (X->dtype == DLN_F64) {
            const double *x = (const double *)X->data + IDX(X, 0, j);
            double *y = (double *)Y->data + IDX(Y, 0, j);
            cblas_daxpby(len, alpha, x, 1, beta, y, 1);
        } else {
            const float *x = (const float *)X->data + IDX(X, 0, j);
            float *y = (float *)Y->data + IDX(Y, 0, j);
            cblas_saxpby(len, (float)alpha, x, 1, (float)beta, y, 1);
        }
    }
    return DLN_OK;
}

/* OpenBLAS splits a dot product of more than 10000 elements over its threads, and the
 * partial sums then depend on how many it has: sums of fixed chunks below that keep the
 * result the same whatever the thread count (a batch member computed on a worker thread,
 * or a run with another OPENBLAS_NUM_THREADS). */
#define SUMSQ_CHUNK 8192

static int sumsq_one(dln_backend *be, const dln_mat *X, dln_mat *out, int index, int accumulate)
{
    // X is (rows, cols); out (n, 1) fp64: out[index] = (accumulate ? out[index] : 0) + sum_ij X_ij^2
    (void)be;
    double s = 0.0;
    if (X->dtype == DLN_F64 && X->ld == X->rows) { /* contiguous: dot products of SUMSQ_CHUNK */
        const double *x = X->data;
        size_t len = (size_t)X->rows * (size_t)X->cols;
        for (size_t at = 0; at < len; at += SUMSQ_CHUNK) {
            int c = len - at < SUMSQ_CHUNK ? (int)(len - at) : SUMSQ_CHUNK;
            s += cblas_ddot(c, x + at, 1, x + at, 1);
        }
    } else {
        for (int j = 0; j < X->cols; j++) {
            if (X->dtype == DLN_F64) {
                double nrm = cblas_dnrm2(X->rows, (const double *)X->data + IDX(X, 0, j), 1);
                s += nrm * nrm;
            } else {
                const float *x = (const float *)X->data + IDX(X, 0, j);
                for (int i = 0; i < X->rows; i++) s += (double)x[i] * (double)x[i];
            }
        }
    }
    double *r = (double *)out->data + index;
    *r = accumulate ? *r + s : s;
    return DLN_OK;
}

/* The operations on count members are loops of the operation on each member, so a member's
 * result is bit for bit what it gives alone. (A network spreads its members over the
 * backend's threads above this level: src/model/step.c issues each chunk of members'
 * operations from one thread.) */
static int cpu_gemm(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A,
                            size_t stride_a, const dln_mat *B, size_t stride_b, double beta, dln_mat *C,
                            size_t stride_c, int count)
{
    for (int b = 0; b < count; b++) {
        dln_mat a = dln_cpu_member(A, stride_a, b), bb = dln_cpu_member(B, stride_b, b), c = dln_cpu_member(C, stride_c, b);
        DLN_TRY(dln_cpu_gemm_one(be, trans_a, trans_b, alpha, &a, &bb, beta, &c, count == 1));
    }
    return DLN_OK;
}

static int cpu_axpby(dln_backend *be, double alpha, const dln_mat *av, const dln_mat *X, size_t stride_x,
                             double beta, const dln_mat *cv, dln_mat *Y, size_t stride_y, int count)
{
    // Y_b = (alpha av[b]) X_b + (beta cv[b]) Y_b; a zero factor of X never reads X_b
    for (int b = 0; b < count; b++) {
        double a = alpha * (av ? ((const double *)av->data)[b] : 1.0);
        double c = beta * (cv ? ((const double *)cv->data)[b] : 1.0);
        dln_mat x = dln_cpu_member(X, stride_x, b), y = dln_cpu_member(Y, stride_y, b);
        if (a == 0.0 && c == 1.0) continue;
        if (a == 0.0) x = y; /* Y = c Y: X is not read */
        DLN_TRY(axpby_one(be, a, &x, c, &y));
    }
    return DLN_OK;
}

static int cpu_sumsq(dln_backend *be, const dln_mat *X, size_t stride_x, int count, dln_mat *out, int index,
                             int accumulate)
{
    for (int b = 0; b < count; b++) {
        dln_mat x = dln_cpu_member(X, stride_x, b);
        DLN_TRY(sumsq_one(be, &x, out, index + b, accumulate));
    }
    return DLN_OK;
}

static int cpu_synchronize(dln_backend *be)
{
    (void)be;
    return DLN_OK;
}

/* LAPACK's info from a LAPACKE_*_work call; a positive info is not defined for these. */
static int lapack_info(dln_backend *be, const char *call, lapack_int info)
{
    if (info < 0) return dln_fail(be->err, DLN_ERUNTIME, "%s: argument %d is invalid", call, (int)-info);
    if (info > 0) return dln_fail(be->err, DLN_ERUNTIME, "%s: unexpected info %d", call, (int)info);
    return DLN_OK;
}

/* Workspace of lwork doubles for the query's answer q (at least 1). */
static double *cpu_work(dln_backend *be, double q, lapack_int *lwork)
{
    *lwork = q >= 1.0 ? (lapack_int)q : 1;
    double *w = malloc(sizeof(double) * (size_t)*lwork);
    if (!w) dln_fail(be->err, DLN_ENOMEM, "out of host memory for a LAPACK workspace of %d doubles", (int)*lwork);
    return w;
}

/* Singular vectors by LAPACK's divide and conquer (dgesdd, jobz 'S'), which computes U and VT
 * together (a missing one goes to scratch): 8x faster than dgesvd for a 256 x 256 matrix and
 * 19x for 1024 x 1024 here, where dgesvd's QR iteration on the vectors dominates the QR route
 * (docs/benchmarks.md). Values only stay with dgesvd. */
static int cpu_gesvd_vectors(dln_backend *be, dln_mat *A, double *s, dln_mat *U, dln_mat *VT)
{
    // A is (m, n) with m >= n, destroyed; U is (m, n) and VT (n, n), either possibly scratch
    int m = A->rows, n = A->cols;
    double *u = U ? U->data : malloc(sizeof(double) * (size_t)m * (size_t)n);
    double *vt = VT ? VT->data : malloc(sizeof(double) * (size_t)n * (size_t)n), q = 0.0, *work = NULL;
    lapack_int *iwork = malloc(sizeof(lapack_int) * 8 * (size_t)n), lwork = 0, info = 0;
    int ldu = U ? U->ld : m, ldvt = VT ? VT->ld : n, rc = DLN_OK;
    if (!u || !vt || !iwork) {
        rc = dln_fail(be->err, DLN_ENOMEM, "out of host memory in gesvd (%d x %d)", m, n);
        goto done;
    }
    info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, A->data, A->ld, s, u, ldu, vt, ldvt, &q, -1, iwork);
    if (!info && !(work = cpu_work(be, q, &lwork))) {
        rc = DLN_ENOMEM;
        goto done;
    }
    if (!info) info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, A->data, A->ld, s, u, ldu, vt, ldvt, work, lwork,
                                          iwork);
    if (info < 0) rc = dln_fail(be->err, DLN_ERUNTIME, "LAPACKE_dgesdd_work: argument %d is invalid", (int)-info);
    if (info > 0)
        rc = dln_fail(be->err, DLN_ERUNTIME, "LAPACKE_dgesdd_work: the divide and conquer did not converge (info %d)",
                      (int)info);
done:
    if (!U) free(u);
    if (!VT) free(vt);
    free(iwork), free(work);
    return rc;
}

static int cpu_gesvd(dln_backend *be, dln_mat *A, double *s, dln_mat *U, dln_mat *VT)
{
    // A is (m, n) with m >= n, destroyed; U is (m, n), VT is (n, n), s has n values
    int m = A->rows, n = A->cols;
    if (n == 0) return DLN_OK;
    if (U || VT) return cpu_gesvd_vectors(be, A, s, U, VT);
    double *superb = malloc(sizeof(double) * (size_t)(n > 1 ? n : 2));
    if (!superb) return dln_fail(be->err, DLN_ENOMEM, "out of host memory in gesvd");
    double dummy = 0.0;
    lapack_int info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'N', 'N', m, n, A->data, A->ld, s, &dummy, 1, &dummy, 1, superb);
    free(superb);
    if (info < 0) return dln_fail(be->err, DLN_ERUNTIME, "LAPACKE_dgesvd: argument %d is invalid", (int)-info);
    if (info > 0)
        return dln_fail(be->err, DLN_ERUNTIME, "LAPACKE_dgesvd: %d superdiagonals did not converge", (int)info);
    return DLN_OK;
}

/* geqrf through LAPACK's dgeqrt, whose reflectors are dgeqrf's (the same dlarfg on the same
 * columns) but whose panels are factored recursively (dgeqrt3: matrix-matrix products
 * instead of dgeqr2's rank-1 updates): 1.5x faster than dgeqrf on the solver's tall blocks
 * here (docs/benchmarks.md). tau_j is the diagonal of the block factors T that dgeqrt
 * returns alongside: T(1:ib, i:i+ib) per block of GEQRT_NB columns, T(j - i, j) = tau_j. */
#define GEQRT_NB 32

static int cpu_geqrf(dln_backend *be, dln_mat *A, dln_mat *tau)
{
    // A is (m, n), any shape, factored in place; tau receives k = min(m, n) scalars
    int m = A->rows, n = A->cols, k = m < n ? m : n, nb = k < GEQRT_NB ? k : GEQRT_NB;
    if (k == 0) return DLN_OK;
    double *T = malloc(sizeof(double) * (size_t)nb * (size_t)k), *work = malloc(sizeof(double) * (size_t)nb * (size_t)n);
    if (!T || !work) {
        free(T), free(work);
        return dln_fail(be->err, DLN_ENOMEM, "out of host memory for geqrf's block factors (%d x %d)", nb, k);
    }
    lapack_int info = LAPACKE_dgeqrt_work(LAPACK_COL_MAJOR, m, n, nb, A->data, A->ld, T, nb, work);
    double *t = tau->data;
    for (int j = 0; !info && j < k; j++) t[j] = T[(size_t)(j % nb) + (size_t)j * (size_t)nb];
    free(T), free(work);
    return lapack_info(be, "LAPACKE_dgeqrt_work", info);
}

static int cpu_ormqr(dln_backend *be, int trans, const dln_mat *A, const dln_mat *tau, dln_mat *C)
{
    // C (m, n) = Q^T C or Q C, Q from the k = min(m, cols of A) reflectors in A (m rows), tau
    int m = C->rows, n = C->cols, k = A->rows < A->cols ? A->rows : A->cols;
    if (m == 0 || n == 0 || k == 0) return DLN_OK;
    char t = trans ? 'T' : 'N';
    double q = 0.0;
    lapack_int lwork, info = LAPACKE_dormqr_work(LAPACK_COL_MAJOR, 'L', t, m, n, k, A->data, A->ld, tau->data,
                                                 C->data, C->ld, &q, -1);
    DLN_TRY(lapack_info(be, "LAPACKE_dormqr_work (workspace query)", info));
    double *work = cpu_work(be, q, &lwork);
    if (!work) return DLN_ENOMEM;
    info = LAPACKE_dormqr_work(LAPACK_COL_MAJOR, 'L', t, m, n, k, A->data, A->ld, tau->data, C->data, C->ld, work,
                               lwork);
    free(work);
    return lapack_info(be, "LAPACKE_dormqr_work", info);
}

static int cpu_triu(dln_backend *be, dln_mat *A)
{
    // A (rows, cols): entries (i, j) with i > j set to zero
    (void)be;
    size_t es = dln_dtype_size(A->dtype);
    for (int j = 0; j < A->cols && j + 1 < A->rows; j++)
        memset((char *)A->data + IDX(A, j + 1, j) * es, 0, es * (size_t)(A->rows - j - 1));
    return DLN_OK;
}

static void cpu_destroy(dln_backend *be) { free(be); }

static const dln_backend_ops cpu_ops = {
    .name = "cpu",
    .caps = DLN_CAP_THREADS,
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .mem_info = cpu_mem_info,
    .upload = cpu_upload,
    .download = cpu_download,
    .copy = cpu_copy,
    .transpose = cpu_transpose,
    .gemm = cpu_gemm,
    .axpby = cpu_axpby,
    .sumsq = cpu_sumsq,
    .loss_gradient = dln_cpu_loss_gradient,
    .loss_hessian = dln_cpu_loss_hessian,
    .synchronize = cpu_synchronize,
    .gesvd = cpu_gesvd,
    .geqrf = cpu_geqrf,
    .ormqr = cpu_ormqr,
    .triu = cpu_triu,
};

int dln_backend_cpu_create(dln_error *err, dln_backend **out)
{
    dln_backend *be = calloc(1, sizeof *be);
    if (!be) return dln_fail(err, DLN_ENOMEM, "out of host memory creating the CPU backend");
    be->ops = &cpu_ops;
    be->err = err;
    *out = be;
    return DLN_OK;
}
