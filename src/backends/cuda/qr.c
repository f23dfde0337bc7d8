/* qr.c: the CUDA backend's Householder QR operations (dln/ops.h): geqrf and ormqr by
 * cusolverDnDgeqrf / cusolverDnDormqr, and triu by the kernel of kernels/elementwise.cu.
 * The workspace follows gesvd's pattern: bufferSize is asked once per shape (a small table
 * of answers), one device buffer serves both operations and grows only when an answer
 * exceeds it, never during a capture (both operations refuse captures: they read devInfo,
 * which waits for the device). devInfo is checked for both signs after every call. tau
 * stays in device memory from geqrf to ormqr. Arguments arrive checked (src/backends/ops.c). */
#include "backends/cuda/cuda_internal.h"
#include "kernels.h" /* kernels/: the CUDA kernels' C launchers */

enum { QR_GEQRF = 1, QR_ORMQR = 2 };
#define QR_QUERIES ((int)(sizeof ((cuda_impl *)0)->qr_queries / sizeof ((cuda_impl *)0)->qr_queries[0]))

/* The workspace (lwork doubles, at least one) for a call of this shape, asking cuSOLVER
 * only for a shape not asked before, and growing the buffer only when it must. */
static int qr_workspace(dln_backend *be, int op, int trans, const dln_mat *A, const dln_mat *tau, const dln_mat *C,
                        int *lwork)
{
    cuda_impl *c = be->impl;
    int m = op == QR_GEQRF ? A->rows : C->rows, n = op == QR_GEQRF ? A->cols : C->cols;
    int k = A->rows < A->cols ? A->rows : A->cols, ldc = op == QR_GEQRF ? 0 : C->ld;
    struct dln_qr_query key = {op, m, n, k, trans, A->ld, ldc, 0}, *hit = NULL;
    for (int i = 0; i < QR_QUERIES && !hit; i++) {
        struct dln_qr_query *q = &c->qr_queries[i];
        if (q->op == key.op && q->m == m && q->n == n && q->k == k && q->trans == trans && q->lda == key.lda &&
            q->ldc == ldc)
            hit = q;
    }
    if (!hit) {
        int lw = 0;
        if (op == QR_GEQRF)
            CUSOLVER_CHECK(cusolverDnDgeqrf_bufferSize(c->solver, m, n, A->data, A->ld, &lw));
        else
            CUSOLVER_CHECK(cusolverDnDormqr_bufferSize(c->solver, CUBLAS_SIDE_LEFT, trans ? CUBLAS_OP_T : CUBLAS_OP_N,
                                                       m, n, k, A->data, A->ld, tau->data, C->data, C->ld, &lw));
        if (lw < 0) return dln_fail(be->err, DLN_ERUNTIME, "cuSOLVER asked for a negative workspace (%d)", lw);
        key.lwork = lw;
        hit = &c->qr_queries[c->qr_next];
        c->qr_next = (c->qr_next + 1) % QR_QUERIES;
        *hit = key;
    }
    *lwork = hit->lwork > 0 ? hit->lwork : 1;
    if ((size_t)*lwork <= c->qr_cap) return DLN_OK;
    if (c->qr_buf) { /* the calls that used it have been waited for (they read devInfo) */
        double *old = c->qr_buf;
        c->qr_buf = NULL;
        c->qr_cap = 0;
        CUDA_CHECK(cudaFree(old));
    }
    void *buf = NULL;
    DLN_TRY(dln_cuda_malloc(be, &buf, (size_t)*lwork * sizeof(double), "the geqrf/ormqr workspace"));
    c->qr_buf = buf;
    c->qr_cap = (size_t)*lwork;
    return DLN_OK;
}

/* Waits for the call just queued and checks its devInfo: negative names a bad argument,
 * positive is not defined for these routines and is reported as such. */
static int check_info(dln_backend *be, const char *call)
{
    cuda_impl *c = be->impl;
    int info = 0;
    CUDA_CHECK(cudaMemcpyAsync(&info, c->dev_info, sizeof info, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    if (info < 0) return dln_fail(be->err, DLN_ERUNTIME, "%s: argument %d is invalid (devInfo %d)", call, -info, info);
    if (info > 0) return dln_fail(be->err, DLN_ERUNTIME, "%s: unexpected devInfo %d", call, info);
    return DLN_OK;
}

int dln_cuda_geqrf(dln_backend *be, dln_mat *A, dln_mat *tau)
{
    // A is (m, n), any shape, factored in place; tau (device) receives min(m, n) scalars
    cuda_impl *c = be->impl;
    int lwork = 0;
    DLN_TRY(no_capture(be, "geqrf"));
    if (A->rows == 0 || A->cols == 0) return DLN_OK;
    DLN_TRY(qr_workspace(be, QR_GEQRF, 0, A, tau, NULL, &lwork));
    CUSOLVER_CHECK(cusolverDnDgeqrf(c->solver, A->rows, A->cols, A->data, A->ld, tau->data, c->qr_buf, lwork,
                                    c->dev_info));
    return check_info(be, "cusolverDnDgeqrf");
}

int dln_cuda_ormqr(dln_backend *be, int trans, const dln_mat *A, const dln_mat *tau, dln_mat *C)
{
    // C (m, n) = Q^T C or Q C from the left, Q from the min(m, cols of A) reflectors in A (m rows)
    cuda_impl *c = be->impl;
    int lwork = 0, k = A->rows < A->cols ? A->rows : A->cols;
    DLN_TRY(no_capture(be, "ormqr"));
    if (C->rows == 0 || C->cols == 0 || k == 0) return DLN_OK;
    DLN_TRY(qr_workspace(be, QR_ORMQR, trans, A, tau, C, &lwork));
    CUSOLVER_CHECK(cusolverDnDormqr(c->solver, CUBLAS_SIDE_LEFT, trans ? CUBLAS_OP_T : CUBLAS_OP_N, C->rows, C->cols,
                                    k, A->data, A->ld, tau->data, C->data, C->ld, c->qr_buf, lwork, c->dev_info));
    return check_info(be, "cusolverDnDormqr");
}

int dln_cuda_triu(dln_backend *be, dln_mat *A)
{
    // A (rows, cols): the entries below the diagonal set to zero (kernels/elementwise.cu)
    cuda_impl *c = be->impl;
    if (A->dtype == DLN_F64)
        CUDA_CHECK(dln_triu_f64(A->rows, A->cols, A->data, A->ld, c->stream));
    else
        CUDA_CHECK(dln_triu_f32(A->rows, A->cols, A->data, A->ld, c->stream));
    return DLN_OK;
}
