/* sumsq.cu: the deterministic sum-of-squares reduction of the CUDA backend, for count
 * members side by side (member b at b x stride elements), a single matrix being one
 * member. Two passes: for each member nb blocks of DLN_SUMSQ_THREADS threads fold a fixed,
 * strided subset of its elements in fp64 and reduce it with a fixed shared-memory tree into
 * one partial (blockIdx.y = member); then one block of DLN_SUMSQ_BLOCKS threads per member
 * folds its nb partials (zero-padded) with the same kind of tree into the result.
 * nb = clamp(ceil(n / (DLN_SUMSQ_THREADS * 8)), 1, DLN_SUMSQ_BLOCKS) depends on a member's
 * element count n only, so small matrices launch few blocks; no atomics, and the order of
 * additions depends only on the matrix shape, so repeated runs (and graph replays) give
 * bitwise identical results, and a member's result does not depend on the count. (The
 * second pass, dln_partials_final_kernel, is tree_sum.h's: the loss kernels end with it too.) */
#include "kernels.h"
#include "launch.h"
#include "strided_walk.h"
#include "tree_sum.h"

#define MAX_GRID_Y 65535 /* members per launch (grid y limit) */

// Member b = blockIdx.y: X_b (rows, cols) with leading dim ldx at b * sx; its partial of
// block blockIdx.x into partials[b * gridDim.x + blockIdx.x].
template <typename T>
__global__ void __launch_bounds__(DLN_SUMSQ_THREADS)
sumsq_partial_kernel(long long rows, long long cols, const T *x, long long ldx, long long sx, double *partials,
                     int first_member)
{
    __shared__ double sh[DLN_SUMSQ_THREADS];
    int b = first_member + (int)blockIdx.y;
    const T *xb = x + (long long)b * sx;
    long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long stride = (long long)gridDim.x * blockDim.x;
    double sum = dln_block_sumsq(rows, cols, xb, ldx, first, stride, sh);
    if (threadIdx.x == 0) partials[(long long)b * gridDim.x + blockIdx.x] = sum;
}

// X_b is (rows, cols) with leading dim ldx (an empty X gives sums of 0, still written).
template <typename T>
static cudaError_t sumsq_launch(int rows, int cols, int count, const T *x, int ldx, long long sx, double *partials,
                                double *out, int accumulate, cudaStream_t stream)
{
    long long r = rows, c = cols;
    if (rows <= 0 || cols <= 0) r = 1, c = 0; /* keeps the index arithmetic defined; no element is visited */
    int nb = dln_sumsq_blocks((long long)r * c);
    for (int b0 = 0; b0 < count; b0 += MAX_GRID_Y) {
        int nm = count - b0 < MAX_GRID_Y ? count - b0 : MAX_GRID_Y;
        DLN_LAUNCH(sumsq_partial_kernel<T>, dim3((unsigned)nb, (unsigned)nm), DLN_SUMSQ_THREADS, 0, stream, r, c, x, ldx,
                   sx, partials, b0);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
        DLN_LAUNCH(dln_partials_final_kernel, (unsigned)nm, DLN_SUMSQ_BLOCKS, 0, stream, partials, nb, out, accumulate, b0);
        if ((e = cudaGetLastError()) != cudaSuccess) return e;
    }
    return cudaSuccess;
}

extern "C" cudaError_t dln_sumsq_f64(int rows, int cols, int count, const double *x, int ldx, long long sx,
                                     double *partials, double *out, int accumulate, cudaStream_t stream)
{
    return sumsq_launch<double>(rows, cols, count, x, ldx, sx, partials, out, accumulate, stream);
}

extern "C" cudaError_t dln_sumsq_f32(int rows, int cols, int count, const float *x, int ldx, long long sx,
                                     double *partials, double *out, int accumulate, cudaStream_t stream)
{
    return sumsq_launch<float>(rows, cols, count, x, ldx, sx, partials, out, accumulate, stream);
}
