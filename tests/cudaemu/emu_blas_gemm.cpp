/* emu_blas_gemm.cpp: the emulated cuBLAS's computing calls: gemm (D, S), GemmEx, the strided-
 * batched GEMMs and geam (D, S), over CBLAS. Each checks cuBLAS's documented argument rules,
 * every matrix inside one live allocation (when issued and when executed), no output overlapping
 * an input (geam: only its two documented in-place forms), reads host-mode scalars at the call,
 * honours beta == 0 (C, or geam's B, not read), rounds fp32 inputs to TF32 where the math mode or
 * compute type allows it, and queues the work on the handle's stream. */
#include "emu_blas.h"

#include <cblas.h>

#include <cmath>
#include <cstring>

using namespace emu;

/* Rounds to TF32: 10 mantissa bits, to nearest even. */
static float tf32(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) { /* finite: round to nearest even at bit 13 */
        u += 0xfffu + ((u >> 13) & 1u);
        u &= ~0x1fffu;
    }
    memcpy(&x, &u, 4);
    return x;
}

/* -1, 0 or +1 ulp of magnitude on each element, chosen from the seed, the position and the
 * magnitude: the same product gives the same result again (cuBLAS is run-to-run
 * deterministic on one GPU), a product of negated operands the negated result (rounding to
 * nearest is symmetric), and an exact zero stays zero (a sum of zero products is exact on
 * any GPU). */
template <typename T> static void jitter(T *c, long long m, long long n, long long ldc)
{
    for (long long j = 0; j < n; j++)
        for (long long i = 0; i < m; i++) {
            T &v = c[i + j * ldc];
            T mag = std::fabs(v);
            uint64_t bits = 0;
            memcpy(&bits, &mag, sizeof mag);
            int r = (int)(mix64(settings().seed ^ bits ^ mix64((uint64_t)i << 32 ^ (uint64_t)j)) % 3);
            if (std::isfinite(v) && v != T(0) && r)
                v = std::copysign(std::nextafter(mag, r == 1 ? T(INFINITY) : T(0)), v);
        }
}

template <typename T> struct Gemm {
    cublasOperation_t ta, tb;
    int m, n, k, lda, ldb, ldc, batch;
    long long sa, sb, sc;
    const T *A, *B;
    T *C;
    bool tf32;
};

static void blas_gemm(bool nt_a, bool nt_b, int m, int n, int k, double al, const double *A, int lda, const double *B,
                      int ldb, double be, double *C, int ldc)
{
    cblas_dgemm(CblasColMajor, nt_a ? CblasNoTrans : CblasTrans, nt_b ? CblasNoTrans : CblasTrans, m, n, k, al, A, lda,
                B, ldb, be, C, ldc);
}
static void blas_gemm(bool nt_a, bool nt_b, int m, int n, int k, float al, const float *A, int lda, const float *B,
                      int ldb, float be, float *C, int ldc)
{
    cblas_sgemm(CblasColMajor, nt_a ? CblasNoTrans : CblasTrans, nt_b ? CblasNoTrans : CblasTrans, m, n, k, al, A, lda,
                B, ldb, be, C, ldc);
}

/* Packed TF32-rounded copy of a rows x cols block (float only). */
template <typename T> static std::vector<T> rounded(const T *p, int rows, int cols, int ld)
{
    std::vector<T> v((size_t)rows * cols);
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++)
            v[i + (size_t)j * rows] = (T)tf32((float)p[i + (size_t)j * ld]);
    return v;
}

template <typename T> static void gemm_exec(const Gemm<T> &g, T alpha, T beta)
{
    bool na = g.ta == CUBLAS_OP_N, nb = g.tb == CUBLAS_OP_N;
    int ar = na ? g.m : g.k, ac = na ? g.k : g.m, br = nb ? g.k : g.n, bc = nb ? g.n : g.k;
    for (int b = 0; b < g.batch; b++) {
        const T *A = host_view(g.A) + b * g.sa, *B = host_view(g.B) + b * g.sb;
        T *C = host_view(g.C) + b * g.sc;
        if (beta == T(0)) /* C is not read: NaN there must not survive */
            for (int j = 0; j < g.n; j++)
                memset(C + (size_t)j * g.ldc, 0, sizeof(T) * g.m);
        if (g.k > 0 && alpha != T(0) && g.tf32) {
            std::vector<T> a = rounded(A, ar, ac, g.lda), bb = rounded(B, br, bc, g.ldb);
            blas_gemm(na, nb, g.m, g.n, g.k, alpha, a.data(), imax1(ar), bb.data(), imax1(br), beta, C, g.ldc);
        } else if (g.k > 0 && alpha != T(0)) {
            blas_gemm(na, nb, g.m, g.n, g.k, alpha, A, g.lda, B, g.ldb, beta, C, g.ldc);
        } else if (beta != T(0)) {
            for (int j = 0; j < g.n; j++)
                for (int i = 0; i < g.m; i++)
                    C[i + (size_t)j * g.ldc] *= beta;
        }
        if (settings().gemm_jitter) jitter(C, g.m, g.n, g.ldc);
    }
}

