/* reduce.cu: the deterministic sum-of-squares reduction of the CUDA backend. Two passes:
 * nb blocks of DLN_SUMSQ_THREADS threads each fold a fixed, strided subset of the
 * elements in fp64 and reduce it with a fixed shared-memory tree into one partial; then
 * one block of DLN_SUMSQ_BLOCKS threads folds the nb partials (zero-padded) with the same
 * kind of tree into the result. nb = clamp(ceil(n / (DLN_SUMSQ_THREADS * 8)), 1,
 * DLN_SUMSQ_BLOCKS) depends on the element count n only, so small matrices launch few
 * blocks; no atomics, and the order of additions depends only on the matrix shape, so
 * repeated runs (and graph replays) give bitwise identical results. */
#include "kernels.h"
#include "launch.h"
#include "strided_walk.h"
#include "tree_sum.h"

// X is (rows, cols) with leading dim ldx, rows >= 1; partials has gridDim.x entries.
// Thread t of block b sums x^2 over linear indices b * blockDim + t + k * (grid threads).
template <typename T>
__global__ void __launch_bounds__(DLN_SUMSQ_THREADS)
sumsq_partial_kernel(long long rows, long long cols, const T *__restrict__ x, long long ldx,
                     double *__restrict__ partials)
{
    __shared__ double sh[DLN_SUMSQ_THREADS];
    long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long stride = (long long)gridDim.x * blockDim.x;
    double sum = dln_block_sumsq(rows, cols, x, ldx, first, stride, sh);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

// partials has nb <= DLN_SUMSQ_BLOCKS entries, one per thread of the single block (the
// rest read as 0); result is one device double, overwritten or accumulated into.
__global__ void __launch_bounds__(DLN_SUMSQ_BLOCKS)
sumsq_final_kernel(const double *__restrict__ partials, int nb, double *result, int accumulate)
{
    __shared__ double sh[DLN_SUMSQ_BLOCKS];
    sh[threadIdx.x] = (int)threadIdx.x < nb ? partials[threadIdx.x] : 0.0;
    __syncthreads();
    dln_tree_sum(sh);
    if (threadIdx.x == 0) *result = accumulate ? *result + sh[0] : sh[0];
}

// X is (rows, cols) with leading dim ldx (an empty X gives a sum of 0, still written).
template <typename T>
static cudaError_t sumsq_launch(int rows, int cols, const T *x, int ldx, double *partials, double *result,
                                int accumulate, cudaStream_t stream)
{
    long long r = rows, c = cols;
    if (rows <= 0 || cols <= 0) {
        r = 1; /* keeps the index arithmetic defined; no element is visited */
        c = 0;
    }
    int nb = dln_sumsq_blocks(r * c);
    DLN_LAUNCH(sumsq_partial_kernel<T>, nb, DLN_SUMSQ_THREADS, 0, stream, r, c, x, ldx, partials);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    DLN_LAUNCH(sumsq_final_kernel, 1, DLN_SUMSQ_BLOCKS, 0, stream, partials, nb, result, accumulate);
    return cudaGetLastError();
}

// X is (rows, cols), fp64, leading dim ldx.
extern "C" cudaError_t dln_sumsq_f64(int rows, int cols, const double *x, int ldx, double *partials,
                                     double *result, int accumulate, cudaStream_t stream)
{
    return sumsq_launch<double>(rows, cols, x, ldx, partials, result, accumulate, stream);
}

// X is (rows, cols), fp32 (squared and summed in fp64), leading dim ldx.
extern "C" cudaError_t dln_sumsq_f32(int rows, int cols, const float *x, int ldx, double *partials,
                                     double *result, int accumulate, cudaStream_t stream)
{
    return sumsq_launch<float>(rows, cols, x, ldx, partials, result, accumulate, stream);
}
