/* backend_cuda.c: the CUDA backend, a twin of src/backends/cpu/backend_cpu.c with the
 * same operations in the same order. One stream per backend, with one cuBLAS and one cuSOLVER handle
 * bound to it at creation; element-wise work and reductions are the kernels of
 * kernels/. Training-step operations (copy, transpose, gemm, axpby, sumsq) only
 * enqueue work on the stream, so they can be recorded into a CUDA graph between
 * capture_begin and capture_end; upload, download, synchronize, gesvd wait for the device.
 * Determinism: cuBLAS atomics off, an explicit cuBLAS workspace on the one stream,
 * cuSOLVER deterministic mode, and a fixed-shape reduction tree for sumsq. This file holds
 * the context's life cycle, device memory, copy, transpose, gesvd and graphs; the step's
 * operations (gemm, axpby, sumsq for any number of members) are in step_ops.c, QR in qr.c,
 * upload and download (through pinned staging) in transfer.c, and the context and
 * error-check macros they share in cuda_internal.h. Arguments arrive checked
 * (src/backends/ops.c). */
#include <stdio.h>
#include <stdlib.h>

#include "backends/cuda/cuda_internal.h"
#include "kernels.h" /* kernels/: the CUDA kernels' C launchers */

struct dln_graph {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    struct dln_graph *next; /* live graphs, destroyed with the backend if still there */
};

/* cudaMalloc of `bytes`; running out of device memory is DLN_ENOMEM and says how many
 * bytes were requested and how many are free. */
int dln_cuda_malloc(dln_backend *be, void **p, size_t bytes, const char *what)
{
    cudaError_t e = cudaMalloc(p, bytes);
    if (e == cudaSuccess) return DLN_OK;
    *p = NULL;
    (void)cudaGetLastError();
    if (e == cudaErrorMemoryAllocation) {
        size_t free_b = 0, total_b = 0;
        if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
        return dln_fail(be->err, DLN_ENOMEM,
                        "out of device memory: cudaMalloc of %zu bytes for %s failed (%zu bytes free of %zu)",
                        bytes, what, free_b, total_b);
    }
    return fail_call(be, "cudaMalloc", __FILE__, __LINE__, cudaGetErrorName(e), cudaGetErrorString(e));
}

int dln_cuda_grow(dln_backend *be, double **buf, size_t *cap, size_t need, const char *what)
{
    if (need <= *cap) return DLN_OK;
    if (*buf) {
        cuda_impl *c = be->impl;
        double *old = *buf;
        *buf = NULL;
        *cap = 0;
        CUDA_CHECK(cudaStreamSynchronize(c->stream)); /* queued work may still read it */
        CUDA_CHECK(cudaFree(old));
    }
    void *p = NULL;
    DLN_TRY(dln_cuda_malloc(be, &p, need * sizeof(double), what));
    *buf = p;
    *cap = need;
    return DLN_OK;
}

static int cuda_alloc(dln_backend *be, dln_mat *m, int rows, int cols, dln_dtype dtype)
{
    // m is (rows, cols), ld = max(rows, 1), zero-filled (asynchronously, on the stream)
    cuda_impl *c = be->impl;
    m->rows = rows;
    m->cols = cols;
    m->ld = rows > 0 ? rows : 1;
    m->dtype = dtype;
    m->data = NULL;
    DLN_TRY(no_capture(be, "alloc"));
    size_t es = dln_dtype_size(dtype), n = (size_t)rows * (size_t)cols;
    if (n == 0) n = 1;
    char what[96];
    snprintf(what, sizeof what, "a %d x %d %s matrix", rows, cols, dln_dtype_name(dtype));
    if (n > (size_t)-1 / es)
        return dln_fail(be->err, DLN_ENOMEM, "out of device memory: %s needs more than %zu bytes", what,
                        (size_t)-1);
    DLN_TRY(dln_cuda_malloc(be, &m->data, n * es, what));
    CUDA_CHECK(cudaMemsetAsync(m->data, 0, n * es, c->stream));
    return DLN_OK;
}

static void cuda_free(dln_backend *be, dln_mat *m)
{
    // waits for the stream first: cudaFree only *may* synchronise, and queued work (the
    // zero-fill of alloc, or what preceded a failed operation) may still use the memory
    cuda_impl *c = be->impl;
    if (m->data && !c->capturing && cudaStreamSynchronize(c->stream) != cudaSuccess) (void)cudaGetLastError();
    if (m->data && cudaFree(m->data) != cudaSuccess) (void)cudaGetLastError();
    m->data = NULL;
}