template <typename T>
static cublasStatus_t gemm_issue(const char *api, cublasHandle_t h, Gemm<T> g, const void *alpha_p, const void *beta_p)
{
    if (!op_ok(g.ta) || !op_ok(g.tb)) BAD(api, "transa %d / transb %d is not a cublasOperation_t", g.ta, g.tb);
    if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0)
        BAD(api, "m %d, n %d, k %d, batchCount %d: negative", g.m, g.n, g.k, g.batch);
    bool na = g.ta == CUBLAS_OP_N, nb = g.tb == CUBLAS_OP_N;
    if (g.lda < imax1(na ? g.m : g.k))
        BAD(api, "lda %d < max(1, %s) = %d", g.lda, na ? "m" : "k", imax1(na ? g.m : g.k));
    if (g.ldb < imax1(nb ? g.k : g.n))
        BAD(api, "ldb %d < max(1, %s) = %d", g.ldb, nb ? "k" : "n", imax1(nb ? g.k : g.n));
    if (g.ldc < imax1(g.m)) BAD(api, "ldc %d < max(1, m) = %d", g.ldc, imax1(g.m));
    std::vector<Buf> bufs;
    Scalar<T> alpha, beta;
    if (!scalar(api, "alpha", h, alpha_p, &alpha, &bufs) || !scalar(api, "beta", h, beta_p, &beta, &bufs))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (g.m == 0 || g.n == 0 || g.batch == 0) return CUBLAS_STATUS_SUCCESS;
    Mat A{g.A, na ? g.m : g.k, na ? g.k : g.m, g.lda, sizeof(T)},
        B{g.B, nb ? g.k : g.n, nb ? g.n : g.k, g.ldb, sizeof(T)};
    Mat C{g.C, g.m, g.n, g.ldc, sizeof(T)};
    size_t ext = (size_t)(g.batch - 1);
    bool reads_ab = g.k > 0 && !alpha.known_zero();
    if (reads_ab) {
        bufs.push_back(Buf{"A", g.A, mat_bytes(A) + ext * (size_t)g.sa * sizeof(T), true});
        bufs.push_back(Buf{"B", g.B, mat_bytes(B) + ext * (size_t)g.sb * sizeof(T), true});
    }
    bufs.push_back(Buf{"C", g.C, mat_bytes(C) + ext * (size_t)g.sc * sizeof(T), true});
    if (h->ws_user && h->ws_bytes) bufs.push_back(Buf{"workspace (cublasSetWorkspace)", h->ws, h->ws_bytes, true});
    if (g.sa < 0 || g.sb < 0 || g.sc < 0) BAD(api, "negative stride (%lld, %lld, %lld)", g.sa, g.sb, g.sc);
    if (!check_bufs(api, bufs, false)) return CUBLAS_STATUS_INVALID_VALUE;
    for (int b = 0; b < g.batch; b++) { /* no output may overlap an input or another output */
        Mat Cb = C;
        Cb.p = g.C + b * g.sc;
        for (int d = 0; reads_ab && d < g.batch; d++) {
            Mat Ad = A, Bd = B;
            Ad.p = g.A + d * g.sa;
            Bd.p = g.B + d * g.sb;
            if (mats_overlap(Cb, Ad) || mats_overlap(Cb, Bd))
                BAD(api, "output C (batch %d) overlaps input %s (batch %d): GEMM output must not alias its inputs", b,
                    mats_overlap(Cb, Ad) ? "A" : "B", d);
        }
        for (int d = b + 1; d < g.batch && (size_t)(d - b) * g.sc * sizeof(T) < mat_bytes(C); d++) {
            Mat Cd = C;
            Cd.p = g.C + d * g.sc;
            if (mats_overlap(Cb, Cd)) BAD(api, "output batches %d and %d overlap (strideC %lld)", b, d, g.sc);
        }
        if (h->ws_user && h->ws_bytes &&
            mats_overlap(Cb, Mat{h->ws, (long long)h->ws_bytes, 1, (long long)h->ws_bytes, 1}))
            BAD(api, "output C overlaps the cuBLAS workspace");
    }
    Op op{api, bufs, [g, alpha, beta] { gemm_exec(g, alpha.get(), beta.get()); }};
    if (enqueue(h->stream, std::move(op)) != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
    return CUBLAS_STATUS_SUCCESS;
}

static bool tf32_mode(cublasHandle_t h)
{
    return ((unsigned)h->math & 0xf) == CUBLAS_TF32_TENSOR_OP_MATH;
}

