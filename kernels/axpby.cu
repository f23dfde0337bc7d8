/* axpby.cu: Y_b = a_b X_b + c_b Y_b for count members side by side over strided
 * column-major blocks (member b at b x stride elements; blockIdx.y = member), with
 * a_b = alpha av[b] and c_b = beta cv[b] read from device columns where given (so a captured
 * graph follows new values), else alpha and beta: the one axpby of the CUDA backend, a
 * single matrix being one member. As in BLAS: c_b == 0 never reads Y_b (NaN or Inf there do
 * not survive), and a_b == 0 never reads X_b. X and Y may be the same matrix. */
#include "kernels.h"
#include "launch.h"
#include "strided_walk.h"

#define AXPBY_THREADS 256
#define AXPBY_MAX_BLOCKS 1024
#define MAX_GRID_Y 65535 /* members per launch (grid y limit) */

// X_b, Y_b are (rows, cols) with leading dims ldx, ldy at b * sx, b * sy. No __restrict__:
// X and Y may alias.
template <typename T>
__global__ void axpby_kernel(long long rows, long long cols, double alpha, const double *av, const T *x, long long ldx,
                             long long sx, double beta, const double *cv, T *y, long long ldy, long long sy,
                             int first_member)
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

// One thread per element of a member up to AXPBY_MAX_BLOCKS blocks (then a grid-stride
// loop), one grid row per member.
template <typename T>
static cudaError_t axpby_launch(int rows, int cols, int count, double alpha, const double *av, const T *x, int ldx,
                                long long sx, double beta, const double *cv, T *y, int ldy, long long sy,
                                cudaStream_t stream)
{
    if (rows <= 0 || cols <= 0) return cudaSuccess;
    long long n = (long long)rows * cols, blocks = (n + AXPBY_THREADS - 1) / AXPBY_THREADS;
    if (blocks > AXPBY_MAX_BLOCKS) blocks = AXPBY_MAX_BLOCKS;
    for (int b0 = 0; b0 < count; b0 += MAX_GRID_Y) {
        dim3 grid((unsigned)blocks, (unsigned)(count - b0 < MAX_GRID_Y ? count - b0 : MAX_GRID_Y));
        DLN_LAUNCH(axpby_kernel<T>, grid, AXPBY_THREADS, 0, stream, rows, cols, alpha, av, x, ldx, sx, beta, cv, y,
                   ldy, sy, b0);
        cudaError_t e = cudaGetLastError();
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}

extern "C" cudaError_t dln_axpby_f64(int rows, int cols, int count, double alpha, const double *av, const double *x,
                                     int ldx, long long sx, double beta, const double *cv, double *y, int ldy,
                                     long long sy, cudaStream_t stream)
{
    return axpby_launch<double>(rows, cols, count, alpha, av, x, ldx, sx, beta, cv, y, ldy, sy, stream);
}

extern "C" cudaError_t dln_axpby_f32(int rows, int cols, int count, double alpha, const double *av, const float *x,
                                     int ldx, long long sx, double beta, const double *cv, float *y, int ldy,
                                     long long sy, cudaStream_t stream)
{
    return axpby_launch<float>(rows, cols, count, alpha, av, x, ldx, sx, beta, cv, y, ldy, sy, stream);
}
