/* kernel_driver.cpp: runs dln's kernels (kernels/, through the C launchers of dln_kernels.h)
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

template <typename T> static void run(int rows, int cols, cudaStream_t s, double *partials, double *slots)
{
    int ld = rows + 3;
    std::vector<double> hx((size_t)rows * cols), hy(hx.size());
    for (double &v : hx)
        v = 2.0 * drand48() - 1.0;
    for (double &v : hy)
        v = 2.0 * drand48() - 1.0;
    T *x = upload<T>(hx, rows, cols, ld), *y = upload<T>(hy, rows, cols, ld);
    double ref = 0;
    for (double v : hx)
        ref += (double)(T)v * (double)(T)v;
    cudaError_t e;
    if constexpr (sizeof(T) == 8) {
        e = dln_sumsq_f64(rows, cols, x, ld, partials, slots, 0, s);
        if (!e) e = dln_sumsq_f64(rows, cols, x, ld, partials, slots, 1, s);
        if (!e) e = dln_axpby_f64(rows, cols, 0.5, x, ld, -1.5, y, ld, s);
    } else {
        e = dln_sumsq_f32(rows, cols, x, ld, partials, slots, 0, s);
        if (!e) e = dln_sumsq_f32(rows, cols, x, ld, partials, slots, 1, s);
        if (!e) e = dln_axpby_f32(rows, cols, 0.5f, x, ld, -1.5f, y, ld, s);
    }
    CUDA_OK(e);
    CUDA_OK(cudaStreamSynchronize(s));
    double got = 0;
    CUDA_OK(cudaMemcpy(&got, slots, sizeof got, cudaMemcpyDeviceToHost));
    check(std::fabs(got - 2 * ref) <= 1e-12 * 2 * ref, "sumsq (accumulated twice)", got, 2 * ref);
    std::vector<T> hy2((size_t)ld * cols);
    CUDA_OK(cudaMemcpy(hy2.data(), y, sizeof(T) * hy2.size(), cudaMemcpyDeviceToHost));
    double tol = sizeof(T) == 8 ? 1e-15 : 1e-6;
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++) {
            double want = 0.5 * (double)(T)hx[i + (size_t)j * rows] - 1.5 * (double)(T)hy[i + (size_t)j * rows];
            double v = (double)hy2[i + (size_t)j * ld];
            if (std::fabs(v - want) > tol * (1 + std::fabs(want))) {
                check(false, "axpby element", v, want);
                j = cols;
                break;
            }
        }
    checks++;
    CUDA_OK(cudaFree(x));
    CUDA_OK(cudaFree(y));
}

int main()
{
    srand48(12345);
    cudaStream_t s;
    CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    double *partials = nullptr, *slots = nullptr;
    CUDA_OK(cudaMalloc((void **)&partials, sizeof(double) * DLN_SUMSQ_BLOCKS));
    CUDA_OK(cudaMalloc((void **)&slots, sizeof(double)));
    const int shapes[][2] = {{33, 17}, {1, 1}, {257, 31}};
    for (const auto &sh : shapes) {
        run<double>(sh[0], sh[1], s, partials, slots);
        run<float>(sh[0], sh[1], s, partials, slots);
    }
    CUDA_OK(cudaFree(partials));
    CUDA_OK(cudaFree(slots));
    CUDA_OK(cudaStreamDestroy(s));
    printf("kernel_driver: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
