/* elementwise.cu: element-wise kernels of the CUDA backend over strided column-major
 * blocks: axpby (Y = alpha X + beta Y) and triu (zero below the diagonal), fp64 and fp32.
 * Launchers are declared in kernels.h; they only enqueue work on the given stream. */
#include "kernels.h"
#include "launch.h"
#include "strided_walk.h"

#define AXPBY_THREADS 256
#define AXPBY_MAX_BLOCKS 8192

// X is (rows, cols) with leading dim ldx, Y is (rows, cols) with leading dim ldy.
// Same special cases as BLAS axpby: beta == 0 never reads Y (so NaN/Inf in Y do not
// survive), alpha == 0 never reads X. X and Y may be the same matrix (no __restrict__).
template <typename T>
__global__ void axpby_kernel(long long rows, long long cols, T alpha, const T *x,
                             long long ldx, T beta, T *y, long long ldy)
{
    long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long stride = (long long)gridDim.x * blockDim.x;
    for (dln_walk w = dln_walk_start(rows, cols, first, stride); w.e < w.n; dln_walk_next(&w)) {
        T v = alpha == T(0) ? T(0) : alpha * x[w.i + w.j * ldx];
        T *yp = y + w.i + w.j * ldy;
        if (beta != T(0)) v += beta * *yp;
        *yp = v;
    }
}

// X and Y are (rows, cols) with leading dims ldx and ldy: one thread per element up to
// AXPBY_MAX_BLOCKS blocks, then a grid-stride loop.
template <typename T>
static cudaError_t axpby_launch(int rows, int cols, T alpha, const T *x, int ldx, T beta, T *y, int ldy,
                                cudaStream_t stream)
{
    if (rows <= 0 || cols <= 0) return cudaSuccess;
    long long n = (long long)rows * cols;
    long long blocks = (n + AXPBY_THREADS - 1) / AXPBY_THREADS;
    if (blocks > AXPBY_MAX_BLOCKS) blocks = AXPBY_MAX_BLOCKS;
    DLN_LAUNCH(axpby_kernel<T>, (unsigned)blocks, AXPBY_THREADS, 0, stream, rows, cols, alpha, x, ldx, beta, y, ldy);
    return cudaGetLastError();
}

// X and Y are (rows, cols), fp64, leading dims ldx and ldy.
extern "C" cudaError_t dln_axpby_f64(int rows, int cols, double alpha, const double *x, int ldx,
                                     double beta, double *y, int ldy, cudaStream_t stream)
{
    return axpby_launch<double>(rows, cols, alpha, x, ldx, beta, y, ldy, stream);
}

// X and Y are (rows, cols), fp32, leading dims ldx and ldy.
extern "C" cudaError_t dln_axpby_f32(int rows, int cols, float alpha, const float *x, int ldx, float beta,
                                     float *y, int ldy, cudaStream_t stream)
{
    return axpby_launch<float>(rows, cols, alpha, x, ldx, beta, y, ldy, stream);
}

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

// A is (rows, cols): one thread per element up to AXPBY_MAX_BLOCKS blocks, as axpby.
template <typename T>
static cudaError_t triu_launch(int rows, int cols, T *a, int lda, cudaStream_t stream)
{
    if (rows <= 1 || cols <= 0) return cudaSuccess; /* nothing below the diagonal */
    long long n = (long long)rows * cols;
    long long blocks = (n + AXPBY_THREADS - 1) / AXPBY_THREADS;
    if (blocks > AXPBY_MAX_BLOCKS) blocks = AXPBY_MAX_BLOCKS;
    DLN_LAUNCH(triu_kernel<T>, (unsigned)blocks, AXPBY_THREADS, 0, stream, rows, cols, a, lda);
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
