/* kernel_driver.cpp: runs dln's kernels (kernels/, through the C launchers of kernels.h)
 * on the emulated device without Criterion, so that ThreadSanitizer can watch them: built with
 * -fsanitize=thread by `make test-cuda-emu-tsan`, it runs every block's threads as pthreads
 * meeting at a barrier (CUDAEMU_THREADS=threads), and a missing __syncthreads in a shared-
 * memory reduction shows as a data race. Each result is also compared with a host loop.
 * Exit status: 0 when every check passed, 1 otherwise (ThreadSanitizer exits 66 on a race). */
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels.h"

static int failures = 0, checks = 0;

#define CUDA_OK(call)                                                                                                  \
    do {                                                                                                               \
        cudaError_t e_ = (call);                                                                                       \
        if (e_ != cudaSuccess) {                                                                                       \
            fprintf(stderr, "kernel_driver: %s: %s\n", #call, cudaGetErrorName(e_));                                   \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

static void check(bool ok, const char *what, double got, double want)
{
    checks++;
    if (ok) return;
    failures++;
    fprintf(stderr, "kernel_driver: %s: got %.17g, want %.17g\n", what, got, want);
}

/* x (rows, cols) with leading dim ld, values in (-1, 1), in dtype T on the device. */
template <typename T> static T *upload(const std::vector<double> &h, int rows, int cols, int ld)
{
    std::vector<T> t((size_t)ld * cols, T(0));
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++)
            t[i + (size_t)j * ld] = (T)h[i + (size_t)j * rows];
    void *d = nullptr;
    CUDA_OK(cudaMalloc(&d, sizeof(T) * t.size()));
    CUDA_OK(cudaMemcpy(d, t.data(), sizeof(T) * t.size(), cudaMemcpyHostToDevice));
    return (T *)d;
}

/* count members of (rows, cols) side by side (member b at b x stride, ld = rows + 3): the sum
 * of squares of each (accumulated twice) and axpby with per-member factors on each. */
template <typename T>
static void run(int rows, int cols, int count, cudaStream_t s, double *partials, double *slots, double *factors)
{
    int ld = rows + 3;
    long long stride = (long long)ld * cols;
    std::vector<double> hx((size_t)rows * cols * count), hy(hx.size()), fa(count), fc(count);
    for (double &v : hx)
        v = 2.0 * drand48() - 1.0;
    for (double &v : hy)
        v = 2.0 * drand48() - 1.0;
    for (int b = 0; b < count; b++)
        fa[b] = 0.5 + b, fc[b] = b == 1 ? 0.0 : -1.5; /* a zero factor: Y_1 is not read */
    T *x = upload<T>(hx, rows, cols * count, ld), *y = upload<T>(hy, rows, cols * count, ld);
    CUDA_OK(cudaMemcpy(factors, fa.data(), sizeof(double) * count, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(factors + count, fc.data(), sizeof(double) * count, cudaMemcpyHostToDevice));
    cudaError_t e;
    if constexpr (sizeof(T) == 8) {
        e = dln_sumsq_f64(rows, cols, count, x, ld, stride, partials, slots, 0, s);
        if (!e) e = dln_sumsq_f64(rows, cols, count, x, ld, stride, partials, slots, 1, s);
        if (!e) e = dln_axpby_f64(rows, cols, count, 1.0, factors, x, ld, stride, 1.0, factors + count, y, ld, stride, s);
    } else {
        e = dln_sumsq_f32(rows, cols, count, x, ld, stride, partials, slots, 0, s);
        if (!e) e = dln_sumsq_f32(rows, cols, count, x, ld, stride, partials, slots, 1, s);
        if (!e) e = dln_axpby_f32(rows, cols, count, 1.0, factors, x, ld, stride, 1.0, factors + count, y, ld, stride, s);
    }
    CUDA_OK(e);
    CUDA_OK(cudaStreamSynchronize(s));
    std::vector<double> got(count);
    CUDA_OK(cudaMemcpy(got.data(), slots, sizeof(double) * count, cudaMemcpyDeviceToHost));
    std::vector<T> hy2((size_t)ld * cols * count);
    CUDA_OK(cudaMemcpy(hy2.data(), y, sizeof(T) * hy2.size(), cudaMemcpyDeviceToHost));
    double tol = sizeof(T) == 8 ? 1e-15 : 1e-6;
    for (int b = 0; b < count; b++) {
        double ref = 0;
        for (size_t e2 = 0; e2 < (size_t)rows * cols; e2++) {
            double v = (double)(T)hx[(size_t)b * rows * cols + e2];
            ref += v * v;
        }
        check(std::fabs(got[b] - 2 * ref) <= 1e-12 * 2 * ref, "sumsq of a member (accumulated twice)", got[b], 2 * ref);
        for (int j = 0; j < cols; j++)
            for (int i = 0; i < rows; i++) {
                size_t h = (size_t)b * rows * cols + i + (size_t)j * rows;
                double want = (double)(T)fa[b] * (double)(T)hx[h] + (double)(T)fc[b] * (double)(T)hy[h];
                double v = (double)hy2[i + (size_t)(j + b * cols) * ld];
                if (std::fabs(v - want) > tol * (1 + std::fabs(want))) {
                    check(false, "axpby element", v, want);
                    j = cols;
                    break;
                }
            }
        checks++;
    }
    CUDA_OK(cudaFree(x));
    CUDA_OK(cudaFree(y));
}

int main()
{
    srand48(12345);
    cudaStream_t s;
    CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    const int max_count = 3;
    double *partials = nullptr, *slots = nullptr, *factors = nullptr;
    CUDA_OK(cudaMalloc((void **)&partials, sizeof(double) * DLN_SUMSQ_BLOCKS * max_count));
    CUDA_OK(cudaMalloc((void **)&slots, sizeof(double) * max_count));
    CUDA_OK(cudaMalloc((void **)&factors, sizeof(double) * 2 * max_count));
    const int shapes[][2] = {{33, 17}, {1, 1}, {257, 31}};
    for (const auto &sh : shapes)
        for (int count = 1; count <= max_count; count += 2) {
            run<double>(sh[0], sh[1], count, s, partials, slots, factors);
            run<float>(sh[0], sh[1], count, s, partials, slots, factors);
        }
    CUDA_OK(cudaFree(partials));
    CUDA_OK(cudaFree(slots));
    CUDA_OK(cudaFree(factors));
    CUDA_OK(cudaStreamDestroy(s));
    printf("kernel_driver: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
