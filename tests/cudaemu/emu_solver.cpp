/* emu_solver.cpp: the cuSOLVER dense entry points dln uses (gesvd) and those the QR-solver
 * issue will need (geqrf, ormqr), over LAPACKE, with the documented contracts checked
 * strictly: gesvd only for rows >= columns, LAPACK's leading-dimension and job rules,
 * lwork at least what the matching bufferSize returned (else devInfo = -i for the lwork
 * argument), devInfo written when the work executes, every array inside one live allocation
 * and no output overlapping another array. What the API leaves undefined is made visibly
 * so: A is destroyed (overwritten with seeded garbage), the workspace is left as garbage,
 * and the signs of singular-vector pairs (u_i, v_i) are chosen at random (seeded; with
 * CUSOLVER_DETERMINISTIC_RESULTS a function of the input, so repeated calls agree). */
#include "emu.h"

#include <lapacke.h>

#include <cstring>
#include <map>
#include <set>
#include <tuple>

struct cusolverDnContext {
    cudaStream_t stream = nullptr;
    cusolverDeterministicMode_t det = CUSOLVER_DETERMINISTIC_RESULTS;
};

using namespace emu;

static std::set<cusolverDnHandle_t> handles;

#define HANDLE(api)                                                                                                    \
    EMU_LOCK;                                                                                                          \
    if (!handles.count(h)) {                                                                                           \
        violation(api, "handle %p is not a live cuSOLVER handle", (void *)h);                                          \
        return CUSOLVER_STATUS_NOT_INITIALIZED;                                                                        \
    }

#define BAD(api, ...)                                                                                                  \
    do {                                                                                                               \
        violation(api, __VA_ARGS__);                                                                                   \
        return CUSOLVER_STATUS_INVALID_VALUE;                                                                          \
    } while (0)

extern "C" cusolverStatus_t cusolverDnCreate(cusolverDnHandle_t *out)
{
    EMU_LOCK;
    if (!out) return CUSOLVER_STATUS_INVALID_VALUE;
    *out = nullptr;
    if (entry_check() != cudaSuccess) return CUSOLVER_STATUS_NOT_INITIALIZED;
    if (capture_forbids("cusolverDnCreate")) return CUSOLVER_STATUS_INTERNAL_ERROR;
    cusolverDnHandle_t h = new cusolverDnContext;
    handles.insert(h);
    *out = h;
    return CUSOLVER_STATUS_SUCCESS;
}

extern "C" cusolverStatus_t cusolverDnDestroy(cusolverDnHandle_t h)
{
    HANDLE("cusolverDnDestroy");
    handles.erase(h);
    delete h;
    return CUSOLVER_STATUS_SUCCESS;
}

extern "C" cusolverStatus_t cusolverDnSetStream(cusolverDnHandle_t h, cudaStream_t s)
{
    HANDLE("cusolverDnSetStream");
    if (!stream_valid(s)) BAD("cusolverDnSetStream", "stream %p is not a live stream", (void *)s);
    h->stream = s;
    return CUSOLVER_STATUS_SUCCESS;
}

extern "C" cusolverStatus_t cusolverDnGetStream(cusolverDnHandle_t h, cudaStream_t *s)
{
    HANDLE("cusolverDnGetStream");
    if (!s) return CUSOLVER_STATUS_INVALID_VALUE;
    *s = h->stream;
    return CUSOLVER_STATUS_SUCCESS;
}

extern "C" cusolverStatus_t cusolverDnSetDeterministicMode(cusolverDnHandle_t h, cusolverDeterministicMode_t mode)
{
    HANDLE("cusolverDnSetDeterministicMode");
    if (mode != CUSOLVER_DETERMINISTIC_RESULTS && mode != CUSOLVER_ALLOW_NON_DETERMINISTIC_RESULTS)
        BAD("cusolverDnSetDeterministicMode", "mode %d is not a cusolverDeterministicMode_t", (int)mode);
    h->det = mode;
    return CUSOLVER_STATUS_SUCCESS;
}

/* ---- shared helpers ----------------------------------------------------------------------------- */

static int imax1(long long a)
{
    return a > 1 ? (int)a : 1;
}
/* Bytes of a rows x cols fp64 block with leading dim ld (0 when empty). */
static size_t blk(long long rows, long long cols, long long ld)
{
    return rows > 0 && cols > 0 ? sizeof(double) * (size_t)((cols - 1) * ld + rows) : 0;
}

