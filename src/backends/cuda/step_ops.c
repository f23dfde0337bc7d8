/* step_ops.c: the CUDA backend's operations of a training step, for count members at once
 * (a single matrix is one member): GEMMs as one cuBLAS call, cublas{D,S}gemm
 * (cublasGemmEx with TF32) for one member and cublas{D,S}gemmStridedBatched
 * (cublasGemmStridedBatchedEx) for more; axpby, sums of squares and the losses as the
 * kernels of kernels/axpby.cu, kernels/sumsq.cu and kernels/loss.cu. They only enqueue work, so a step can be captured
 * into a graph; the reduction's scratch for several members grows outside captures only
 * (one member uses the backend's fixed scratch). */
#include "backends/cuda/cuda_internal.h"
#include "kernels.h"   /* kernels/: the CUDA kernels' C launchers */
#include "loss_math.h" /* kernels/: the loss numbers */

/* The reduction's scratch for several members holds at least n doubles (never grown while
 * capturing). */
static int ensure_batch_partials(dln_backend *be, size_t n)
{
    cuda_impl *c = be->impl;
    if (n <= c->batch_partials_cap) return DLN_OK;
    DLN_TRY(no_capture(be, "a batched reduction (its scratch must grow: run the operation once before capturing it)"));
    return dln_cuda_grow(be, &c->batch_partials, &c->batch_partials_cap, n, "the batched reduction scratch");
}

