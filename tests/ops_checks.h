/* ops_checks.h: the checks of the backend-operations table (tests/test_backend_ops.c).
 * Each check runs one operation on one backend in one dtype on fresh random inputs and
 * compares the result with the host reference (src/oracle: plain loops in long
 * double, or LAPACKE), on views whose leading dimension exceeds their rows; whole parent
 * matrices are compared, so a write outside a view is caught too. Tolerances, relative
 * in the Frobenius norm of the block compared:
 *   exact (0)   upload/download in fp64, copy, transpose, axpby with beta = 0 and
 *               alpha = 1 (no arithmetic: the bits move);
 *   fp64 1e-13, fp32 1e-5  gemm (k <= 29 products: the rounding bound k u is 6e-15 in
 *               fp64 and 2e-6 in fp32, with margin for blocked orders and FMA);
 *   fp64 1e-15, fp32 2e-7 per element of axpby (one multiply-add: an ulp or two);
 *   1e-12       sumsq (fp64 accumulation of positive terms in any order: n u, n <= 3e5),
 *               singular values (max |ds| / s_max), SVD reconstruction and orthogonality,
 *               R of a QR against LAPACK's up to row signs (both backward stable);
 *   1e-13       Q R = A, Q^T Q = I, and Q^T C, Q C against host products with Q formed
 *               from the backend's reflectors (m <= 100 Householder steps: ~m u);
 *   exact (0)   triu (the bits move or become zero);
 *   5e-3        TF32 gemm (10-bit mantissa inputs, k = 256);
 *   the losses' tolerances are stated in ops_checks_loss.c.
 * Every failure message names the backend, dtype, operation and seed. */
#ifndef DLN_OPS_CHECKS_H
#define DLN_OPS_CHECKS_H

#include "test_support.h"

typedef struct {
    dln_backend_kind kind;
    dln_dtype dtype;
    dln_error err;
    dln_backend *be;
    dln_rng g;
    uint64_t seed;
    char label[48]; /* "cuda fp32" */
} oc_ctx;

/* A backend matrix (parent) and its host mirror h (ld = rows): the values exactly as the
 * backend stores them (rounded to fp32 in fp32). */
typedef struct {
    dln_mat m;
    double *h;
} oc_mat;

void oc_open(oc_ctx *c, dln_backend_kind kind, dln_dtype dtype);
void oc_close(oc_ctx *c);
double oc_tol(const oc_ctx *c, double tol64, double tol32);
/* Fresh N(0, 1) parent (rows, cols) of the context's dtype (or of dtype t). */
oc_mat oc_rand(oc_ctx *c, int rows, int cols);
oc_mat oc_rand_t(oc_ctx *c, int rows, int cols, dln_dtype t);
void oc_free(oc_ctx *c, oc_mat *p);
/* Downloads a backend matrix into a fresh host array (ld = rows). */
double *oc_get(oc_ctx *c, const dln_mat *m);
/* The parent after an operation against want (host, ld = rows): entries outside the
 * block (r0, c0, rows, cols) must be unchanged bit for bit, the block within tol. */
void oc_expect(oc_ctx *c, const oc_mat *p, const double *want, int r0, int c0, int rows, int cols, double tol,
               const char *what);
/* Asserts a refusal (DLN_ERUNTIME with a message naming `op`) and clears the record. */
void oc_expect_refused(oc_ctx *c, int rc, const char *op, const char *what);

#define OC_OK(c, call) cr_assert_eq((call), DLN_OK, "%s: %s: %s (seed %llu)", (c)->label, #call, (c)->err.msg, \
                                    (unsigned long long)(c)->seed)

/* The checks, one per operation (ops_checks_*.c). */
void oc_alloc(oc_ctx *c);
void oc_transfer(oc_ctx *c);
void oc_copy(oc_ctx *c);
void oc_transpose(oc_ctx *c);
void oc_gemm(oc_ctx *c);
void oc_gemm_tf32(oc_ctx *c);
void oc_batched_tf32(oc_ctx *c);
void oc_axpby(oc_ctx *c);
void oc_sumsq(oc_ctx *c);
void oc_gesvd(oc_ctx *c);
void oc_graph(oc_ctx *c);
void oc_batched(oc_ctx *c);
void oc_qr(oc_ctx *c);
void oc_triu(oc_ctx *c);
void oc_loss(oc_ctx *c);

#endif
