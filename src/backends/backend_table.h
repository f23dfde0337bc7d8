/* backend_table.h: the backend table (internal to the library). A backend is a table of
 * operations plus a context; src/backends/ops.c checks every argument and then calls the
 * table, so a backend's operations receive only well-formed calls: shapes that chain,
 * matching dtypes, result indices in range, views inside their extents. Each backend
 * folder (cpu/, cuda/) defines one table and a constructor; registry.c is the one file
 * that knows which exist. */
#ifndef DLN_BACKEND_TABLE_H
#define DLN_BACKEND_TABLE_H

#include "dln/ops.h"

typedef struct dln_backend_ops {
    const char *name;
    unsigned caps; /* an OR of dln_capability */
    void (*destroy)(dln_backend *be);

    /* m (rows, cols), ld = max(rows, 1), zero-filled; free accepts a zeroed mat. */
    int (*alloc)(dln_backend *be, dln_mat *m, int rows, int cols, dln_dtype dtype);
    void (*free)(dln_backend *be, dln_mat *m);
    /* free and total bytes where the backend has device memory, else 0, 0 */
    int (*mem_info)(dln_backend *be, size_t *free_bytes, size_t *total_bytes);

    /* host fp64 with ld_host >= rows <-> backend; synchronous */
    int (*upload)(dln_backend *be, dln_mat *dst, const double *src, int ld_src);
    int (*download)(dln_backend *be, const dln_mat *src, double *dst, int ld_dst);

    int (*copy)(dln_backend *be, dln_mat *dst, const dln_mat *src);
    int (*transpose)(dln_backend *be, dln_mat *dst, const dln_mat *src);
    int (*synchronize)(dln_backend *be);
    /* The step's operations, for count >= 1 members (dln/ops.h's batched forms; a single
     * matrix is one member with stride 0): a backend may use its plain calls for one member,
     * and must give each member the bits it gives that member alone. Arguments checked. */
    int (*gemm)(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A, size_t stride_a,
                const dln_mat *B, size_t stride_b, double beta, dln_mat *C, size_t stride_c, int count);
    int (*axpby)(dln_backend *be, double alpha, const dln_mat *av, const dln_mat *X, size_t stride_x, double beta,
                 const dln_mat *cv, dln_mat *Y, size_t stride_y, int count);
    /* out is fp64 (n, 1) with 0 <= index, index + count <= n */
    int (*sumsq)(dln_backend *be, const dln_mat *X, size_t stride_x, int count, dln_mat *out, int index,
                 int accumulate);
    /* A (m, n), m >= n, fp64; U (m, n), VT (n, n) fp64 or NULL */
    int (*gesvd)(dln_backend *be, dln_mat *A, double *s, dln_mat *U, dln_mat *VT);
    /* dln/ops.h's loss operations for count members: Y, Z (and D) of one shape and dtype,
     * Z and D disjoint from Y, out NULL or an fp64 column with room; arguments checked */
    int (*loss_gradient)(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, dln_mat *Z,
                         size_t stride_z, int count, dln_mat *out, int index);
    int (*loss_hessian)(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, const dln_mat *Z,
                        size_t stride_z, dln_mat *D, size_t stride_d, int count);
    /* A (m, n) fp64, tau fp64 (>= min(m, n), 1), disjoint */
    int (*geqrf)(dln_backend *be, dln_mat *A, dln_mat *tau);
    /* A (m, na) and tau from geqrf, k = min(m, na); C (m, n) fp64, disjoint from both */
    int (*ormqr)(dln_backend *be, int trans, const dln_mat *A, const dln_mat *tau, dln_mat *C);
    /* A (rows, cols), any dtype */
    int (*triu)(dln_backend *be, dln_mat *A);

    /* NULL unless caps has DLN_CAP_GRAPHS */
    int (*capture_begin)(dln_backend *be);
    int (*capture_end)(dln_backend *be, dln_graph **g);
    int (*graph_launch)(dln_backend *be, dln_graph *g);
    void (*graph_destroy)(dln_backend *be, dln_graph *g);
} dln_backend_ops;

struct dln_backend {
    const dln_backend_ops *ops;
    void *impl;              /* backend-private context */
    dln_math_mode math_mode; /* for fp32 GEMMs */
    dln_error *err;          /* where failures are recorded (caller-owned) */
    struct dln_pool *pool;   /* dln_backend_set_threads's threads (NULL: none) */
};

/* Constructors (one per backend folder) and the CUDA device queries the registry uses. */
int dln_backend_cpu_create(dln_error *err, dln_backend **out);
int dln_backend_cuda_create(dln_error *err, dln_backend **out);
int dln_backend_cuda_device_count(void);
void dln_backend_cuda_describe(char *buf, size_t n);

#endif
