/* strided_walk.h: device-side helper shared by the .cu files (nvcc, or g++ for the emulated
 * device of tests/cudaemu). A grid-stride loop over the elements of a column-major
 * (rows, cols) block with leading dimension ld, visiting linear index e = i + j * rows.
 * The (i, j) pair is advanced incrementally so that no 64-bit division happens inside the
 * loop. */
#ifndef DLN_STRIDED_WALK_H
#define DLN_STRIDED_WALK_H

#if defined(__CUDACC__) || defined(DLN_CUDA_EMU)

struct dln_walk {
    long long e, n;      /* current linear index, element count rows * cols */
    long long i, j;      /* current (row, column) */
    long long rows;      /* rows of the block (>= 1) */
    long long si, sj;    /* the stride split into rows and columns */
    long long stride;    /* linear stride: threads in the grid (or a fixed number) */
};

// Block is (rows, cols), rows >= 1; thread number `first` starts at e = first and
// advances by `stride` elements.
__device__ inline dln_walk dln_walk_start(long long rows, long long cols, long long first,
                                          long long stride)
{
    dln_walk w;
    w.e = first;
    w.n = rows * cols;
    w.rows = rows;
    w.i = first % rows;
    w.j = first / rows;
    w.stride = stride;
    w.si = stride % rows;
    w.sj = stride / rows;
    return w;
}

// Advances to e + stride: i + si < 2 rows, so at most one carry into j.
__device__ inline void dln_walk_next(dln_walk *w)
{
    w->e += w->stride;
    w->i += w->si;
    w->j += w->sj;
    if (w->i >= w->rows) {
        w->i -= w->rows;
        w->j += 1;
    }
}

#endif /* __CUDACC__ || DLN_CUDA_EMU */

#endif
