/* batched.cu: the batched element-wise and reduction kernels of the CUDA backend: count
 * members side by side, member b at b x stride elements (blockIdx.y = member). axpby
 * with per-member factors read from device columns (so a captured graph follows new
 * values), and the sum of squares of every member with the single reduction's fixed
 * shapes (reduce.cu), so each member's result is bit for bit the single kernel's. */
#include "kernels.h"
#include "launch.h"
#include "strided_walk.h"
#include "tree_sum.h"

#define AXPBY_THREADS 256
#define AXPBY_MAX_BLOCKS 1024
#define MAX_GRID_Y 65535 /* members per launch (grid y limit) */

// X_b, Y_b are (rows, cols) with leading dims ldx, ldy at b * sx, b * sy. Factors
// a = alpha av[b], c = beta cv[b] (av, cv may be NULL: 1). As axpby_kernel: a == 0 never
// reads X_b, c == 0 never reads Y_b.
template <typename T>
__global__ void axpby_batched_kernel(long long rows, long long cols, double alpha, const double *av, const T *x,
                                     long long ldx, long long sx, double beta, const double *cv, T *y,
                                     long long ldy, long long sy, int first_member)
{
    int b = first_member + (int)blockIdx.y;
    T a = (T)(alpha * (av ? av[b] : 1.0)), c = (T)(beta * (cv ? cv[b] : 1.0));
    const T *xb = x + (long long)b * sx;
    T *yb = y + (long long)b * sy;
    long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (dln_walk w = dln_walk_start(rows, cols, first, stride); w.e < w.n; dln_walk_next(&w)) {
        T v = a == T(0) ? T(0) : a * xb[w.i + w.j * ldx];
        T *yp = yb + w.i + w.j * ldy;
        if (c != T(0)) v += c * *yp;
        *yp = v;
    }
}

template <typename T>
static cudaError_t axpby_batched_launch(int rows, int cols, int count, double alpha, const double *av, const T *x,
                                        int ldx, long long sx, double beta, const double *cv, T *y, int ldy,
                                        long long sy, cudaStream_t stream)
{
    if (rows <= 0 || cols <= 0) return cudaSuccess;
    long long n = (long long)rows * cols, blocks = (n + AXPBY_THREADS - 1) / AXPBY_THREADS;
    if (blocks > AXPBY_MAX_BLOCKS) blocks = AXPBY_MAX_BLOCKS;
    for (int b0 = 0; b0 < count; b0 += MAX_GRID_Y) {
        dim3 grid((unsigned)blocks, (unsigned)(count - b0 < MAX_GRID_Y ? count - b0 : MAX_GRID_Y));
        DLN_LAUNCH(axpby_batched_kernel<T>, grid, AXPBY_THREADS, 0, stream, rows, cols, alpha, av, x, ldx, sx, beta,
                   cv, y, ldy, sy, b0);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

extern "C" cudaError_t dln_axpby_batched_f64(int rows, int cols, int count, double alpha, const double *av,
                                             const double *x, int ldx, long long sx, double beta, const double *cv,
                                             double *y, int ldy, long long sy, cudaStream_t stream)
{
    return axpby_batched_launch<double>(rows, cols, count, alpha, av, x, ldx, sx, beta, cv, y, ldy, sy, stream);
}

extern "C" cudaError_t dln_axpby_batched_f32(int rows, int cols, int count, double alpha, const double *av,
                                             const float *x, int ldx, long long sx, double beta, const double *cv,
                                             float *y, int ldy, long long sy, cudaStream_t stream)
{
    return axpby_batched_launch<float>(rows, cols, count, alpha, av, x, ldx, sx, beta, cv, y, ldy, sy, stream);
}

// Member b = blockIdx.y: X_b (rows, cols) with leading dim ldx at b * sx; partials[b * nb + blockIdx.x].
template <typename T>
__global__ void __launch_bounds__(DLN_SUMSQ_THREADS)
sumsq_batched_partial_kernel(long long rows, long long cols, const T *x, long long ldx, long long sx,
                             double *partials, int first_member)
{
    __shared__ double sh[DLN_SUMSQ_THREADS];
    int b = first_member + (int)blockIdx.y;
    const T *xb = x + (long long)b * sx;
    long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long stride = (long long)gridDim.x * blockDim.x;
    double sum = dln_block_sumsq(rows, cols, xb, ldx, first, stride, sh);
    if (threadIdx.x == 0) partials[(long long)b * gridDim.x + blockIdx.x] = sum;
}

// Member b = blockIdx.x: its nb partials into out[b].
__global__ void __launch_bounds__(DLN_SUMSQ_BLOCKS)
sumsq_batched_final_kernel(const double *partials, int nb, double *out, int accumulate, int first_member)
{
    __shared__ double sh[DLN_SUMSQ_BLOCKS];
    int b = first_member + (int)blockIdx.x;
    sh[threadIdx.x] = (int)threadIdx.x < nb ? partials[(long long)b * nb + threadIdx.x] : 0.0;
    __syncthreads();
    dln_tree_sum(sh);
    if (threadIdx.x == 0) out[b] = accumulate ? out[b] + sh[0] : sh[0];
}

template <typename T>
static cudaError_t sumsq_batched_launch(int rows, int cols, int count, const T *x, int ldx, long long sx,
                                        double *partials, double *out, int accumulate, cudaStream_t stream)
{
    long long r = rows, c = cols;
    if (rows <= 0 || cols <= 0) r = 1, c = 0;
    int nb = dln_sumsq_blocks((long long)r * c);
    for (int b0 = 0; b0 < count; b0 += MAX_GRID_Y) {
        int nm = count - b0 < MAX_GRID_Y ? count - b0 : MAX_GRID_Y;
        DLN_LAUNCH(sumsq_batched_partial_kernel<T>, dim3((unsigned)nb, (unsigned)nm), DLN_SUMSQ_THREADS, 0, stream, r,
                   c, x, ldx, sx, partials, b0);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
        DLN_LAUNCH(sumsq_batched_final_kernel, (unsigned)nm, DLN_SUMSQ_BLOCKS, 0, stream, partials, nb, out, accumulate,
                   b0);
        if ((e = cudaGetLastError()) != cudaSuccess) return e;
    }
    return cudaSuccess;
}

extern "C" cudaError_t dln_sumsq_batched_f64(int rows, int cols, int count, const double *x, int ldx, long long sx,
                                             double *partials, double *out, int accumulate, cudaStream_t stream)
{
    return sumsq_batched_launch<double>(rows, cols, count, x, ldx, sx, partials, out, accumulate, stream);
}

extern "C" cudaError_t dln_sumsq_batched_f32(int rows, int cols, int count, const float *x, int ldx, long long sx,
                                             double *partials, double *out, int accumulate, cudaStream_t stream)
{
    return sumsq_batched_launch<float>(rows, cols, count, x, ldx, sx, partials, out, accumulate, stream);
}
