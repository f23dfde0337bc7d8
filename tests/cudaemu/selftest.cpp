/* selftest.cpp: the emulated device's own contracts, each shown to be enforced: for every
 * rule in README.md a call that breaks it and the documented status it must get (and a call
 * that keeps it and succeeds). Compiled like the kernels (cudaemu_kernel.h force-included), so
 * it can launch kernels of its own through DLN_LAUNCH. Run by `make test-cuda-emu` with its
 * stderr (the emulator's expected violation lines) in $(EMU_BUILD)/selftest.err; prints
 * "selftest: N passed, M failed" and exits 1 when any check failed. Checks that leave the
 * device in a sticky error state run in a forked child. */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "launch.h"

static int passed = 0, failed = 0;
#define CHECK(cond, what)                                                                                              \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            printf("selftest: FAILED: %s (%s:%d)\n", what, __FILE__, __LINE__);                                        \
        }                                                                                                              \
    } while (0)
#define OK(call) CHECK((call) == 0, #call)

/* Runs f in a child; true when the child exits 0 (false when it dies on a signal). */
template <typename F> static bool in_child(F f, int *sig = nullptr)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(f() ? 0 : 1);
    int st = 0;
    waitpid(pid, &st, 0);
    if (sig) *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

__global__ void fill_kernel(double *p, int n, double v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) p[i] = v;
}

__global__ void early_exit_kernel(double *p)
{
    __shared__ double sh[64];
    if (threadIdx.x == 5) return; /* the other threads wait at a barrier it never reaches */
    sh[threadIdx.x] = 1.0;
    __syncthreads();
    p[threadIdx.x] = sh[63 - threadIdx.x];
}

static double *dalloc(size_t n)
{
    void *p = nullptr;
    cudaMalloc(&p, n * sizeof(double));
    return (double *)p;
}

static void memory_and_errors()
{
    double *d = dalloc(4), h[4];
    CHECK(((uintptr_t)d >> 62) & 1, "device pointers carry the tag bit");
    OK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost));
    CHECK(std::isnan(h[0]) && std::isnan(h[3]), "cudaMalloc memory reads as NaN");
    int sig = 0;
    CHECK(!in_child([&] { return *(volatile double *)d == 0.0; }, &sig) && sig != 0,
          "a host read of a device pointer faults (SIGSEGV; SIGABRT under AddressSanitizer)");
    CHECK(cudaMemcpy(h, d, 5 * sizeof(double), cudaMemcpyDeviceToHost) == cudaErrorInvalidValue,
          "a copy past the end of an allocation is refused");
    CHECK(cudaGetLastError() == cudaErrorInvalidValue && cudaGetLastError() == cudaSuccess,
          "cudaGetLastError returns the last error once, then cudaSuccess");
    CHECK(cudaMemcpy(d, h, sizeof h, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue,
          "pointers that contradict the copy kind are refused");
    CHECK(cudaPeekAtLastError() == cudaErrorInvalidValue && cudaPeekAtLastError() == cudaErrorInvalidValue,
          "cudaPeekAtLastError does not clear the error");
    (void)cudaGetLastError();
    OK(cudaFree(d));
    CHECK(cudaFree(d) == cudaErrorInvalidValue, "a double cudaFree is refused");
    CHECK(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue, "use after free is refused");
    CHECK(cudaFree(h) == cudaErrorInvalidValue, "cudaFree of a host pointer is refused");
    void *big = nullptr;
    size_t fr, tot;
    OK(cudaMemGetInfo(&fr, &tot));
    CHECK(cudaMalloc(&big, tot + 1) == cudaErrorMemoryAllocation && !big, "more than the device has: out of memory");
    cudaDeviceProp p;
    OK(cudaGetDeviceProperties(&p, 0));
    CHECK(strstr(p.name, "emulated") != nullptr, "the device's name says it is emulated");
    (void)cudaGetLastError();
}

