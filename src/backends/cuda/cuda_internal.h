/* cuda_internal.h: what the files of the CUDA backend share (internal to the library,
 * included only by the .c files of src/backends/cuda/, which are built only when nvcc is found): the
 * backend's context (cuda_impl), the error helpers and the CUDA_CHECK / CUBLAS_CHECK /
 * CUSOLVER_CHECK macros, the capture guard, and the operations defined outside
 * backend_cuda.c (host <-> device transfers, transfer.c; the QR operations, qr.c). Together
 * with those files and the kernels, this is the only code that includes CUDA headers. */
#ifndef DLN_BACKEND_CUDA_H
#define DLN_BACKEND_CUDA_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>
#include <stddef.h>

#include "backends/backend_table.h"

/* The backend's context, be->impl. */
typedef struct {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    cusolverDnHandle_t solver;
    cublasMath_t blas_math;  /* math mode currently set on blas */
    void *blas_ws;           /* explicit cuBLAS workspace (no allocation while capturing) */
    double *partials;        /* device, DLN_SUMSQ_BLOCKS: scratch of sumsq's first pass */
    double *batch_partials;  /* device: scratch of sumsq for several members (step_ops.c), grown on demand */
    size_t batch_partials_cap;
    void *staging;           /* pinned host staging for upload and download */
    size_t staging_bytes;
    double *svd_buf;         /* device: gesvd work (svd_lwork), rwork (n), s (n) */
    size_t svd_cap;          /* doubles in svd_buf */
    int svd_m, svd_n, svd_lwork; /* shape of the last bufferSize query and its answer */
    int *dev_info;           /* device int written by gesvd, geqrf, ormqr */
    double *qr_buf;          /* device: geqrf / ormqr workspace (qr.c), grown on demand */
    size_t qr_cap;           /* doubles in qr_buf */
    struct dln_qr_query {    /* bufferSize answers by shape (qr.c): each shape queried once */
        int op, m, n, k, trans, lda, ldc, lwork;
    } qr_queries[8];
    int qr_next;             /* the entry of qr_queries replaced next */
    int capturing;           /* a stream capture is open */
    dln_graph *graphs;
} cuda_impl;

/* The name of a cuSOLVER status (cuSOLVER has no function for it). */
static inline const char *cusolver_status_name(cusolverStatus_t s)
{
    switch (s) {
    case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    case CUSOLVER_STATUS_INVALID_WORKSPACE: return "CUSOLVER_STATUS_INVALID_WORKSPACE";
    default: return "cuSOLVER error";
    }
}

/* Records "<call> failed at file:line: <status>" in be->err; returns DLN_ERUNTIME. The
 * CUDA runtime's last error is cleared so that a handled failure is not reported again
 * by the next kernel launch check. */
static inline int fail_call(dln_backend *be, const char *call, const char *file, int line, const char *name,
                            const char *text)
{
    (void)cudaGetLastError();
    return dln_fail(be->err, DLN_ERUNTIME, "%s failed at %s:%d: %s%s%s%s", call, file, line, name,
                    text ? " (" : "", text ? text : "", text ? ")" : "");
}

/* In the style of llm.c's cudaCheck; each needs `be` in scope and returns on failure. */
#define CUDA_CHECK(call)                                                                            \
    do {                                                                                            \
        cudaError_t cuda_rc_ = (call);                                                              \
        if (cuda_rc_ != cudaSuccess)                                                                \
            return fail_call(be, #call, __FILE__, __LINE__, cudaGetErrorName(cuda_rc_),             \
                             cudaGetErrorString(cuda_rc_));                                         \
    } while (0)
#define CUBLAS_CHECK(call)                                                                          \
    do {                                                                                            \
        cublasStatus_t blas_rc_ = (call);                                                           \
        if (blas_rc_ != CUBLAS_STATUS_SUCCESS)                                                      \
            return fail_call(be, #call, __FILE__, __LINE__, cublasGetStatusName(blas_rc_),          \
                             cublasGetStatusString(blas_rc_));                                      \
    } while (0)
#define CUSOLVER_CHECK(call)                                                                        \
    do {                                                                                            \
        cusolverStatus_t solver_rc_ = (call);                                                       \
        if (solver_rc_ != CUSOLVER_STATUS_SUCCESS)                                                  \
            return fail_call(be, #call, __FILE__, __LINE__, cusolver_status_name(solver_rc_), NULL); \
    } while (0)

/* Operations that synchronise, or allocate, cannot be recorded into a graph. */
static inline int no_capture(dln_backend *be, const char *op)
{
    cuda_impl *c = be->impl;
    if (c->capturing)
        return dln_fail(be->err, DLN_ERUNTIME,
                        "%s: not allowed while a CUDA graph capture is open (it synchronises or allocates)", op);
    return DLN_OK;
}

/* cudaMalloc of bytes; out of memory is DLN_ENOMEM naming `what` (backend_cuda.c). */
int dln_cuda_malloc(dln_backend *be, void **p, size_t bytes, const char *what);
/* *buf (device, *cap doubles) grown to hold at least need doubles: freed (once the stream is
 * idle) and made anew when too small; `what` names it in an out-of-memory message. */
int dln_cuda_grow(dln_backend *be, double **buf, size_t *cap, size_t need, const char *what);
/* Sets the cuBLAS math mode when it differs from the one set (backend_cuda.c). */
int dln_cuda_set_math(dln_backend *be, cublasMath_t mode);

/* The step's operations for count members (step_ops.c). */
int dln_cuda_gemm(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A, size_t stride_a,
                  const dln_mat *B, size_t stride_b, double beta, dln_mat *C, size_t stride_c, int count);
int dln_cuda_axpby(dln_backend *be, double alpha, const dln_mat *av, const dln_mat *X, size_t stride_x, double beta,
                   const dln_mat *cv, dln_mat *Y, size_t stride_y, int count);
int dln_cuda_sumsq(dln_backend *be, const dln_mat *X, size_t stride_x, int count, dln_mat *out, int index,
                   int accumulate);
int dln_cuda_loss_gradient(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, dln_mat *Z,
                           size_t stride_z, int count, dln_mat *out, int index);
int dln_cuda_loss_hessian(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, const dln_mat *Z,
                          size_t stride_z, dln_mat *D, size_t stride_d, int count);

/* Householder QR and its application (geqrf, ormqr: cuSOLVER, waiting for devInfo) and
 * the triangle kernel (qr.c). */
int dln_cuda_geqrf(dln_backend *be, dln_mat *A, dln_mat *tau);
int dln_cuda_ormqr(dln_backend *be, int trans, const dln_mat *A, const dln_mat *tau, dln_mat *C);
int dln_cuda_triu(dln_backend *be, dln_mat *A);

/* Host fp64 src (rows, cols) with leading dim ld_src -> dst (device, in its dtype), and
 * back; synchronous, through the pinned staging buffer (transfer.c). */
int dln_cuda_upload(dln_backend *be, dln_mat *dst, const double *src, int ld_src);
int dln_cuda_download(dln_backend *be, const dln_mat *src, double *dst, int ld_dst);

#endif
