/* batched.c: the CUDA backend's batched operations (dln/ops.h): GEMMs as one
 * cublas{D,S}gemmStridedBatched (cublasGemmStridedBatchedEx with TF32), axpby and sums of
 * squares as the batched kernels of kernels/batched.cu. Like the single operations they
 * only enqueue work, so a batched step can be captured into a graph; the reduction's
 * scratch grows outside captures only. */
#include "backends/cuda/cuda_internal.h"
#include "kernels.h" /* kernels/: the CUDA kernels' C launchers */

/* The batched reduction's scratch holds at least n doubles (never grown while capturing). */
static int ensure_batch_partials(dln_backend *be, size_t n)
{
    cuda_impl *c = be->impl;
    if (n <= c->batch_partials_cap) return DLN_OK;
    DLN_TRY(no_capture(be, "sumsq_batched (its scratch must grow: run the operation once before capturing it)"));
    if (c->batch_partials) {
        CUDA_CHECK(cudaStreamSynchronize(c->stream));
        double *old = c->batch_partials;
        c->batch_partials = NULL;
        c->batch_partials_cap = 0;
        CUDA_CHECK(cudaFree(old));
    }
    void *p = NULL;
    DLN_TRY(dln_cuda_malloc(be, &p, n * sizeof(double), "the batched reduction scratch"));
    c->batch_partials = p;
    c->batch_partials_cap = n;
    return DLN_OK;
}

int dln_cuda_gemm_batched(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A, size_t stride_a,
                          const dln_mat *B, size_t stride_b, double beta, dln_mat *C, size_t stride_c, int count)
{
    // C_b (m, n) = alpha op(A_b) (m, k) op(B_b) (k, n) + beta C_b, b = 0..count-1
    cuda_impl *c = be->impl;
    int m = C->rows, n = C->cols, k = trans_a ? A->rows : A->cols;
    if (m == 0 || n == 0) return DLN_OK;
    cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    long long sa = (long long)stride_a, sb = (long long)stride_b, sc = (long long)stride_c;
    if (C->dtype == DLN_F64) {
        CUBLAS_CHECK(cublasDgemmStridedBatched(c->blas, ta, tb, m, n, k, &alpha, A->data, A->ld, sa, B->data, B->ld,
                                               sb, &beta, C->data, C->ld, sc, count));
    } else if (be->math_mode == DLN_MATH_TF32) {
        const float fa = (float)alpha, fb = (float)beta;
        DLN_TRY(dln_cuda_set_math(be, CUBLAS_TF32_TENSOR_OP_MATH));
        CUBLAS_CHECK(cublasGemmStridedBatchedEx(c->blas, ta, tb, m, n, k, &fa, A->data, CUDA_R_32F, A->ld, sa,
                                                B->data, CUDA_R_32F, B->ld, sb, &fb, C->data, CUDA_R_32F, C->ld, sc,
                                                count, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
    } else {
        const float fa = (float)alpha, fb = (float)beta;
        DLN_TRY(dln_cuda_set_math(be, CUBLAS_DEFAULT_MATH));
        CUBLAS_CHECK(cublasSgemmStridedBatched(c->blas, ta, tb, m, n, k, &fa, A->data, A->ld, sa, B->data, B->ld, sb,
                                               &fb, C->data, C->ld, sc, count));
    }
    return DLN_OK;
}

int dln_cuda_axpby_batched(dln_backend *be, double alpha, const dln_mat *av, const dln_mat *X, size_t stride_x,
                           double beta, const dln_mat *cv, dln_mat *Y, size_t stride_y, int count)
{
    // Y_b (rows, cols) = (alpha av[b]) X_b + (beta cv[b]) Y_b (kernels/batched.cu)
    cuda_impl *c = be->impl;
    const double *a = av ? av->data : NULL, *cf = cv ? cv->data : NULL;
    long long sx = (long long)stride_x, sy = (long long)stride_y;
    if (X->dtype == DLN_F64)
        CUDA_CHECK(dln_axpby_batched_f64(X->rows, X->cols, count, alpha, a, X->data, X->ld, sx, beta, cf, Y->data,
                                         Y->ld, sy, c->stream));
    else
        CUDA_CHECK(dln_axpby_batched_f32(X->rows, X->cols, count, alpha, a, X->data, X->ld, sx, beta, cf, Y->data,
                                         Y->ld, sy, c->stream));
    return DLN_OK;
}

int dln_cuda_sumsq_batched(dln_backend *be, const dln_mat *X, size_t stride_x, int count, dln_mat *out, int index,
                           int accumulate)
{
    // out[index + b] = (accumulate ? out[index + b] : 0) + ||X_b||^2 (kernels/batched.cu)
    cuda_impl *c = be->impl;
    long long elems = X->rows > 0 && X->cols > 0 ? (long long)X->rows * X->cols : 0;
    DLN_TRY(ensure_batch_partials(be, (size_t)count * (size_t)dln_sumsq_blocks(elems)));
    double *r = (double *)out->data + index;
    long long sx = (long long)stride_x;
    if (X->dtype == DLN_F64)
        CUDA_CHECK(dln_sumsq_batched_f64(X->rows, X->cols, count, X->data, X->ld, sx, c->batch_partials, r,
                                         accumulate, c->stream));
    else
        CUDA_CHECK(dln_sumsq_batched_f32(X->rows, X->cols, count, X->data, X->ld, sx, c->batch_partials, r,
                                         accumulate, c->stream));
    return DLN_OK;
}