/* One member: C (m, n) = alpha op(A) (m, k) op(B) (k, n) + beta C, the plain cuBLAS calls. */
static int gemm_one(dln_backend *be, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, double alpha,
                    const dln_mat *A, const dln_mat *B, double beta, dln_mat *C)
{
    cuda_impl *c = be->impl;
    if (C->dtype == DLN_F64) {
        CUBLAS_CHECK(cublasDgemm(c->blas, ta, tb, m, n, k, &alpha, A->data, A->ld, B->data, B->ld, &beta,
                                 C->data, C->ld));
    } else if (be->math_mode == DLN_MATH_TF32) {
        const float fa = (float)alpha, fb = (float)beta;
        DLN_TRY(dln_cuda_set_math(be, CUBLAS_TF32_TENSOR_OP_MATH));
        CUBLAS_CHECK(cublasGemmEx(c->blas, ta, tb, m, n, k, &fa, A->data, CUDA_R_32F, A->ld, B->data,
                                  CUDA_R_32F, B->ld, &fb, C->data, CUDA_R_32F, C->ld,
                                  CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
    } else {
        const float fa = (float)alpha, fb = (float)beta;
        DLN_TRY(dln_cuda_set_math(be, CUBLAS_DEFAULT_MATH));
        CUBLAS_CHECK(cublasSgemm(c->blas, ta, tb, m, n, k, &fa, A->data, A->ld, B->data, B->ld, &fb,
                                 C->data, C->ld));
    }
    return DLN_OK;
}

int dln_cuda_gemm(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A, size_t stride_a,
                  const dln_mat *B, size_t stride_b, double beta, dln_mat *C, size_t stride_c, int count)
{
    // C_b (m, n) = alpha op(A_b) (m, k) op(B_b) (k, n) + beta C_b, b = 0..count-1
    cuda_impl *c = be->impl;
    int m = C->rows, n = C->cols, k = trans_a ? A->rows : A->cols;
    if (m == 0 || n == 0) return DLN_OK;
    cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (count == 1) return gemm_one(be, ta, tb, m, n, k, alpha, A, B, beta, C);
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

int dln_cuda_axpby(dln_backend *be, double alpha, const dln_mat *av, const dln_mat *X, size_t stride_x, double beta,
                   const dln_mat *cv, dln_mat *Y, size_t stride_y, int count)
{
    // Y_b (rows, cols) = (alpha av[b]) X_b + (beta cv[b]) Y_b (kernels/axpby.cu)
    cuda_impl *c = be->impl;
    const double *a = av ? av->data : NULL, *cf = cv ? cv->data : NULL;
    long long sx = (long long)stride_x, sy = (long long)stride_y;
    if (X->dtype == DLN_F64)
        CUDA_CHECK(dln_axpby_f64(X->rows, X->cols, count, alpha, a, X->data, X->ld, sx, beta, cf, Y->data,
                                         Y->ld, sy, c->stream));
    else
        CUDA_CHECK(dln_axpby_f32(X->rows, X->cols, count, alpha, a, X->data, X->ld, sx, beta, cf, Y->data,
                                         Y->ld, sy, c->stream));
    return DLN_OK;
}

int dln_cuda_sumsq(dln_backend *be, const dln_mat *X, size_t stride_x, int count, dln_mat *out, int index,
                   int accumulate)
{
    // out[index + b] = (accumulate ? out[index + b] : 0) + ||X_b||^2 (kernels/sumsq.cu)
    cuda_impl *c = be->impl;
    long long elems = X->rows > 0 && X->cols > 0 ? (long long)X->rows * X->cols : 0;
    if (count > 1) DLN_TRY(ensure_batch_partials(be, (size_t)count * (size_t)dln_sumsq_blocks(elems)));
    double *partials = count > 1 ? c->batch_partials : c->partials; /* one member: DLN_SUMSQ_BLOCKS, always enough */
    double *r = (double *)out->data + index;
    long long sx = (long long)stride_x;
    if (X->dtype == DLN_F64)
        CUDA_CHECK(dln_sumsq_f64(X->rows, X->cols, count, X->data, X->ld, sx, partials, r, accumulate, c->stream));
    else
        CUDA_CHECK(dln_sumsq_f32(X->rows, X->cols, count, X->data, X->ld, sx, partials, r, accumulate, c->stream));
    return DLN_OK;
}

_Static_assert(DLN_LOSS_LP == DLN_LOSS_MATH_LP && DLN_LOSS_HUBER == DLN_LOSS_MATH_HUBER &&
                   DLN_LOSS_LOGISTIC == DLN_LOSS_MATH_LOGISTIC && DLN_LOSS_SOFTMAX == DLN_LOSS_MATH_SOFTMAX &&
                   DLN_LOSS_MASKED == DLN_LOSS_MATH_MASKED,
               "dln_loss_kind and loss_math.h number the losses alike");

int dln_cuda_loss_gradient(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, dln_mat *Z,
                           size_t stride_z, int count, dln_mat *out, int index)
{
    // Z_b (rows, cols) := dL/dZ at Z_b; out[index + b] = L(Z_b) (kernels/loss.cu)
    cuda_impl *c = be->impl;
    int nb = dln_loss_blocks((int)loss->kind, Z->rows, Z->cols);
    if (out && count > 1) DLN_TRY(ensure_batch_partials(be, (size_t)count * (size_t)nb));
    double *partials = count > 1 ? c->batch_partials : c->partials; /* one member: DLN_SUMSQ_BLOCKS, always enough */
    double *r = out ? (double *)out->data + index : NULL;
    long long sy = (long long)stride_y, sz = (long long)stride_z;
    if (Z->dtype == DLN_F64)
        CUDA_CHECK(dln_loss_gradient_f64((int)loss->kind, loss->param, Z->rows, Z->cols, count, Y->data, Y->ld, sy,
                                         Z->data, Z->ld, sz, partials, r, c->stream));
    else
        CUDA_CHECK(dln_loss_gradient_f32((int)loss->kind, loss->param, Z->rows, Z->cols, count, Y->data, Y->ld, sy,
                                         Z->data, Z->ld, sz, partials, r, c->stream));
    return DLN_OK;
}

int dln_cuda_loss_hessian(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, const dln_mat *Z,
                          size_t stride_z, dln_mat *D, size_t stride_d, int count)
{
    // D_b (rows, cols) := (d^2 L / dZ^2 at Z_b) D_b (kernels/loss.cu)
    cuda_impl *c = be->impl;
    long long sy = (long long)stride_y, sz = (long long)stride_z, sd = (long long)stride_d;
    if (Z->dtype == DLN_F64)
        CUDA_CHECK(dln_loss_hessian_f64((int)loss->kind, loss->param, Z->rows, Z->cols, count, Y->data, Y->ld, sy,
                                        Z->data, Z->ld, sz, D->data, D->ld, sd, c->stream));
    else
        CUDA_CHECK(dln_loss_hessian_f32((int)loss->kind, loss->param, Z->rows, Z->cols, count, Y->data, Y->ld, sy,
                                        Z->data, Z->ld, sz, D->data, D->ld, sd, c->stream));
    return DLN_OK;
}