/* lwork answers of the bufferSize calls: the check in the computing call compares with them. */
static std::map<std::tuple<int, int, int, int, int>, int> answers; /* (routine, m, n, k, side) */

static void garbage(double *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (double)(int64_t)mix64(seed + i) * 0x1p-60; /* finite, +-8 */
}

/* Queues op on h's stream; a failure there is reported as an execution failure. */
static cusolverStatus_t issue(const char *api, cusolverDnHandle_t h, std::vector<Buf> bufs, std::function<void()> run)
{
    if (capturing(h->stream)) {
        violation(api, "cuSOLVER work inside a stream capture is not emulated; the capture is invalidated");
        invalidate_capture(h->stream, api);
        return CUSOLVER_STATUS_NOT_SUPPORTED;
    }
    if (!check_bufs(api, bufs, false)) return CUSOLVER_STATUS_INVALID_VALUE;
    for (size_t i = 0; i < bufs.size(); i++) /* every array is distinct */
        for (size_t j = i + 1; j < bufs.size(); j++) {
            uintptr_t a = untag((uintptr_t)bufs[i].p), b = untag((uintptr_t)bufs[j].p);
            if (bufs[i].p && bufs[j].p && a < b + bufs[j].bytes && b < a + bufs[i].bytes)
                BAD(api, "%s and %s overlap", bufs[i].arg, bufs[j].arg);
        }
    if (enqueue(h->stream, Op{api, std::move(bufs), std::move(run)}) != cudaSuccess)
        return CUSOLVER_STATUS_EXECUTION_FAILED;
    return CUSOLVER_STATUS_SUCCESS;
}

/* lwork below the bufferSize answer: devInfo = -arg when the work executes. */
static bool lwork_short(const char *api, int routine, int m, int n, int k, int side, int lwork)
{
    auto it = answers.find({routine, m, n, k, side});
    int need = it == answers.end() ? -1 : it->second;
    if (need < 0) {
        violation(api, "no matching bufferSize query was made for this shape: lwork %d cannot be trusted", lwork);
        return true;
    }
    if (lwork >= need) return false;
    violation(api, "lwork %d < %d, the size the bufferSize query returned for this shape", lwork, need);
    return true;
}

/* ---- gesvd --------------------------------------------------------------------------------------- */

extern "C" cusolverStatus_t cusolverDnDgesvd_bufferSize(cusolverDnHandle_t h, int m, int n, int *lwork)
{
    HANDLE("cusolverDnDgesvd_bufferSize");
    if (!lwork) return CUSOLVER_STATUS_INVALID_VALUE;
    if (m < 0 || n < 0 || m < n) BAD("cusolverDnDgesvd_bufferSize", "m %d, n %d: gesvd only supports m >= n", m, n);
    double q = 0;
    LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'A', 'A', m, n, nullptr, imax1(m), nullptr, nullptr, imax1(m), nullptr,
                        imax1(n), &q, -1);
    *lwork = (int)q + n; /* LAPACK's optimum and a margin: any answer is the device's own */
    answers[{1, m, n, 0, 0}] = *lwork;
    return CUSOLVER_STATUS_SUCCESS;
}

static bool job_ok(signed char j)
{
    return j == 'A' || j == 'S' || j == 'O' || j == 'N';
}