static int cuda_mem_info(dln_backend *be, size_t *free_bytes, size_t *total_bytes)
{
    *free_bytes = 0;
    *total_bytes = 0;
    DLN_TRY(no_capture(be, "mem_info"));
    CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
    return DLN_OK;
}


static int cuda_copy(dln_backend *be, dln_mat *dst, const dln_mat *src)
{
    // dst and src are (rows, cols); one 2-D device-to-device copy honouring both lds
    cuda_impl *c = be->impl;
    if (src->rows == 0 || src->cols == 0) return DLN_OK;
    size_t es = dln_dtype_size(src->dtype);
    CUDA_CHECK(cudaMemcpy2DAsync(dst->data, (size_t)dst->ld * es, src->data, (size_t)src->ld * es,
                                 (size_t)src->rows * es, (size_t)src->cols, cudaMemcpyDeviceToDevice,
                                 c->stream));
    return DLN_OK;
}

static int cuda_transpose(dln_backend *be, dln_mat *dst, const dln_mat *src)
{
    // src is (r, c), dst is (c, r): dst = 1 * src^T + 0 * dst (geam; dst must not overlap src)
    cuda_impl *c = be->impl;
    if (dst->rows == 0 || dst->cols == 0) return DLN_OK;
    /* beta = 0, B given as dst with transb = N (geam's documented in-place form); dst's
     * old values must not leak through (the tests put NaN there). */
    if (src->dtype == DLN_F64) {
        const double one = 1.0, zero = 0.0;
        CUBLAS_CHECK(cublasDgeam(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, dst->rows, dst->cols, &one, src->data,
                                 src->ld, &zero, dst->data, dst->ld, dst->data, dst->ld));
    } else {
        const float one = 1.0f, zero = 0.0f;
        CUBLAS_CHECK(cublasSgeam(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, dst->rows, dst->cols, &one, src->data,
                                 src->ld, &zero, dst->data, dst->ld, dst->data, dst->ld));
    }
    return DLN_OK;
}

/* Sets the cuBLAS math mode only when it differs from the one already set. */
int dln_cuda_set_math(dln_backend *be, cublasMath_t mode)
{
    cuda_impl *c = be->impl;
    if (c->blas_math == mode) return DLN_OK;
    CUBLAS_CHECK(cublasSetMathMode(c->blas, mode));
    c->blas_math = mode;
    return DLN_OK;
}

static int cuda_synchronize(dln_backend *be)
{
    // waits for all queued work on the backend stream
    cuda_impl *c = be->impl;
    DLN_TRY(no_capture(be, "synchronize"));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return DLN_OK;
}

/* gesvd workspace for an (m, n) matrix: the size is queried only when the shape changes
 * and the buffer is reallocated only when it must grow. */
static int ensure_svd(dln_backend *be, int m, int n)
{
    cuda_impl *c = be->impl;
    if (m != c->svd_m || n != c->svd_n) {
        int lwork = 0;
        CUSOLVER_CHECK(cusolverDnDgesvd_bufferSize(c->solver, m, n, &lwork));
        c->svd_m = m;
        c->svd_n = n;
        c->svd_lwork = lwork;
    }
    return dln_cuda_grow(be, &c->svd_buf, &c->svd_cap, (size_t)c->svd_lwork + 2 * (size_t)n, "the gesvd workspace");
}

