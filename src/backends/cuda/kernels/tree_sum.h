/* tree_sum.h: the fixed shared-memory tree that folds a block's partial sums, shared by
 * the single (reduce.cu) and the batched (batched.cu) sum of squares, so both add in the
 * same order and give the same bits. */
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

#endif
