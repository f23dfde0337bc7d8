/* loss.cu: the loss kernels of the CUDA backend (dln/ops.h's dln_loss_gradient_batched and
 * dln_loss_hessian_batched) for count members side by side (member b at b x stride elements;
 * blockIdx.y = member), fp64 and fp32, with the arithmetic of loss_math.h (shared with the
 * CPU backend). The gradient kernel overwrites Z with dL/dZ and, when a value is asked,
 * folds each thread's fp64 sum of the loss over its fixed, strided subset of the member
 * (elements for lp, huber, logistic and masked; whole columns for softmax) with the fixed tree into
 * one partial per block; tree_sum.h's second pass folds a member's partials into its value.
 * As in sumsq.cu the block count depends on the shape only and there are no atomics, so a
 * member's value is bitwise reproducible and the same in any batch. The Hessian kernel
 * applies d^2L/dZ^2 at Z to D in place, elementwise or column by column. */
#include "kernels.h"
#include "launch.h"
#include "loss_math.h"
#include "strided_walk.h"
#include "tree_sum.h"

#define MAX_GRID_Y 65535 /* members per launch (grid y limit) */
#define HESSIAN_THREADS 256

// loss_math.h's softmax columns by storage type.
__device__ static inline void softmax_column(int rows, double *z, const double *y, double *value)
{
    dln_softmax_column_f64(rows, z, y, value);
}
__device__ static inline void softmax_column(int rows, float *z, const float *y, double *value)
{
    dln_softmax_column_f32(rows, z, y, value);
}
__device__ static inline void softmax_hessian_column(int rows, const double *z, double *d)
{
    dln_softmax_hessian_column_f64(rows, z, d);
}
__device__ static inline void softmax_hessian_column(int rows, const float *z, float *d)
{
    dln_softmax_hessian_column_f32(rows, z, d);
}

// Member b: Z_b (rows, cols) at z + b sz (leading dim ldz) := dL/dZ against Y_b at y + b sy;
// with partials, the block's part of L(Z_b) into partials[b * gridDim.x + blockIdx.x].
template <typename T, int K>
__global__ void __launch_bounds__(DLN_SUMSQ_THREADS)
loss_gradient_kernel(long long rows, long long cols, double param, const T *y, long long ldy, long long sy, T *z,
                     long long ldz, long long sz, double *partials, int first_member)
{
    __shared__ double sh[DLN_SUMSQ_THREADS];
    int b = first_member + (int)blockIdx.y;
    const T *yb = y + (long long)b * sy;
    T *zb = z + (long long)b * sz;
    long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long stride = (long long)gridDim.x * blockDim.x;
    double acc = 0.0;
    if (K == DLN_LOSS_MATH_SOFTMAX) {
        for (long long j = first; j < cols; j += stride) {
            double v = 0.0;
            softmax_column((int)rows, zb + j * ldz, yb + j * ldy, partials ? &v : NULL);
            acc += v;
        }
    } else if (!partials) { /* the derivative alone: no value asked */
        for (dln_walk w = dln_walk_start(rows, cols, first, stride); w.e < w.n; dln_walk_next(&w)) {
            T *zp = zb + w.i + w.j * ldz;
            *zp = (T)dln_loss_elem_grad(K, param, (double)*zp, (double)yb[w.i + w.j * ldy]);
        }
    } else {
        for (dln_walk w = dln_walk_start(rows, cols, first, stride); w.e < w.n; dln_walk_next(&w)) {
            T *zp = zb + w.i + w.j * ldz;
            double g;
            acc += dln_loss_elem(K, param, (double)*zp, (double)yb[w.i + w.j * ldy], &g);
            *zp = (T)g;
        }
    }
    if (!partials) return; /* the same for every thread of the block: no barrier is skipped by some */
    sh[threadIdx.x] = acc;
    __syncthreads();
    dln_tree_sum(sh);
    if (threadIdx.x == 0) partials[(long long)b * gridDim.x + blockIdx.x] = sh[0];
}