static void streams_and_sync()
{
    cudaStream_t s;
    OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    double *d = dalloc(4), h[4] = {1, 2, 3, 4}, back[4] = {0, 0, 0, 0};
    OK(cudaMemcpyAsync(d, h, sizeof h, cudaMemcpyHostToDevice, s));
    OK(cudaMemcpyAsync(back, d, sizeof h, cudaMemcpyDeviceToHost, s));
    CHECK(back[2] == 0, "an async download leaves the host buffer untouched until a synchronisation");
    OK(cudaStreamSynchronize(s));
    CHECK(back[2] == 3, "the stream synchronisation executes the queued copies");
    OK(cudaMemsetAsync(d, 0, sizeof h, s));
    OK(cudaMemcpy(back, d, sizeof h, cudaMemcpyDeviceToHost));
    CHECK(back[2] == 3, "a synchronous cudaMemcpy does not wait for a non-blocking stream");
    OK(cudaStreamSynchronize(s));
    cudaEvent_t a, b, nt;
    OK(cudaEventCreate(&a));
    OK(cudaEventCreate(&b));
    OK(cudaEventCreateWithFlags(&nt, cudaEventDisableTiming));
    float ms = 0;
    OK(cudaEventRecord(a, s));
    OK(cudaEventRecord(b, s));
    CHECK(cudaEventElapsedTime(&ms, a, b) == cudaErrorNotReady, "elapsed time before the events complete: not ready");
    OK(cudaEventSynchronize(b));
    OK(cudaEventElapsedTime(&ms, a, b));
    OK(cudaEventRecord(nt, s));
    OK(cudaEventSynchronize(nt));
    CHECK(cudaEventElapsedTime(&ms, a, nt) == cudaErrorInvalidResourceHandle, "no timing on a DisableTiming event");
    (void)cudaGetLastError();
    OK(cudaEventDestroy(a) | cudaEventDestroy(b) | cudaEventDestroy(nt));
    /* kernels: launch limits reported through cudaGetLastError */
    DLN_LAUNCH(fill_kernel, 0, 32, 0, s, d, 4, 1.0);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "a grid of 0 blocks is an invalid configuration");
    DLN_LAUNCH(fill_kernel, 1, 2048, 0, s, d, 4, 1.0);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "2048 threads per block is an invalid configuration");
    DLN_LAUNCH(fill_kernel, 1, 32, 0, s, d, 4, 7.0);
    OK(cudaGetLastError());
    OK(cudaStreamSynchronize(s));
    OK(cudaMemcpy(back, d, sizeof h, cudaMemcpyDeviceToHost));
    CHECK(back[3] == 7.0, "a kernel runs at the synchronisation");
    CHECK(!in_child([&] {
        DLN_LAUNCH(early_exit_kernel, 1, 64, 0, s, d);
        return cudaStreamSynchronize(s) == cudaSuccess;
    }),
          "a thread exiting while others wait at __syncthreads fails the launch");
    CHECK(in_child([&] {
              OK(cudaFree(d));
              DLN_LAUNCH(fill_kernel, 1, 32, 0, s, d, 4, 1.0);
              cudaError_t e1 = cudaStreamSynchronize(s);
              void *q = nullptr;
              return e1 == cudaErrorIllegalAddress && cudaMalloc(&q, 8) == cudaErrorIllegalAddress &&
                     cudaGetLastError() == cudaErrorIllegalAddress && cudaGetLastError() == cudaErrorIllegalAddress;
          }),
          "a kernel given freed memory: sticky cudaErrorIllegalAddress");
    /* capture */
    cudaGraph_t g = nullptr;
    cudaGraphExec_t x = nullptr;
    OK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    OK(cudaMemsetAsync(d, 0, sizeof h, s));
    CHECK(cudaStreamSynchronize(s) == cudaErrorStreamCaptureUnsupported, "synchronising a capturing stream is refused");
    CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated && !g, "... and invalidates the capture");
    OK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    void *q = nullptr;
    CHECK(cudaMalloc(&q, 8) == cudaErrorStreamCaptureUnsupported, "cudaMalloc while capturing is refused");
    CHECK(cudaStreamEndCapture(s, &g) == cudaErrorStreamCaptureInvalidated, "... and invalidates the capture");
    (void)cudaGetLastError();
    OK(cudaMemcpy(d, h, sizeof h, cudaMemcpyHostToDevice));
    OK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    DLN_LAUNCH(fill_kernel, 1, 32, 0, s, d, 2, 5.0);
    OK(cudaStreamEndCapture(s, &g));
    OK(cudaMemcpy(back, d, sizeof h, cudaMemcpyDeviceToHost));
    CHECK(back[0] == 1.0, "captured work is recorded, not executed");
    OK(cudaGraphInstantiate(&x, g, 0));
    OK(cudaGraphLaunch(x, s));
    OK(cudaStreamSynchronize(s));
    OK(cudaMemcpy(back, d, sizeof h, cudaMemcpyDeviceToHost));
    CHECK(back[0] == 5.0 && back[2] == 3.0, "the graph replays the recorded launch");
    OK(cudaGraphExecDestroy(x) | cudaGraphDestroy(g));
    OK(cudaFree(d));
    OK(cudaStreamDestroy(s));
}