extern "C" cublasStatus_t cublasDgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const double *alpha, const double *A, int lda, const double *B, int ldb,
                                         const double *beta, double *C, int ldc)
{
    HANDLE("cublasDgemm");
    return gemm_issue("cublasDgemm", h, Gemm<double>{ta, tb, m, n, k, lda, ldb, ldc, 1, 0, 0, 0, A, B, C, false}, alpha,
                      beta);
}

extern "C" cublasStatus_t cublasSgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *A, int lda, const float *B, int ldb,
                                         const float *beta, float *C, int ldc)
{
    HANDLE("cublasSgemm");
    return gemm_issue("cublasSgemm", h, Gemm<float>{ta, tb, m, n, k, lda, ldb, ldc, 1, 0, 0, 0, A, B, C, tf32_mode(h)},
                      alpha, beta);
}

extern "C" cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                                    int n, int k, const double *alpha, const double *A, int lda,
                                                    long long sa, const double *B, int ldb, long long sb,
                                                    const double *beta, double *C, int ldc, long long sc, int batch)
{
    HANDLE("cublasDgemmStridedBatched");
    return gemm_issue("cublasDgemmStridedBatched", h,
                      Gemm<double>{ta, tb, m, n, k, lda, ldb, ldc, batch, sa, sb, sc, A, B, C, false}, alpha, beta);
}

extern "C" cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                                    int n, int k, const float *alpha, const float *A, int lda,
                                                    long long sa, const float *B, int ldb, long long sb,
                                                    const float *beta, float *C, int ldc, long long sc, int batch)
{
    HANDLE("cublasSgemmStridedBatched");
    return gemm_issue("cublasSgemmStridedBatched", h,
                      Gemm<float>{ta, tb, m, n, k, lda, ldb, ldc, batch, sa, sb, sc, A, B, C, tf32_mode(h)}, alpha,
                      beta);
}

/* GemmEx: fp32 data with CUBLAS_COMPUTE_32F (TF32 when the math mode allows it),
 * CUBLAS_COMPUTE_32F_FAST_TF32 (always TF32) or _PEDANTIC (never), fp64 with COMPUTE_64F(_PEDANTIC).
 * Other type combinations are refused as not emulated. */
static cublasStatus_t gemm_ex(const char *api, cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                              int n, int k, const void *alpha, const void *A, cudaDataType at, int lda, long long sa,
                              const void *B, cudaDataType bt, int ldb, long long sb, const void *beta, void *C,
                              cudaDataType ct, int ldc, long long sc, int batch, cublasComputeType_t comp,
                              cublasGemmAlgo_t algo)
{
    if (!((algo >= CUBLAS_GEMM_DEFAULT && algo <= CUBLAS_GEMM_ALGO23) ||
          (algo >= CUBLAS_GEMM_DEFAULT_TENSOR_OP && algo <= CUBLAS_GEMM_ALGO15_TENSOR_OP)))
        BAD(api, "algo %d is not a cublasGemmAlgo_t", (int)algo);
    bool f32 = at == CUDA_R_32F && bt == CUDA_R_32F && ct == CUDA_R_32F;
    bool f64 = at == CUDA_R_64F && bt == CUDA_R_64F && ct == CUDA_R_64F;
    if (f32 &&
        (comp == CUBLAS_COMPUTE_32F || comp == CUBLAS_COMPUTE_32F_FAST_TF32 || comp == CUBLAS_COMPUTE_32F_PEDANTIC)) {
        bool t = comp == CUBLAS_COMPUTE_32F_FAST_TF32 || (comp == CUBLAS_COMPUTE_32F && tf32_mode(h));
        return gemm_issue(api, h,
                          Gemm<float>{ta, tb, m, n, k, lda, ldb, ldc, batch, sa, sb, sc, (const float *)A,
                                      (const float *)B, (float *)C, t},
                          alpha, beta);
    }
    if (f64 && (comp == CUBLAS_COMPUTE_64F || comp == CUBLAS_COMPUTE_64F_PEDANTIC))
        return gemm_issue(api, h,
                          Gemm<double>{ta, tb, m, n, k, lda, ldb, ldc, batch, sa, sb, sc, (const double *)A,
                                       (const double *)B, (double *)C, false},
                          alpha, beta);
    violation(api, "types A %d B %d C %d with compute type %d are not emulated", (int)at, (int)bt, (int)ct, (int)comp);
    return CUBLAS_STATUS_NOT_SUPPORTED;
}

extern "C" cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                       int k, const void *alpha, const void *A, cudaDataType at, int lda, const void *B,
                                       cudaDataType bt, int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
                                       cublasComputeType_t comp, cublasGemmAlgo_t algo)
{
    HANDLE("cublasGemmEx");
    return gemm_ex("cublasGemmEx", h, ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct, ldc, 0, 1,
                   comp, algo);
}