extern "C" cusolverStatus_t cusolverDnDgesvd(cusolverDnHandle_t h, signed char jobu, signed char jobvt, int m, int n,
                                             double *A, int lda, double *S, double *U, int ldu, double *VT, int ldvt,
                                             double *work, int lwork, double *rwork, int *info)
{
    const char *api = "cusolverDnDgesvd";
    HANDLE(api);
    if (!job_ok(jobu) || !job_ok(jobvt) || (jobu == 'O' && jobvt == 'O')) BAD(api, "jobu '%c' jobvt '%c'", jobu, jobvt);
    if (jobu == 'O' || jobvt == 'O') {
        violation(api, "job 'O' (overwrite A) is not emulated");
        return CUSOLVER_STATUS_NOT_SUPPORTED;
    }
    if (m < 0 || n < 0 || m < n) BAD(api, "m %d, n %d: gesvd only supports m >= n", m, n);
    if (lda < imax1(m)) BAD(api, "lda %d < max(1, m) = %d", lda, imax1(m));
    if (ldu < 1 || ((jobu == 'A' || jobu == 'S') && ldu < m)) BAD(api, "ldu %d is too small for jobu '%c'", ldu, jobu);
    if (ldvt < 1 || ((jobvt == 'A' || jobvt == 'S') && ldvt < n))
        BAD(api, "ldvt %d is too small for jobvt '%c'", ldvt, jobvt);
    int ucols = jobu == 'A' ? m : n;
    bool wu = jobu != 'N', wv = jobvt != 'N';
    bool bad_lwork = lwork_short(api, 1, m, n, 0, 0, lwork);
    std::vector<Buf> bufs{{"A", A, blk(m, n, lda), true},
                          {"S", S, sizeof(double) * n, true},
                          {"U", wu ? U : nullptr, wu ? blk(m, ucols, ldu) : 0, true},
                          {"VT", wv ? VT : nullptr, wv ? blk(n, n, ldvt) : 0, true},
                          {"work", work, sizeof(double) * (size_t)(lwork > 0 ? lwork : 0), true},
                          {"rwork", rwork, rwork && n > 1 ? sizeof(double) * (n - 1) : 0, true},
                          {"devInfo", info, sizeof(int), true}};
    bool det = h->det == CUSOLVER_DETERMINISTIC_RESULTS;
    uint64_t salt = rand_u64();
    return issue(api, h, bufs, [=] {
        double *a = host_view(A), *s = host_view(S), *u = wu ? host_view(U) : nullptr,
               *vt = wv ? host_view(VT) : nullptr;
        int *dinfo = host_view(info);
        if (bad_lwork) {
            *dinfo = -13;
            return;
        }
        uint64_t sign_seed = det ? hash_bytes(settings().seed, a, 0) : salt;
        if (det)
            for (int j = 0; j < n; j++)
                sign_seed = hash_bytes(sign_seed, a + (size_t)j * lda, sizeof(double) * m);
        double q = 0;
        LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, jobu, jobvt, m, n, a, lda, s, u, imax1(ldu), vt, imax1(ldvt), &q, -1);
        std::vector<double> w((size_t)q + 1);
        double udummy = 0, vdummy = 0;
        int r = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, jobu, jobvt, m, n, a, lda, s, u ? u : &udummy, imax1(ldu),
                                    vt ? vt : &vdummy, imax1(ldvt), w.data(), (int)w.size());
        if (r > 0 && rwork && n > 1) memcpy(host_view(rwork), w.data() + 1, sizeof(double) * (n - 1));
        if (settings().svd_random_signs)
            for (int i = 0; i < n; i++) { /* any sign of (u_i, v_i) is a valid SVD */
                if (!(mix64(sign_seed + (uint64_t)i) & 1)) continue;
                if (u)
                    for (int e = 0; e < m; e++)
                        u[e + (size_t)i * ldu] = -u[e + (size_t)i * ldu];
                if (vt)
                    for (int e = 0; e < n; e++)
                        vt[i + (size_t)e * ldvt] = -vt[i + (size_t)e * ldvt];
            }
        for (int j = 0; j < n; j++)
            garbage(a + (size_t)j * lda, (size_t)m, salt ^ (uint64_t)j << 20); /* A destroyed */
        garbage(host_view(work), (size_t)lwork, ~salt);                        /* workspace */
        *dinfo = r < 0 ? -r : r; /* LAPACK's argument errors were caught at the call */
    });
}

/* ---- geqrf / ormqr (for the QR solver) ------------------------------------------------------------ */

extern "C" cusolverStatus_t cusolverDnDgeqrf_bufferSize(cusolverDnHandle_t h, int m, int n, double *A, int lda,
                                                        int *lwork)
{
    HANDLE("cusolverDnDgeqrf_bufferSize");
    (void)A;
    if (!lwork) return CUSOLVER_STATUS_INVALID_VALUE;
    if (m < 0 || n < 0 || lda < imax1(m)) BAD("cusolverDnDgeqrf_bufferSize", "m %d, n %d, lda %d", m, n, lda);
    *lwork = (n > 0 ? n : 1) * 64;
    answers[{2, m, n, 0, 0}] = *lwork;
    return CUSOLVER_STATUS_SUCCESS;
}