// Member b: D_b := (d^2 L / dZ^2 at Z_b) D_b.
template <typename T, int K>
__global__ void loss_hessian_kernel(long long rows, long long cols, double param, const T *y, long long ldy,
                                    long long sy, const T *z, long long ldz, long long sz, T *d, long long ldd,
                                    long long sd, int first_member)
{
    int b = first_member + (int)blockIdx.y;
    const T *yb = y + (long long)b * sy, *zb = z + (long long)b * sz;
    T *db = d + (long long)b * sd;
    long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long stride = (long long)gridDim.x * blockDim.x;
    if (K == DLN_LOSS_MATH_SOFTMAX) {
        for (long long j = first; j < cols; j += stride) softmax_hessian_column((int)rows, zb + j * ldz, db + j * ldd);
    } else {
        for (dln_walk w = dln_walk_start(rows, cols, first, stride); w.e < w.n; dln_walk_next(&w)) {
            T *dp = db + w.i + w.j * ldd;
            double h = dln_loss_elem_h(K, param, (double)zb[w.i + w.j * ldz], (double)yb[w.i + w.j * ldy]);
            *dp = (T)(h * (double)*dp);
        }
    }
}

// Blocks per member: the elementwise losses as sumsq (a function of the element count), softmax
// one thread per column up to DLN_SUMSQ_BLOCKS blocks.
static int loss_blocks(int kind, long long rows, long long cols)
{
    if (kind != DLN_LOSS_MATH_SOFTMAX) return dln_sumsq_blocks(rows * cols);
    long long want = (cols + DLN_SUMSQ_THREADS - 1) / DLN_SUMSQ_THREADS;
    return want < 1 ? 1 : want > DLN_SUMSQ_BLOCKS ? DLN_SUMSQ_BLOCKS : (int)want;
}

extern "C" int dln_loss_blocks(int kind, int rows, int cols) { return loss_blocks(kind, rows, cols); }

template <typename T, int K>
static cudaError_t gradient_launch(int rows, int cols, int count, double param, const T *y, int ldy, long long sy,
                                   T *z, int ldz, long long sz, double *partials, double *out, cudaStream_t stream)
{
    if (rows <= 0 || cols <= 0) return cudaSuccess; /* no prediction: nothing (the ops layer never sends one) */
    int nb = loss_blocks(K, rows, cols);
    for (int b0 = 0; b0 < count; b0 += MAX_GRID_Y) {
        int nm = count - b0 < MAX_GRID_Y ? count - b0 : MAX_GRID_Y;
        DLN_LAUNCH((loss_gradient_kernel<T, K>), dim3((unsigned)nb, (unsigned)nm), DLN_SUMSQ_THREADS, 0, stream,
                   rows, cols, param, y, ldy, sy, z, ldz, sz, out ? partials : (double *)0, b0);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess || !out) return e;
        DLN_LAUNCH(dln_partials_final_kernel, (unsigned)nm, DLN_SUMSQ_BLOCKS, 0, stream, partials, nb, out, 0, b0);
        if ((e = cudaGetLastError()) != cudaSuccess) return e;
    }
    return cudaSuccess;
}

