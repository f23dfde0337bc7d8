/* dln_backend.h: the backend interface. A backend is a table of operations plus a
 * context; every matrix the orchestrator uses lives in backend-owned memory and is
 * touched only through these operations. Column-major storage, explicit leading
 * dimensions. The orchestrator (src/shallow.c, src/network.c, src/trainer.c) never
 * includes a CUDA header: it only sees this file. */
#ifndef DLN_BACKEND_H
#define DLN_BACKEND_H

#include <stddef.h>

#include "dln_error.h"

typedef enum { DLN_F64 = 0, DLN_F32 = 1 } dln_dtype;

/* Math modes for GEMMs of fp32 matrices: exact fp32, or TF32 tensor cores (CUDA only). */
typedef enum { DLN_MATH_DEFAULT = 0, DLN_MATH_TF32 = 1 } dln_math_mode;

/* A matrix in backend memory: element (i, j) is at data + (i + j * ld) * size(dtype).
 * A view (dln_mat_view) shares data with its parent and is never freed itself. */
typedef struct {
    int rows, cols, ld;
    dln_dtype dtype;
    void *data;
} dln_mat;

size_t dln_dtype_size(dln_dtype t);
const char *dln_dtype_name(dln_dtype t);
/* Sub-block (r0, c0) of size rows x cols: pointer arithmetic only, no memory access. */
dln_mat dln_mat_view(const dln_mat *m, int r0, int c0, int rows, int cols);

typedef struct dln_backend dln_backend;

/* Argument checks every backend shares (src/matrix.c): same shape and dtype; GEMM
 * shapes that chain (sets *k, the inner dimension). DLN_ERUNTIME in be->err otherwise. */
int dln_check_same(dln_backend *be, const char *op, const dln_mat *a, const dln_mat *b);
int dln_check_gemm(dln_backend *be, int trans_a, int trans_b, const dln_mat *A, const dln_mat *B,
                   const dln_mat *C, int *k);
typedef struct dln_graph dln_graph;

/* Number of scalar slots each backend owns (results of reductions, read in bulk). */
#define DLN_NUM_SLOTS 8

typedef struct dln_backend_ops {
    const char *name;
    void (*destroy)(dln_backend *be);

    /* Device memory. alloc zero-fills; free accepts a zeroed mat. mem_info reports
     * free and total bytes where the backend knows them (else 0, 0). */
    int (*alloc)(dln_backend *be, dln_mat *m, int rows, int cols, dln_dtype dtype);
    void (*free)(dln_backend *be, dln_mat *m);
    int (*mem_info)(dln_backend *be, size_t *free_bytes, size_t *total_bytes);

    /* Host <-> backend. Host side is always fp64, column-major with leading dim ld;
     * conversion to and from the matrix's dtype happens here. Both are synchronous. */
    int (*upload)(dln_backend *be, dln_mat *dst, const double *src, int ld_src);
    int (*download)(dln_backend *be, const dln_mat *src, double *dst, int ld_dst);

    /* dst = src (same shape and dtype). */
    int (*copy)(dln_backend *be, dln_mat *dst, const dln_mat *src);
    /* dst = src^T: src is (r, c), dst is (c, r); same dtype. */
    int (*transpose)(dln_backend *be, dln_mat *dst, const dln_mat *src);
    /* C = alpha op(A) op(B) + beta C; op(A) is (C.rows, k), op(B) is (k, C.cols).
     * trans_a / trans_b: 0 = as is, 1 = transposed. All three share one dtype. */
    int (*gemm)(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A,
                const dln_mat *B, double beta, dln_mat *C);
    /* Y = alpha X + beta Y, element-wise over the (rows, cols) block. */
    int (*axpby)(dln_backend *be, double alpha, const dln_mat *X, double beta, dln_mat *Y);
    /* slot = (accumulate ? slot : 0) + sum of squares of X, in fp64. The value is read
     * with read_slots; it may be computed asynchronously. */
    int (*sumsq)(dln_backend *be, const dln_mat *X, int slot, int accumulate);
    /* Waits for all queued work and copies slots [0, n) to host. */
    int (*read_slots)(dln_backend *be, double *out, int n);

    /* Thin SVD of A (rows >= cols required; A is destroyed): A = U diag(s) VT.
     * s (host, cols values, descending) always; U (rows, cols) and VT (cols, cols)
     * when non-NULL. fp64 only. */
    int (*gesvd)(dln_backend *be, dln_mat *A, double *s, dln_mat *U, dln_mat *VT);

    /* Optional (NULL when unsupported): record the operations issued between
     * capture_begin and capture_end into a graph that graph_launch replays. A graph keeps
     * the scalars (alpha, beta) and the math mode it was recorded with. */
    int (*capture_begin)(dln_backend *be);
    int (*capture_end)(dln_backend *be, dln_graph **g);
    int (*graph_launch)(dln_backend *be, dln_graph *g);
    void (*graph_destroy)(dln_backend *be, dln_graph *g);
} dln_backend_ops;

struct dln_backend {
    const dln_backend_ops *ops;
    void *impl;               /* backend-private state */
    dln_math_mode math_mode;  /* for fp32 GEMMs */
    dln_error *err;           /* where failures are described */
};

/* The one place that knows which backends are compiled in (src/backend_registry.c). */
typedef enum { DLN_BACKEND_AUTO = 0, DLN_BACKEND_CPU = 1, DLN_BACKEND_CUDA = 2 } dln_backend_kind;

/* Creates the backend; AUTO picks CUDA when compiled in and a device is present, and
 * writes a note to *note (static string, or NULL) saying what it chose and why. */
int dln_backend_create(dln_backend_kind kind, dln_error *err, dln_backend **out, const char **note);
void dln_backend_destroy(dln_backend *be);
/* Comma-separated names of compiled-in backends, e.g. "cpu,cuda". */
const char *dln_backends_compiled(void);
/* Writes a one-line description of the devices found (CUDA), or "none". */
void dln_devices_describe(char *buf, size_t n);
/* 1 when a CUDA device is usable in this process, else 0. */
int dln_cuda_available(void);

/* Backend constructors; each backend's source file defines its own. */
int dln_backend_cpu_create(dln_error *err, dln_backend **out);
#ifdef DLN_HAVE_CUDA
int dln_backend_cuda_create(dln_error *err, dln_backend **out);
int dln_backend_cuda_device_count(void);
void dln_backend_cuda_describe(char *buf, size_t n);
#endif

#endif
