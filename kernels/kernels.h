/* kernels.h: C-callable launchers for the CUDA kernels of the CUDA backend (axpby.cu,
 * sumsq.cu, loss.cu, triu.cu in this folder: one file per kernel; each kernel computes any number of
 * members side by side, a single matrix being one member). Included by ../backend_cuda.c (gcc) and
 * by the .cu files (nvcc). Every launcher enqueues its work on `stream`, never
 * synchronises (so it can be captured into a CUDA graph), and returns the launch status
 * (cudaGetLastError after the launch; cudaSuccess when there is nothing to launch).
 * Matrices are column-major with explicit leading dimensions, as in dln/ops.h. */
#ifndef DLN_KERNELS_H
#define DLN_KERNELS_H

#include <cuda_runtime.h>

/* The sum-of-squares reduction runs at most DLN_SUMSQ_BLOCKS blocks of DLN_SUMSQ_THREADS
 * threads per member in its first pass (fewer for small matrices, a number fixed by the
 * element count), then one block of DLN_SUMSQ_BLOCKS threads per member in its second pass:
 * the order of every addition is fixed by the shape, so the result is bitwise reproducible
 * on any GPU. The caller provides device scratch of DLN_SUMSQ_BLOCKS doubles per member. */
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

/* Y_b = a_b X_b + c_b Y_b over the (rows, cols) blocks of count members, member b of X at
 * x + b sx (leading dim ldx) and of Y at y + b sy (ldy), with a_b = alpha av[b] and
 * c_b = beta cv[b] from device columns (av, cv NULL: alpha and beta themselves). As in BLAS
 * axpby: c_b == 0 does not read Y_b, a_b == 0 does not read X_b (axpby.cu). */
cudaError_t dln_axpby_f64(int rows, int cols, int count, double alpha, const double *av, const double *x, int ldx,
                          long long sx, double beta, const double *cv, double *y, int ldy, long long sy,
                          cudaStream_t stream);
cudaError_t dln_axpby_f32(int rows, int cols, int count, double alpha, const double *av, const float *x, int ldx,
                          long long sx, double beta, const double *cv, float *y, int ldy, long long sy,
                          cudaStream_t stream);

/* out[b] = (accumulate ? out[b] : 0) + sum of squares of member b, X_b (rows, cols) with
 * leading dim ldx at x + b sx, accumulated in fp64; partials: device scratch of
 * count * dln_sumsq_blocks(rows * cols) doubles (work on one stream is serialised, so calls
 * may share it). No atomics (sumsq.cu). */
cudaError_t dln_sumsq_f64(int rows, int cols, int count, const double *x, int ldx, long long sx, double *partials,
                          double *out, int accumulate, cudaStream_t stream);
cudaError_t dln_sumsq_f32(int rows, int cols, int count, const float *x, int ldx, long long sx, double *partials,
                          double *out, int accumulate, cudaStream_t stream);

/* The losses of dln/ops.h (kind: loss_math.h's numbers, which are dln_loss_kind's), for count
 * members, Y_b at y + b sy, Z_b at z + b sz, D_b at d + b sd, each (rows, cols) with its
 * leading dimension (loss.cu). The gradient: Z_b := dL/dZ in place and, where out is not
 * NULL, out[b] = L(Z_b) in fp64, with partials device scratch of count * dln_loss_blocks(kind,
 * rows, cols) doubles (at most DLN_SUMSQ_BLOCKS per member). The Hessian: D_b := (d^2 L/dZ^2
 * at Z_b) D_b. cudaErrorInvalidValue for an unknown kind. */
int dln_loss_blocks(int kind, int rows, int cols);
cudaError_t dln_loss_gradient_f64(int kind, double param, int rows, int cols, int count, const double *y, int ldy,
                                  long long sy, double *z, int ldz, long long sz, double *partials, double *out,
                                  cudaStream_t stream);
cudaError_t dln_loss_gradient_f32(int kind, double param, int rows, int cols, int count, const float *y, int ldy,
                                  long long sy, float *z, int ldz, long long sz, double *partials, double *out,
                                  cudaStream_t stream);
cudaError_t dln_loss_hessian_f64(int kind, double param, int rows, int cols, int count, const double *y, int ldy,
                                 long long sy, const double *z, int ldz, long long sz, double *d, int ldd,
                                 long long sd, cudaStream_t stream);
cudaError_t dln_loss_hessian_f32(int kind, double param, int rows, int cols, int count, const float *y, int ldy,
                                 long long sy, const float *z, int ldz, long long sz, float *d, int ldd,
                                 long long sd, cudaStream_t stream);

/* A (rows, cols) with leading dim lda: the entries below the diagonal (i > j) set to
 * zero; the others untouched (triu.cu). */
cudaError_t dln_triu_f64(int rows, int cols, double *a, int lda, cudaStream_t stream);
cudaError_t dln_triu_f32(int rows, int cols, float *a, int lda, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
