/* kernels.h: C-callable launchers for the CUDA kernels of the CUDA backend
 * (elementwise.cu, reduce.cu in this folder). Included by ../backend_cuda.c (gcc) and
 * by the .cu files (nvcc). Every launcher enqueues its work on `stream`, never
 * synchronises (so it can be captured into a CUDA graph), and returns the launch status
 * (cudaGetLastError after the launch; cudaSuccess when there is nothing to launch).
 * Matrices are column-major with explicit leading dimensions, as in dln/ops.h. */
#ifndef DLN_KERNELS_H
#define DLN_KERNELS_H

#include <cuda_runtime.h>

/* The sum-of-squares reduction runs at most DLN_SUMSQ_BLOCKS blocks of DLN_SUMSQ_THREADS
 * threads in its first pass (fewer for small matrices, a number fixed by the element
 * count), then one block of DLN_SUMSQ_BLOCKS threads in its second pass: the order of
 * every addition is fixed by the shape, so the result is bitwise reproducible on any GPU.
 * The caller provides a device scratch array of DLN_SUMSQ_BLOCKS doubles. */
#define DLN_SUMSQ_BLOCKS 1024
#define DLN_SUMSQ_THREADS 256

/* Blocks of the first pass for n elements: clamp(ceil(n / (DLN_SUMSQ_THREADS * 8)), 1,
 * DLN_SUMSQ_BLOCKS), a function of the element count only. */
static inline int dln_sumsq_blocks(long long n)
{
    long long per_block = (long long)DLN_SUMSQ_THREADS * 8, want = (n + per_block - 1) / per_block;
    return want < 1 ? 1 : want > DLN_SUMSQ_BLOCKS ? DLN_SUMSQ_BLOCKS : (int)want;
}

#ifdef __cplusplus
extern "C" {
#endif

/* Y = alpha X + beta Y over the (rows, cols) block; X has leading dim ldx, Y has ldy.
 * As in BLAS axpby: beta == 0 does not read Y, alpha == 0 does not read X. */
cudaError_t dln_axpby_f64(int rows, int cols, double alpha, const double *x, int ldx, double beta,
                          double *y, int ldy, cudaStream_t stream);
cudaError_t dln_axpby_f32(int rows, int cols, float alpha, const float *x, int ldx, float beta,
                          float *y, int ldy, cudaStream_t stream);

/* A (rows, cols) with leading dim lda: the entries below the diagonal (i > j) set to
 * zero; the others untouched. */
cudaError_t dln_triu_f64(int rows, int cols, double *a, int lda, cudaStream_t stream);
cudaError_t dln_triu_f32(int rows, int cols, float *a, int lda, cudaStream_t stream);

/* *result = (accumulate ? *result : 0) + sum_ij X_ij^2 accumulated in fp64, where X is
 * (rows, cols) with leading dim ldx. partials: device scratch of DLN_SUMSQ_BLOCKS
 * doubles (work on one stream is serialised, so calls may share it). No atomics. */
cudaError_t dln_sumsq_f64(int rows, int cols, const double *x, int ldx, double *partials, double *result,
                          int accumulate, cudaStream_t stream);
cudaError_t dln_sumsq_f32(int rows, int cols, const float *x, int ldx, double *partials, double *result,
                          int accumulate, cudaStream_t stream);

/* Batched: count members, member b of X at x + b sx and of Y at y + b sy; factors
 * a_b = alpha av[b], c_b = beta cv[b] from device columns (NULL: 1). */
cudaError_t dln_axpby_batched_f64(int rows, int cols, int count, double alpha, const double *av, const double *x,
                                  int ldx, long long sx, double beta, const double *cv, double *y, int ldy,
                                  long long sy, cudaStream_t stream);
cudaError_t dln_axpby_batched_f32(int rows, int cols, int count, double alpha, const double *av, const float *x,
                                  int ldx, long long sx, double beta, const double *cv, float *y, int ldy,
                                  long long sy, cudaStream_t stream);
/* out[b] = (accumulate ? out[b] : 0) + sum of squares of member b; partials: device
 * scratch of count * dln_sumsq_blocks(rows * cols) doubles. */
cudaError_t dln_sumsq_batched_f64(int rows, int cols, int count, const double *x, int ldx, long long sx,
                                  double *partials, double *out, int accumulate, cudaStream_t stream);
cudaError_t dln_sumsq_batched_f32(int rows, int cols, int count, const float *x, int ldx, long long sx,
                                  double *partials, double *out, int accumulate, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
