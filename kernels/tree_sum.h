/* tree_sum.h: the fixed shared-memory tree that folds a block's partial sums, a block's
 * partial sum of squares (sumsq.cu's first pass), and the second pass that folds a member's
 * partials (sumsq.cu and loss.cu). Needs strided_walk.h and kernels.h. */
#ifndef DLN_TREE_SUM_H
#define DLN_TREE_SUM_H

// sh has blockDim.x entries (a power of two); on return sh[0] holds their sum, added
// pairwise in a fixed order. Every thread of the block must call it.
__device__ static inline void dln_tree_sum(double *sh)
{
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
}

// The sum of x^2 over the elements of X (rows, cols; leading dim ldx) this thread visits in
// a grid-stride walk from `first` by `stride`, folded over the block by the tree above into
// sh (blockDim.x entries): the block's partial, returned to every thread.
template <typename T>
__device__ static inline double dln_block_sumsq(long long rows, long long cols, const T *x, long long ldx,
                                                long long first, long long stride, double *sh)
{
    double acc = 0.0;
    for (dln_walk w = dln_walk_start(rows, cols, first, stride); w.e < w.n; dln_walk_next(&w)) {
        double v = (double)x[w.i + w.j * ldx];
        acc += v * v;
    }
    sh[threadIdx.x] = acc;
    __syncthreads();
    dln_tree_sum(sh);
    return sh[0];
}

// The second pass of a two-pass reduction: member b = blockIdx.x (plus first_member) has nb
// partials at partials[b * nb ..] (one per thread, the rest read as 0; nb <= blockDim.x =
// DLN_SUMSQ_BLOCKS), folded by the tree into out[b], overwritten or accumulated into.
static __global__ void __launch_bounds__(DLN_SUMSQ_BLOCKS)
dln_partials_final_kernel(const double *partials, int nb, double *out, int accumulate, int first_member)
{
    __shared__ double sh[DLN_SUMSQ_BLOCKS];
    int b = first_member + (int)blockIdx.x;
    sh[threadIdx.x] = (int)threadIdx.x < nb ? partials[(long long)b * nb + threadIdx.x] : 0.0;
    __syncthreads();
    dln_tree_sum(sh);
    if (threadIdx.x == 0) out[b] = accumulate ? out[b] + sh[0] : sh[0];
}

#endif