static void blas(void)
{
    cublasHandle_t h;
    OK(cublasCreate(&h));
    const int n = 3;
    double *A = dalloc(n * n), *B = dalloc(n * n), *C = dalloc(n * n);
    std::vector<double> ha(n * n), hb(n * n), hc(n * n);
    for (int i = 0; i < n * n; i++)
        ha[i] = i + 1, hb[i] = 2 * i - 3;
    OK(cudaMemcpy(A, ha.data(), 8 * n * n, cudaMemcpyHostToDevice));
    OK(cudaMemcpy(B, hb.data(), 8 * n * n, cudaMemcpyHostToDevice));
    double alpha = 1, beta = 0;
    OK(cublasDgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, A, n, B, n, &beta, C, n));
    alpha = 100; /* host scalars were read at the call */
    OK(cudaDeviceSynchronize());
    OK(cudaMemcpy(hc.data(), C, 8 * n * n, cudaMemcpyDeviceToHost));
    double want = ha[0] * hb[0] + ha[3] * hb[1] + ha[6] * hb[2];
    CHECK(hc[0] == want, "gemm uses the scalars as they were at the call (pointer mode host)");
    CHECK(cublasDgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, A, n, B, n, &beta, A, n) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "gemm with C aliasing A is refused");
    CHECK(cublasDgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, A, n - 1, B, n, &beta, C, n) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "gemm with lda < m is refused");
    CHECK(cublasDgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n + 1, n, &alpha, A, n, B, n, &beta, C, n) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "gemm past the end of C is refused");
    double one = 1, zero = 0;
    OK(cudaMemset(B, 0xFF, 8 * n * n)); /* NaN */
    OK(cublasDgeam(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, &one, A, n, &zero, B, n, B, n));
    OK(cudaDeviceSynchronize());
    OK(cudaMemcpy(hc.data(), B, 8 * n * n, cudaMemcpyDeviceToHost));
    CHECK(hc[1] == ha[3] && !std::isnan(hc[8]), "geam with beta = 0 does not read B (in place, C = B)");
    CHECK(cublasDgeam(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, &one, A, n, &one, B, n, A, n) == CUBLAS_STATUS_INVALID_VALUE,
          "geam in place on A with transa = T is refused");
    CHECK(cublasDgeam(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, &one, A + 1, n, &one, B, n, A, n) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "geam with C overlapping A (not equal) is refused");
    /* TF32: fp32 inputs rounded to 10 mantissa bits */
    float *fa = (float *)dalloc(1), *fb = (float *)dalloc(1), *fc = (float *)dalloc(1);
    float x = 1.0f + 1.0f / 4096, yv = 1.0f, r = 0, fone = 1, fzero = 0;
    OK(cudaMemcpy(fa, &x, 4, cudaMemcpyHostToDevice));
    OK(cudaMemcpy(fb, &yv, 4, cudaMemcpyHostToDevice));
    OK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &fone, fa, 1, fb, 1, &fzero, fc, 1));
    OK(cudaMemcpy(&r, fc, 4, cudaMemcpyDeviceToHost));
    CHECK(r == x, "Sgemm in the default math mode is exact fp32");
    OK(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH));
    OK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &fone, fa, 1, fb, 1, &fzero, fc, 1));
    OK(cudaMemcpy(&r, fc, 4, cudaMemcpyDeviceToHost));
    CHECK(r == 1.0f, "Sgemm in CUBLAS_TF32_TENSOR_OP_MATH rounds its inputs to TF32");
    OK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    OK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &fone, fa, CUDA_R_32F, 1, fb, CUDA_R_32F, 1, &fzero, fc,
                    CUDA_R_32F, 1, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
    OK(cudaMemcpy(&r, fc, 4, cudaMemcpyDeviceToHost));
    CHECK(r == 1.0f, "GemmEx with CUBLAS_COMPUTE_32F_FAST_TF32 rounds to TF32");
    /* strided batched: two 3 x 1 results from the columns of A and B */
    OK(cublasDgemmStridedBatched(h, CUBLAS_OP_T, CUBLAS_OP_N, 1, 1, n, &one, A, n, n, B, n, n, &zero, C, 1, 1, 2));
    CHECK(cublasDgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, n, 1, 1, &one, A, n, n, B, 1, 1, &zero, C, n, 1, 2) ==
              CUBLAS_STATUS_INVALID_VALUE,
          "strided batched GEMM with overlapping outputs is refused");
    CHECK(cublasSetWorkspace(h, (char *)A + 8, 64) == CUBLAS_STATUS_INVALID_VALUE, "a misaligned workspace is refused");
    OK(cublasDestroy(h));
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &fone, fa, 1, fb, 1, &fzero, fc, 1) ==
              CUBLAS_STATUS_NOT_INITIALIZED,
          "a destroyed handle is refused");
    cudaFree(A), cudaFree(B), cudaFree(C), cudaFree(fa), cudaFree(fb), cudaFree(fc);
}

