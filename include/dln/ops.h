/* dln/ops.h: matrices in backend memory and the operations on them. Column-major
 * storage with explicit leading dimensions: element (i, j) of a dln_mat is at
 * data + (i + j * ld) * size(dtype). data is backend memory (device memory on CUDA):
 * the host reads and writes it only through upload and download. Every operation checks
 * its arguments (shapes that chain, dtypes, views inside their parents' extents as far
 * as the descriptor tells) and records a failure in the backend's error record. */
#ifndef DLN_OPS_H
#define DLN_OPS_H

#include <stddef.h>

#include "dln/backend.h"

typedef enum { DLN_F64 = 0, DLN_F32 = 1 } dln_dtype;

typedef struct {
    int rows, cols, ld;
    dln_dtype dtype;
    void *data;
} dln_mat;

typedef struct dln_graph dln_graph;

size_t dln_dtype_size(dln_dtype t);
const char *dln_dtype_name(dln_dtype t);
/* Sub-block (r0, c0) of size rows x cols: pointer arithmetic only, no memory access. A
 * view shares its parent's memory and is never freed itself. */
dln_mat dln_mat_view(const dln_mat *m, int r0, int c0, int rows, int cols);

/* m (rows, cols), ld = max(rows, 1), zero-filled. dln_mat_free accepts a zeroed mat. */
int dln_mat_alloc(dln_backend *be, dln_mat *m, int rows, int cols, dln_dtype dtype);
void dln_mat_free(dln_backend *be, dln_mat *m);

/* dst (rows, cols) in its dtype <- host fp64 src (rows, cols) with leading dim ld_src,
 * and back. Conversion to and from fp32 happens here. Both wait for the data. */
int dln_upload(dln_backend *be, dln_mat *dst, const double *src, int ld_src);
int dln_download(dln_backend *be, const dln_mat *src, double *dst, int ld_dst);

/* dst = src (same shape and dtype). */
int dln_copy(dln_backend *be, dln_mat *dst, const dln_mat *src);
/* dst (c, r) = src^T, src (r, c); same dtype; dst must not overlap src. */
int dln_transpose(dln_backend *be, dln_mat *dst, const dln_mat *src);
/* C (m, n) = alpha op(A) op(B) + beta C; op(A) is (m, k), op(B) is (k, n); trans_a,
 * trans_b: 0 as is, 1 transposed. One dtype for all three. */
int dln_gemm(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A, const dln_mat *B,
             double beta, dln_mat *C);
/* Y = alpha X + beta Y over the (rows, cols) block. As in BLAS: beta = 0 never reads Y. */
int dln_axpby(dln_backend *be, double alpha, const dln_mat *X, double beta, dln_mat *Y);
/* out[index] = (accumulate ? out[index] : 0) + sum of squares of X, accumulated in
 * fp64. out is an fp64 column (n, 1) in backend memory owned by the caller (a network,
 * the solver, a test): results are read with dln_download, which waits for them. */
int dln_sumsq(dln_backend *be, const dln_mat *X, dln_mat *out, int index, int accumulate);
/* ---- batches: the same operation on count members ------------------------------------
 * Member b of an operand is the matrix its descriptor describes, moved by b * stride
 * elements (stride 0: every member shares it; an output's stride must keep members apart).
 * The members of an operand must lie in one allocation. */

/* C_b = alpha op(A_b) op(B_b) + beta C_b, b = 0..count-1. */
int dln_gemm_batched(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A, size_t stride_a,
                     const dln_mat *B, size_t stride_b, double beta, dln_mat *C, size_t stride_c, int count);
/* Y_b = (alpha a_b) X_b + (beta c_b) Y_b with a_b, c_b from the fp64 columns av, cv (count,
 * 1) in backend memory (NULL: 1), read when the work runs (so a captured graph follows new
 * values). A member whose factor of X is 0 never reads X_b (NaN there stays out). */
int dln_axpby_batched(dln_backend *be, double alpha, const dln_mat *av, const dln_mat *X, size_t stride_x,
                      double beta, const dln_mat *cv, dln_mat *Y, size_t stride_y, int count);
/* out[index + b] = (accumulate ? out[index + b] : 0) + sum of squares of X_b, in fp64. */
int dln_sumsq_batched(dln_backend *be, const dln_mat *X, size_t stride_x, int count, dln_mat *out, int index,
                      int accumulate);

/* ---- losses: the objectives' work on a prediction (dln/objective.h) ------------------
 * A loss of a prediction Z (rows, cols) against a target Y of the same shape, summed over
 * every entry (no 1/cols): elementwise for lp, huber and logistic, over each column for
 * softmax (columns are samples). The forms and their stable evaluation: docs/maths.md 4.1. */