extern "C" cusolverStatus_t cusolverDnDgeqrf(cusolverDnHandle_t h, int m, int n, double *A, int lda, double *tau,
                                             double *work, int lwork, int *info)
{
    const char *api = "cusolverDnDgeqrf";
    HANDLE(api);
    if (m < 0 || n < 0 || lda < imax1(m)) BAD(api, "m %d, n %d, lda %d < max(1, m)", m, n, lda);
    int k = m < n ? m : n;
    bool bad_lwork = lwork_short(api, 2, m, n, 0, 0, lwork);
    std::vector<Buf> bufs{{"A", A, blk(m, n, lda), true},
                          {"TAU", tau, sizeof(double) * k, true},
                          {"Workspace", work, sizeof(double) * (size_t)(lwork > 0 ? lwork : 0), true},
                          {"devInfo", info, sizeof(int), true}};
    uint64_t salt = rand_u64();
    return issue(api, h, bufs, [=] {
        int *dinfo = host_view(info);
        if (bad_lwork) {
            *dinfo = -7;
            return;
        }
        std::vector<double> w((size_t)(n > 0 ? n : 1) * 64);
        int r = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, m, n, host_view(A), lda, host_view(tau), w.data(), (int)w.size());
        garbage(host_view(work), (size_t)lwork, salt);
        *dinfo = r < 0 ? -r : r;
    });
}

extern "C" cusolverStatus_t cusolverDnDormqr_bufferSize(cusolverDnHandle_t h, cublasSideMode_t side,
                                                        cublasOperation_t trans, int m, int n, int k, const double *A,
                                                        int lda, const double *tau, const double *C, int ldc,
                                                        int *lwork)
{
    HANDLE("cusolverDnDormqr_bufferSize");
    (void)A, (void)tau, (void)C, (void)trans;
    if (!lwork) return CUSOLVER_STATUS_INVALID_VALUE;
    int nq = side == CUBLAS_SIDE_LEFT ? m : n;
    if (m < 0 || n < 0 || k < 0 || k > nq || lda < imax1(nq) || ldc < imax1(m))
        BAD("cusolverDnDormqr_bufferSize", "m %d, n %d, k %d, lda %d, ldc %d", m, n, k, lda, ldc);
    *lwork = imax1(side == CUBLAS_SIDE_LEFT ? n : m) * 64;
    answers[{3, m, n, k, (int)side}] = *lwork;
    return CUSOLVER_STATUS_SUCCESS;
}

extern "C" cusolverStatus_t cusolverDnDormqr(cusolverDnHandle_t h, cublasSideMode_t side, cublasOperation_t trans,
                                             int m, int n, int k, const double *A, int lda, const double *tau,
                                             double *C, int ldc, double *work, int lwork, int *info)
{
    const char *api = "cusolverDnDormqr";
    HANDLE(api);
    if (side != CUBLAS_SIDE_LEFT && side != CUBLAS_SIDE_RIGHT) BAD(api, "side %d", (int)side);
    if (trans != CUBLAS_OP_N && trans != CUBLAS_OP_T) BAD(api, "trans %d: only N and T for real data", (int)trans);
    int nq = side == CUBLAS_SIDE_LEFT ? m : n;
    if (m < 0 || n < 0 || k < 0 || k > nq) BAD(api, "m %d, n %d, k %d (k <= %d)", m, n, k, nq);
    if (lda < imax1(nq) || ldc < imax1(m)) BAD(api, "lda %d < max(1, %d) or ldc %d < max(1, m)", lda, nq, ldc);
    bool bad_lwork = lwork_short(api, 3, m, n, k, (int)side, lwork);
    std::vector<Buf> bufs{{"A", A, blk(nq, k, lda), true},
                          {"tau", tau, sizeof(double) * k, true},
                          {"C", C, blk(m, n, ldc), true},
                          {"work", work, sizeof(double) * (size_t)(lwork > 0 ? lwork : 0), true},
                          {"devInfo", info, sizeof(int), true}};
    uint64_t salt = rand_u64();
    return issue(api, h, bufs, [=] {
        int *dinfo = host_view(info);
        if (bad_lwork) {
            *dinfo = -12;
            return;
        }
        std::vector<double> w((size_t)imax1(side == CUBLAS_SIDE_LEFT ? n : m) * 64);
        int r = LAPACKE_dormqr_work(LAPACK_COL_MAJOR, side == CUBLAS_SIDE_LEFT ? 'L' : 'R',
                                    trans == CUBLAS_OP_N ? 'N' : 'T', m, n, k, host_view(A), lda, host_view(tau),
                                    host_view(C), ldc, w.data(), (int)w.size());
        garbage(host_view(work), (size_t)lwork, salt);
        *dinfo = r < 0 ? -r : r;
    });
}