static void solver(void)
{
    cusolverDnHandle_t h;
    OK(cusolverDnCreate(&h));
    const int m = 5, n = 3;
    double hA[m * n], hA2[m * n], s[n], U[m * n], U2[m * n];
    for (int i = 0; i < m * n; i++)
        hA[i] = std::sin(1.0 + i * i);
    double *A = dalloc(m * n), *S = dalloc(n), *dU = dalloc(m * n), *VT = dalloc(n * n);
    int *info = (int *)dalloc(1), hinfo = 99, lwork = 0;
    CHECK(cusolverDnDgesvd_bufferSize(h, n, m, &lwork) == CUSOLVER_STATUS_INVALID_VALUE,
          "gesvd: rows < columns refused");
    OK(cusolverDnDgesvd_bufferSize(h, m, n, &lwork));
    double *W = dalloc(lwork), *rw = dalloc(n);
    OK(cudaMemcpy(A, hA, sizeof hA, cudaMemcpyHostToDevice));
    OK(cusolverDnDgesvd(h, 'S', 'S', m, n, A, m, S, dU, m, VT, n, W, lwork, rw, info));
    OK(cudaMemcpy(&hinfo, info, 4, cudaMemcpyDeviceToHost));
    OK(cudaMemcpy(hA2, A, sizeof hA, cudaMemcpyDeviceToHost));
    OK(cudaMemcpy(U, dU, sizeof U, cudaMemcpyDeviceToHost));
    OK(cudaMemcpy(s, S, sizeof s, cudaMemcpyDeviceToHost));
    CHECK(hinfo == 0 && s[0] >= s[1] && s[1] >= s[2], "gesvd: devInfo 0, singular values descending");
    CHECK(memcmp(hA, hA2, sizeof hA) != 0, "gesvd destroys A");
    OK(cudaMemcpy(A, hA, sizeof hA, cudaMemcpyHostToDevice));
    OK(cusolverDnDgesvd(h, 'S', 'S', m, n, A, m, S, dU, m, VT, n, W, lwork, rw, info));
    OK(cudaMemcpy(U2, dU, sizeof U, cudaMemcpyDeviceToHost));
    CHECK(memcmp(U, U2, sizeof U) == 0, "deterministic mode: the same input gives the same signs");
    OK(cusolverDnDgesvd(h, 'S', 'S', m, n, A, m, S, dU, m, VT, n, W, lwork - 1, rw, info));
    OK(cudaMemcpy(&hinfo, info, 4, cudaMemcpyDeviceToHost));
    CHECK(hinfo == -13, "gesvd: lwork below the bufferSize answer gives devInfo = -13");
    CHECK(cusolverDnDgesvd(h, 'S', 'S', m, n, A, m, S, dU, m, VT, n, W, lwork, rw, (int *)S) ==
              CUSOLVER_STATUS_INVALID_VALUE,
          "gesvd: devInfo inside S is refused (overlap)");
    CHECK(cusolverDnDgesvd(h, 'S', 'S', m, n, A, m, S, dU, m - 1, VT, n, W, lwork, rw, info) ==
              CUSOLVER_STATUS_INVALID_VALUE,
          "gesvd: ldu < m with jobu 'S' is refused");
    /* QR: R from geqrf, then Q^T A by ormqr reproduces R in the upper triangle */
    double *tau = dalloc(n), *C = dalloc(m * n), hR[m * n], hC[m * n];
    OK(cudaMemcpy(A, hA, sizeof hA, cudaMemcpyHostToDevice));
    OK(cudaMemcpy(C, hA, sizeof hA, cudaMemcpyHostToDevice));
    int lq = 0, lo = 0;
    OK(cusolverDnDgeqrf_bufferSize(h, m, n, A, m, &lq));
    OK(cusolverDnDormqr_bufferSize(h, CUBLAS_SIDE_LEFT, CUBLAS_OP_T, m, n, n, A, m, tau, C, m, &lo));
    double *Wq = dalloc(lq > lo ? lq : lo);
    OK(cusolverDnDgeqrf(h, m, n, A, m, tau, Wq, lq, info));
    OK(cusolverDnDormqr(h, CUBLAS_SIDE_LEFT, CUBLAS_OP_T, m, n, n, A, m, tau, C, m, Wq, lo, info));
    OK(cudaMemcpy(hR, A, sizeof hR, cudaMemcpyDeviceToHost));
    OK(cudaMemcpy(hC, C, sizeof hC, cudaMemcpyDeviceToHost));
    double err = 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++)
            err = std::fmax(err, std::fabs(hC[i + j * m] - (i <= j ? hR[i + j * m] : 0.0)));
    CHECK(err < 1e-12, "geqrf + ormqr: Q^T A = R");
    OK(cusolverDnDgeqrf(h, m, n, A, m, tau, Wq, lq - 1, info));
    OK(cudaMemcpy(&hinfo, info, 4, cudaMemcpyDeviceToHost));
    CHECK(hinfo == -7, "geqrf: short lwork gives devInfo = -7");
    OK(cusolverDnDestroy(h));
    for (void *p : {(void *)A, (void *)S, (void *)dU, (void *)VT, (void *)info, (void *)W, (void *)rw, (void *)tau,
                    (void *)C, (void *)Wq})
        cudaFree(p);
}

int main()
{
    memory_and_errors();
    streams_and_sync();
    blas();
    solver();
    printf("selftest: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