template <typename T, int K>
static cudaError_t hessian_launch(int rows, int cols, int count, double param, const T *y, int ldy, long long sy,
                                  const T *z, int ldz, long long sz, T *d, int ldd, long long sd, cudaStream_t stream)
{
    if (rows <= 0 || cols <= 0) return cudaSuccess;
    long long units = K == DLN_LOSS_MATH_SOFTMAX ? cols : (long long)rows * cols;
    long long blocks = (units + HESSIAN_THREADS - 1) / HESSIAN_THREADS;
    if (blocks > DLN_SUMSQ_BLOCKS) blocks = DLN_SUMSQ_BLOCKS;
    for (int b0 = 0; b0 < count; b0 += MAX_GRID_Y) {
        int nm = count - b0 < MAX_GRID_Y ? count - b0 : MAX_GRID_Y;
        DLN_LAUNCH((loss_hessian_kernel<T, K>), dim3((unsigned)blocks, (unsigned)nm), HESSIAN_THREADS, 0, stream,
                   rows, cols, param, y, ldy, sy, z, ldz, sz, d, ldd, sd, b0);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

template <typename T>
static cudaError_t gradient_kind(int kind, int rows, int cols, int count, double param, const T *y, int ldy,
                                 long long sy, T *z, int ldz, long long sz, double *partials, double *out,
                                 cudaStream_t stream)
{
    switch (kind) {
    case DLN_LOSS_MATH_LP:
        return gradient_launch<T, DLN_LOSS_MATH_LP>(rows, cols, count, param, y, ldy, sy, z, ldz, sz, partials, out,
                                                    stream);
    case DLN_LOSS_MATH_HUBER:
        return gradient_launch<T, DLN_LOSS_MATH_HUBER>(rows, cols, count, param, y, ldy, sy, z, ldz, sz, partials,
                                                       out, stream);
    case DLN_LOSS_MATH_LOGISTIC:
        return gradient_launch<T, DLN_LOSS_MATH_LOGISTIC>(rows, cols, count, param, y, ldy, sy, z, ldz, sz, partials,
                                                          out, stream);
    case DLN_LOSS_MATH_MASKED:
        return gradient_launch<T, DLN_LOSS_MATH_MASKED>(rows, cols, count, param, y, ldy, sy, z, ldz, sz, partials,
                                                        out, stream);
    case DLN_LOSS_MATH_SOFTMAX:
        return gradient_launch<T, DLN_LOSS_MATH_SOFTMAX>(rows, cols, count, param, y, ldy, sy, z, ldz, sz, partials,
                                                         out, stream);
    default: return cudaErrorInvalidValue;
    }
}

template <typename T>
static cudaError_t hessian_kind(int kind, int rows, int cols, int count, double param, const T *y, int ldy,
                                long long sy, const T *z, int ldz, long long sz, T *d, int ldd, long long sd,
                                cudaStream_t stream)
{
    switch (kind) {
    case DLN_LOSS_MATH_LP:
        return hessian_launch<T, DLN_LOSS_MATH_LP>(rows, cols, count, param, y, ldy, sy, z, ldz, sz, d, ldd, sd,
                                                   stream);
    case DLN_LOSS_MATH_HUBER:
        return hessian_launch<T, DLN_LOSS_MATH_HUBER>(rows, cols, count, param, y, ldy, sy, z, ldz, sz, d, ldd, sd,
                                                      stream);
    case DLN_LOSS_MATH_LOGISTIC:
        return hessian_launch<T, DLN_LOSS_MATH_LOGISTIC>(rows, cols, count, param, y, ldy, sy, z, ldz, sz, d, ldd,
                                                         sd, stream);
    case DLN_LOSS_MATH_MASKED:
        return hessian_launch<T, DLN_LOSS_MATH_MASKED>(rows, cols, count, param, y, ldy, sy, z, ldz, sz, d, ldd, sd,
                                                       stream);
    case DLN_LOSS_MATH_SOFTMAX:
        return hessian_launch<T, DLN_LOSS_MATH_SOFTMAX>(rows, cols, count, param, y, ldy, sy, z, ldz, sz, d, ldd,
                                                        sd, stream);
    default: return cudaErrorInvalidValue;
    }
}

extern "C" cudaError_t dln_loss_gradient_f64(int kind, double param, int rows, int cols, int count, const double *y,
                                             int ldy, long long sy, double *z, int ldz, long long sz,
                                             double *partials, double *out, cudaStream_t stream)
{
    return gradient_kind<double>(kind, rows, cols, count, param, y, ldy, sy, z, ldz, sz, partials, out, stream);
}

extern "C" cudaError_t dln_loss_gradient_f32(int kind, double param, int rows, int cols, int count, const float *y,
                                             int ldy, long long sy, float *z, int ldz, long long sz,
                                             double *partials, double *out, cudaStream_t stream)
{
    return gradient_kind<float>(kind, rows, cols, count, param, y, ldy, sy, z, ldz, sz, partials, out, stream);
}

extern "C" cudaError_t dln_loss_hessian_f64(int kind, double param, int rows, int cols, int count, const double *y,
                                            int ldy, long long sy, const double *z, int ldz, long long sz, double *d,
                                            int ldd, long long sd, cudaStream_t stream)
{
    return hessian_kind<double>(kind, rows, cols, count, param, y, ldy, sy, z, ldz, sz, d, ldd, sd, stream);
}

extern "C" cudaError_t dln_loss_hessian_f32(int kind, double param, int rows, int cols, int count, const float *y,
                                            int ldy, long long sy, const float *z, int ldz, long long sz, float *d,
                                            int ldd, long long sd, cudaStream_t stream)
{
    return hessian_kind<float>(kind, rows, cols, count, param, y, ldy, sy, z, ldz, sz, d, ldd, sd, stream);
}
