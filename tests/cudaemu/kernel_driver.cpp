/* kernel_driver.cpp: runs dln's kernels (kernels/, through the C launchers of kernels.h)
 * on the emulated device without Criterion, so that ThreadSanitizer can watch them: built with
 * -fsanitize=thread by `make test-cuda-emu-tsan`, it runs every block's threads as pthreads
 * meeting at a barrier (CUDAEMU_THREADS=threads), and a missing __syncthreads in a shared-
 * memory reduction shows as a data race. Each result is also compared with a host loop
 * (sums of squares, axpby, and the losses' values and gradients).
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

/* The loss kernels (loss.cu) on count members (ld = rows + 3) against one shared target: each
 * member's value (the two-pass reduction: its races are what this run is for) and gradient
 * against the definitions in double, lp p = 4, huber delta = 0.5, logistic and softmax. */
template <typename T>
static void run_loss(int kind, double param, int rows, int cols, int count, cudaStream_t s, double *partials,
                     double *slots)
{
    int ld = rows + 3;
    long long stride = (long long)ld * cols;
    std::vector<double> hz((size_t)rows * cols * count), hy((size_t)rows * cols);
    for (double &v : hz)
        v = (double)(T)(4.0 * drand48() - 2.0);
    for (int j = 0; j < cols; j++) { /* labels in [0, 1]; softmax: one-hot columns */
        for (int i = 0; i < rows; i++)
            hy[i + (size_t)j * rows] = kind == 4 ? (i == j % rows) : kind == 3 ? (double)(T)drand48()
                                                                               : (double)(T)(4.0 * drand48() - 2.0);
    }
    T *z = upload<T>(hz, rows, cols * count, ld), *y = upload<T>(hy, rows, cols, ld);
    cudaError_t e;
    if constexpr (sizeof(T) == 8)
        e = dln_loss_gradient_f64(kind, param, rows, cols, count, y, ld, 0, z, ld, stride, partials, slots, s);
    else
        e = dln_loss_gradient_f32(kind, param, rows, cols, count, y, ld, 0, z, ld, stride, partials, slots, s);
    CUDA_OK(e);
    CUDA_OK(cudaStreamSynchronize(s));
    std::vector<double> got(count);
    std::vector<T> g((size_t)ld * cols * count);
    CUDA_OK(cudaMemcpy(got.data(), slots, sizeof(double) * count, cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(g.data(), z, sizeof(T) * g.size(), cudaMemcpyDeviceToHost));
    double gtol = sizeof(T) == 8 ? 1e-13 : 1e-6;
    for (int b = 0; b < count; b++) {
        double ref = 0, gerr = 0;
        for (int j = 0; j < cols; j++) {
            const double *zc = &hz[(size_t)b * rows * cols + (size_t)j * rows], *yc = &hy[(size_t)j * rows];
            double lse = 0, mx = zc[0];
            for (int i = 1; i < rows; i++) mx = std::fmax(mx, zc[i]);
            for (int i = 0; i < rows; i++) lse += std::exp(zc[i] - mx);
            lse = mx + std::log(lse);
            for (int i = 0; i < rows; i++) {
                double e2 = zc[i] - yc[i], a = std::fabs(e2), gw;
                if (kind == 1) ref += a * a * a * a / 4, gw = e2 * e2 * e2;
                else if (kind == 2) ref += a <= param ? e2 * e2 / 2 : param * (a - param / 2), gw = a <= param ? e2 : (e2 > 0 ? param : -param);
                else if (kind == 3) ref += std::log1p(std::exp(zc[i])) - yc[i] * zc[i], gw = 1 / (1 + std::exp(-zc[i])) - yc[i];
                else ref += yc[i] * (lse - zc[i]), gw = std::exp(zc[i] - lse) - yc[i];
                gerr = std::fmax(gerr, std::fabs((double)g[i + (size_t)(j + b * cols) * ld] - gw) / (1 + std::fabs(gw)));
            }
        }
        check(std::fabs(got[b] - ref) <= 1e-12 * ref, "loss value of a member", got[b], ref);
        check(gerr <= gtol, "loss gradient of a member (largest error)", gerr, 0.0);
    }
    CUDA_OK(cudaFree(z));
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
            for (int kind = 1; kind <= 4; kind++) {
                double param = kind == 1 ? 4.0 : 0.5;
                run_loss<double>(kind, param, sh[0], sh[1], count, s, partials, slots);
                run_loss<float>(kind, param, sh[0], sh[1], count, s, partials, slots);
            }
        }
    CUDA_OK(cudaFree(partials));
    CUDA_OK(cudaFree(slots));
    CUDA_OK(cudaFree(factors));
    CUDA_OK(cudaStreamDestroy(s));
    printf("kernel_driver: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