static int cuda_gesvd(dln_backend *be, dln_mat *A, double *s, dln_mat *U, dln_mat *VT)
{
    // A is (m, n) with m >= n, destroyed; U is (m, n), VT is (n, n), s has n values (host)
    cuda_impl *c = be->impl;
    int m = A->rows, n = A->cols;
    DLN_TRY(no_capture(be, "gesvd"));
    if (n == 0) return DLN_OK;
    DLN_TRY(ensure_svd(be, m, n));
    double *work = c->svd_buf, *rwork = work + c->svd_lwork, *d_s = rwork + n;
    /* jobu = 'S' gives U as (m, n), jobvt = 'S' gives VT as (n, n) since m >= n. With 'N'
     * nothing is written, but ldu >= m and ldvt >= n are still passed. */
    CUSOLVER_CHECK(cusolverDnDgesvd(c->solver, U ? 'S' : 'N', VT ? 'S' : 'N', m, n, A->data, A->ld, d_s,
                                    U ? U->data : NULL, U ? U->ld : m, VT ? VT->data : NULL,
                                    VT ? VT->ld : n, work, c->svd_lwork, rwork, c->dev_info));
    int info = 0;
    CUDA_CHECK(cudaMemcpyAsync(&info, c->dev_info, sizeof info, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaMemcpyAsync(s, d_s, sizeof(double) * (size_t)n, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    if (info < 0) return dln_fail(be->err, DLN_ERUNTIME, "cusolverDnDgesvd: argument %d is invalid", -info);
    if (info > 0)
        return dln_fail(be->err, DLN_ERUNTIME, "cusolverDnDgesvd: %d superdiagonals did not converge", info);
    return DLN_OK;
}

static int cuda_capture_begin(dln_backend *be)
{
    // records everything issued on the backend stream by this thread until capture_end
    cuda_impl *c = be->impl;
    if (c->capturing) return dln_fail(be->err, DLN_ERUNTIME, "capture_begin: a capture is already open");
    CUDA_CHECK(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
    c->capturing = 1;
    return DLN_OK;
}

static int cuda_capture_end(dln_backend *be, dln_graph **out)
{
    // ends the capture (even on failure) and instantiates the recorded graph
    cuda_impl *c = be->impl;
    *out = NULL;
    if (!c->capturing) return dln_fail(be->err, DLN_ERUNTIME, "capture_end: no capture is open");
    c->capturing = 0;
    cudaGraph_t graph = NULL;
    CUDA_CHECK(cudaStreamEndCapture(c->stream, &graph));
    dln_graph *g = calloc(1, sizeof *g);
    if (!g) {
        cudaGraphDestroy(graph);
        return dln_fail(be->err, DLN_ENOMEM, "out of host memory ending a graph capture");
    }
    g->graph = graph;
    cudaError_t e = cudaGraphInstantiate(&g->exec, graph, 0);
    if (e != cudaSuccess) {
        cudaGraphDestroy(graph);
        free(g);
        return fail_call(be, "cudaGraphInstantiate(&g->exec, graph, 0)", __FILE__, __LINE__,
                         cudaGetErrorName(e), cudaGetErrorString(e));
    }
    g->next = c->graphs;
    c->graphs = g;
    *out = g;
    return DLN_OK;
}

static int cuda_graph_launch(dln_backend *be, dln_graph *g)
{
    // enqueues one replay of g on the backend stream
    cuda_impl *c = be->impl;
    CUDA_CHECK(cudaGraphLaunch(g->exec, c->stream));
    return DLN_OK;
}

static void release_graph(dln_graph *g)
{
    /* An exec still in flight is freed by CUDA once it completes. */
    if (g->exec && cudaGraphExecDestroy(g->exec) != cudaSuccess) (void)cudaGetLastError();
    if (g->graph && cudaGraphDestroy(g->graph) != cudaSuccess) (void)cudaGetLastError();
    free(g);
}

static void cuda_graph_destroy(dln_backend *be, dln_graph *g)
{
    cuda_impl *c = be->impl;
    if (!g) return;
    for (dln_graph **p = &c->graphs; *p; p = &(*p)->next) {
        if (*p == g) {
            *p = g->next;
            break;
        }
    }
    release_graph(g);
}

/* Frees whatever exists; safe on a partly created backend (zeroed fields are skipped). */
static void cuda_destroy(dln_backend *be)
{
    cuda_impl *c = be->impl;
    if (c) {
        if (c->stream) {
            if (c->capturing) {
                cudaGraph_t graph = NULL;
                if (cudaStreamEndCapture(c->stream, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
            }
            cudaStreamSynchronize(c->stream);
        }
        while (c->graphs) {
            dln_graph *g = c->graphs;
            c->graphs = g->next;
            release_graph(g);
        }
        if (c->svd_buf) cudaFree(c->svd_buf);
        if (c->qr_buf) cudaFree(c->qr_buf);
        if (c->dev_info) cudaFree(c->dev_info);
        if (c->partials) cudaFree(c->partials);
        if (c->batch_partials) cudaFree(c->batch_partials);
        if (c->staging) cudaFreeHost(c->staging);
        if (c->solver) cusolverDnDestroy(c->solver);
        if (c->blas) cublasDestroy(c->blas);
        if (c->blas_ws) cudaFree(c->blas_ws);
        if (c->stream) cudaStreamDestroy(c->stream);
        (void)cudaGetLastError();
        free(c);
    }
    free(be);
}

static const dln_backend_ops cuda_ops = {
    .name = "cuda",
    .caps = DLN_CAP_GRAPHS | DLN_CAP_TF32 | DLN_CAP_DEVICE_MEMORY | DLN_CAP_ASYNC,
    .destroy = cuda_destroy,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .mem_info = cuda_mem_info,
    .upload = dln_cuda_upload,
    .download = dln_cuda_download,
    .copy = cuda_copy,
    .transpose = cuda_transpose,
    .gemm = dln_cuda_gemm,
    .axpby = dln_cuda_axpby,
    .sumsq = dln_cuda_sumsq,
    .loss_gradient = dln_cuda_loss_gradient,
    .loss_hessian = dln_cuda_loss_hessian,
    .synchronize = cuda_synchronize,
    .gesvd = cuda_gesvd,
    .geqrf = dln_cuda_geqrf,
    .ormqr = dln_cuda_ormqr,
    .triu = dln_cuda_triu,
    .capture_begin = cuda_capture_begin,
    .capture_end = cuda_capture_end,
    .graph_launch = cuda_graph_launch,
    .graph_destroy = cuda_graph_destroy,
};

/* Stream, handles bound to it, deterministic settings and the fixed device buffers. */
static int cuda_init(dln_backend *be)
{
    cuda_impl *c = be->impl;
    int count = 0, major = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        (void)cudaGetLastError();
        return dln_fail(be->err, DLN_ERUNTIME, "no CUDA device: %s",
                        e != cudaSuccess ? cudaGetErrorString(e) : "the runtime reports 0 devices");
    }
    CUDA_CHECK(cudaGetDevice(&c->device));
    CUDA_CHECK(cudaSetDevice(c->device));
    CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, c->device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));

    CUBLAS_CHECK(cublasCreate(&c->blas));
    CUBLAS_CHECK(cublasSetStream(c->blas, c->stream));
    /* After cublasSetStream (which resets it): a fixed workspace of the recommended size
     * (32 MiB on Hopper and later, else 4 MiB), so nothing is allocated during a capture
     * and the GEMM algorithms do not depend on allocator state. */
    size_t ws = major >= 9 ? (size_t)32 << 20 : (size_t)4 << 20;
    DLN_TRY(dln_cuda_malloc(be, &c->blas_ws, ws, "the cuBLAS workspace"));
    CUBLAS_CHECK(cublasSetWorkspace(c->blas, c->blas_ws, ws));
    CUBLAS_CHECK(cublasSetPointerMode(c->blas, CUBLAS_POINTER_MODE_HOST));
    CUBLAS_CHECK(cublasSetAtomicsMode(c->blas, CUBLAS_ATOMICS_NOT_ALLOWED));
    CUBLAS_CHECK(cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH));
    c->blas_math = CUBLAS_DEFAULT_MATH;

    CUSOLVER_CHECK(cusolverDnCreate(&c->solver));
    CUSOLVER_CHECK(cusolverDnSetStream(c->solver, c->stream));
    CUSOLVER_CHECK(cusolverDnSetDeterministicMode(c->solver, CUSOLVER_DETERMINISTIC_RESULTS));

    void *p = NULL;
    DLN_TRY(dln_cuda_malloc(be, &p, sizeof(double) * DLN_SUMSQ_BLOCKS, "the reduction scratch"));
    c->partials = p;
    DLN_TRY(dln_cuda_malloc(be, &p, sizeof(int), "the gesvd info"));
    c->dev_info = p;
    return DLN_OK;
}

int dln_backend_cuda_create(dln_error *err, dln_backend **out)
{
    *out = NULL;
    dln_backend *be = calloc(1, sizeof *be);
    cuda_impl *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return dln_fail(err, DLN_ENOMEM, "out of host memory creating the CUDA backend");
    }
    be->ops = &cuda_ops;
    be->impl = c;
    be->err = err;
    be->math_mode = DLN_MATH_DEFAULT;
    int rc = cuda_init(be);
    if (rc) {
        cuda_destroy(be);
        return rc;
    }
    *out = be;
    return DLN_OK;
}

int dln_backend_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

void dln_backend_cuda_describe(char *buf, size_t n)
{
    int count = 0, dev = 0;
    struct cudaDeviceProp p;
    if (!buf || n == 0) return;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e == cudaSuccess && count == 0) e = cudaErrorNoDevice;
    if (e == cudaSuccess) e = cudaGetDevice(&dev);
    if (e == cudaSuccess) e = cudaGetDeviceProperties(&p, dev);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(buf, n, "none (no CUDA device: %s)", cudaGetErrorString(e));
        return;
    }
    int len = snprintf(buf, n, "cuda:%d %s (sm_%d%d, %.1f GiB)", dev, p.name, p.major, p.minor,
                       (double)p.totalGlobalMem / (double)(1u << 30));
    if (count > 1 && len > 0 && (size_t)len < n) snprintf(buf + len, n - (size_t)len, " + %d more", count - 1);
}
