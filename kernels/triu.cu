/* triu.cu: the triangle kernel of the CUDA backend (the QR route's R without its
 * reflectors): the entries of a strided column-major block below its diagonal set to zero,
 * fp64 and fp32. The launchers are declared in kernels.h; they only enqueue work. */
#include "kernels.h"
#include "launch.h"
#include "strided_walk.h"

#define TRIU_THREADS 256
#define TRIU_MAX_BLOCKS 8192

// A is (rows, cols) with leading dim lda: entries (i, j) with i > j become zero, the rest
// are neither read nor written.
template <typename T>
__global__ void triu_kernel(long long rows, long long cols, T *a, long long lda)
{
    long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (dln_walk w = dln_walk_start(rows, cols, first, stride); w.e < w.n; dln_walk_next(&w))
        if (w.i > w.j) a[w.i + w.j * lda] = T(0);
}

// A is (rows, cols): one thread per element up to TRIU_MAX_BLOCKS blocks, then a grid-stride loop.
template <typename T>
static cudaError_t triu_launch(int rows, int cols, T *a, int lda, cudaStream_t stream)
{
    if (rows <= 1 || cols <= 0) return cudaSuccess; /* nothing below the diagonal */
    long long n = (long long)rows * cols;
    long long blocks = (n + TRIU_THREADS - 1) / TRIU_THREADS;
    if (blocks > TRIU_MAX_BLOCKS) blocks = TRIU_MAX_BLOCKS;
    DLN_LAUNCH(triu_kernel<T>, (unsigned)blocks, TRIU_THREADS, 0, stream, rows, cols, a, lda);
    return cudaGetLastError();
}

// A is (rows, cols), fp64, leading dim lda.
extern "C" cudaError_t dln_triu_f64(int rows, int cols, double *a, int lda, cudaStream_t stream)
{
    return triu_launch<double>(rows, cols, a, lda, stream);
}

// A is (rows, cols), fp32, leading dim lda.
extern "C" cudaError_t dln_triu_f32(int rows, int cols, float *a, int lda, cudaStream_t stream)
{
    return triu_launch<float>(rows, cols, a, lda, stream);
}