extern "C" cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                                     int m, int n, int k, const void *alpha, const void *A,
                                                     cudaDataType at, int lda, long long sa, const void *B,
                                                     cudaDataType bt, int ldb, long long sb, const void *beta, void *C,
                                                     cudaDataType ct, int ldc, long long sc, int batch,
                                                     cublasComputeType_t comp, cublasGemmAlgo_t algo)
{
    HANDLE("cublasGemmStridedBatchedEx");
    return gemm_ex("cublasGemmStridedBatchedEx", h, ta, tb, m, n, k, alpha, A, at, lda, sa, B, bt, ldb, sb, beta, C, ct,
                   ldc, sc, batch, comp, algo);
}

/* ---- geam ------------------------------------------------------------------------------------------- */

template <typename T>
static cublasStatus_t geam(const char *api, cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                           const T *alpha_p, const T *A, int lda, const T *beta_p, const T *B, int ldb, T *C, int ldc)
{
    if (!op_ok(ta) || !op_ok(tb)) BAD(api, "transa %d / transb %d is not a cublasOperation_t", ta, tb);
    if (m < 0 || n < 0) BAD(api, "m %d, n %d: negative", m, n);
    bool na = ta == CUBLAS_OP_N, nb = tb == CUBLAS_OP_N;
    if (lda < imax1(na ? m : n)) BAD(api, "lda %d < max(1, %s) = %d", lda, na ? "m" : "n", imax1(na ? m : n));
    if (ldb < imax1(nb ? m : n)) BAD(api, "ldb %d < max(1, %s) = %d", ldb, nb ? "m" : "n", imax1(nb ? m : n));
    if (ldc < imax1(m)) BAD(api, "ldc %d < max(1, m) = %d", ldc, imax1(m));
    std::vector<Buf> bufs;
    Scalar<T> alpha, beta;
    if (!scalar(api, "alpha", h, alpha_p, &alpha, &bufs) || !scalar(api, "beta", h, beta_p, &beta, &bufs))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    Mat MA{A, na ? m : n, na ? n : m, lda, sizeof(T)}, MB{B, nb ? m : n, nb ? n : m, ldb, sizeof(T)},
        MC{C, m, n, ldc, sizeof(T)};
    /* in place only as C = A (lda == ldc, transa N) or C = B (ldb == ldc, transb N); else no overlap */
    if ((const T *)C == A ? !(na && lda == ldc) : mats_overlap(MC, MA))
        BAD(api, "C overlaps A outside the in-place form (C == A requires ldc == lda and transa == CUBLAS_OP_N)");
    if ((const T *)C == B ? !(nb && ldb == ldc) : mats_overlap(MC, MB))
        BAD(api, "C overlaps B outside the in-place form (C == B requires ldc == ldb and transb == CUBLAS_OP_N)");
    if (!alpha.known_zero()) bufs.push_back(Buf{"A", A, mat_bytes(MA), true}); /* alpha == 0: A is not read */
    if (!beta.known_zero()) bufs.push_back(Buf{"B", B, mat_bytes(MB), true});  /* beta == 0: B is not read */
    bufs.push_back(Buf{"C", C, mat_bytes(MC), true});
    if (!check_bufs(api, bufs, false)) return CUBLAS_STATUS_INVALID_VALUE;
    Op op{api, bufs, [=] {
              T al = alpha.get(), be = beta.get();
              const T *a = host_view(A), *b = host_view(B);
              T *c = host_view(C);
              for (int j = 0; j < n; j++)
                  for (int i = 0; i < m; i++) {
                      T v = al == T(0) ? T(0) : al * (na ? a[i + (size_t)j * lda] : a[j + (size_t)i * lda]);
                      if (be != T(0)) v += be * (nb ? b[i + (size_t)j * ldb] : b[j + (size_t)i * ldb]);
                      c[i + (size_t)j * ldc] = v;
                  }
          }};
    if (enqueue(h->stream, std::move(op)) != cudaSuccess) return CUBLAS_STATUS_EXECUTION_FAILED;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasDgeam(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                      const double *alpha, const double *A, int lda, const double *beta,
                                      const double *B, int ldb, double *C, int ldc)
{
    HANDLE("cublasDgeam");
    return geam("cublasDgeam", h, ta, tb, m, n, alpha, A, lda, beta, B, ldb, C, ldc);
}

extern "C" cublasStatus_t cublasSgeam(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                      const float *alpha, const float *A, int lda, const float *beta, const float *B,
                                      int ldb, float *C, int ldc)
{
    HANDLE("cublasSgeam");
    return geam("cublasSgeam", h, ta, tb, m, n, alpha, A, lda, beta, B, ldb, C, ldc);
}