typedef enum {
    DLN_LOSS_LP = 1,       /* (1/p) sum |Z - Y|^p, param = p >= 2 */
    DLN_LOSS_HUBER = 2,    /* sum h(Z - Y), h(e) = e^2 / 2 for |e| <= d, d (|e| - d / 2) beyond; param = d > 0 */
    DLN_LOSS_LOGISTIC = 3, /* sum softplus(Z) - Y o Z, entries of Y in [0, 1] */
    DLN_LOSS_SOFTMAX = 4,  /* sum_j logsumexp(Z_:j) - Y_:j^T Z_:j, columns of Y on the simplex */
    DLN_LOSS_MASKED = 5,   /* 1/2 sum (Z - Y)^2 over the entries where Y is a number: NaN marks an
                              unobserved entry (matrix completion) */
} dln_loss_kind;

typedef struct {
    dln_loss_kind kind;
    double param; /* p (lp), delta (huber); unused otherwise */
} dln_loss;

/* For b = 0..count-1: Z_b := dL/dZ at Z_b in place, and where out is given (an fp64 column,
 * 0 <= index, index + count <= its rows) out[index + b] = L(Z_b), summed in fp64. Y_b is Y
 * moved by b * stride_y (0: one target for every member); same shape and dtype as Z. */
int dln_loss_gradient_batched(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, dln_mat *Z,
                              size_t stride_z, int count, dln_mat *out, int index);
/* For b = 0..count-1: D_b := (d^2 L / dZ^2 at Z_b) D_b in place (Z_b the prediction, not
 * the gradient); Y, Z, D of one shape and dtype. */
int dln_loss_hessian_batched(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y,
                             const dln_mat *Z, size_t stride_z, dln_mat *D, size_t stride_d, int count);

/* Waits until all work queued on the backend has finished. */
int dln_synchronize(dln_backend *be);

/* Thin SVD of A (m, n), m >= n, fp64; A is destroyed: A = U diag(s) VT with s (host, n
 * values, descending) always, U (m, n) and VT (n, n) when non-NULL. The signs of the
 * singular-vector pairs are not specified. */
int dln_gesvd(dln_backend *be, dln_mat *A, double *s, dln_mat *U, dln_mat *VT);
/* An upper bound on the workspace bytes an SVD of a (rows, cols) matrix takes in LAPACK
 * (dgesvd, which LAPACKE allocates) or cuSOLVER, with singular vectors. */
double dln_gesvd_work_bytes(int rows, int cols);

/* ---- Householder QR (fp64; for the shallow solver's QR route) -------------------------
 * tau lives in backend memory: an fp64 column (at least k rows) that dln_geqrf writes and
 * dln_ormqr reads where the work runs, so nothing crosses to the host between them. */

/* QR of A (m, n), any shape, in place, as LAPACK's geqrf: with k = min(m, n), the upper
 * triangle of A's first k rows becomes R and the entries below the diagonal, with tau[0..k),
 * hold the reflectors H_i = I - tau_i v_i v_i^T (v_i(i) = 1 implied), A = Q R with
 * Q = H_1 ... H_k (m, m). tau must not overlap A. Waits for the device (its status is read). */
int dln_geqrf(dln_backend *be, dln_mat *A, dln_mat *tau);
/* C (m, n) = Q^T C (trans = 1) or Q C (trans = 0), with Q (m, m) the product of the k =
 * min(m, cols of A) reflectors that dln_geqrf left in A (m rows) and tau: Q is never formed.
 * fp64; C must not overlap A or tau. Waits for the device. */
int dln_ormqr(dln_backend *be, int trans, const dln_mat *A, const dln_mat *tau, dln_mat *C);
/* Zeroes the entries of A below its diagonal (i > j), in place, any shape and dtype: R of
 * a dln_geqrf without its reflectors. Only queues work (may be captured). */
int dln_triu(dln_backend *be, dln_mat *A);

/* Graphs (DLN_CAP_GRAPHS): the operations issued between capture_begin and capture_end
 * are recorded, not run, into a graph that graph_launch replays with the scalars (alpha,
 * beta) and math mode they were recorded with. Nothing that waits (upload, download,
 * synchronize, gesvd, geqrf, ormqr) or allocates may be issued while a capture is open. */
int dln_capture_begin(dln_backend *be);
int dln_capture_end(dln_backend *be, dln_graph **g);
int dln_graph_launch(dln_backend *be, dln_graph *g);
void dln_graph_destroy(dln_backend *be, dln_graph *g);

#endif
