/* test_support.h: shared helpers for the numerical tests (test_gradients, test_shallow,
 * test_trainer, test_init, test_backend_cpu): a per-test seed drawn from the clock (or
 * DLN_TEST_SEED to replay a failure), random matrices from the library's generator,
 * orthonormal factors and matrices with prescribed singular values built with LAPACKE,
 * plain host products with CBLAS, relative errors, and temporary directories. Every
 * name starts with ts_ so it cannot clash with other test files. */
#ifndef DLN_TEST_SUPPORT_H
#define DLN_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "dln.h"

/* Seed for one test: DLN_TEST_SEED when set, else from the clock and pid. It is
 * logged with cr_log_info and every assertion message should print it too. */
uint64_t ts_seed(void);

/* Fresh malloc'd (rows, cols) column-major matrix of N(0, 1) entries (never all zero). */
double *ts_randn(dln_rng *g, int rows, int cols);
/* Fresh (rows, cols) matrix with orthonormal columns, rows >= cols (QR of a Gaussian). */
double *ts_orthonormal(dln_rng *g, int rows, int cols);
/* Orthonormal basis (rows, cols) of the columns of B (rows >= cols, full column rank):
 * Householder QR by LAPACKE_dgeqrf + dorgqr. */
double *ts_orth_columns(const double *B, int rows, int cols);
/* Fresh A^T (cols, rows) of A (rows, cols). */
double *ts_transpose(int rows, int cols, const double *A);
/* Fresh (rows, cols) matrix U diag(s) V^T, U (rows, n), V (cols, n) random orthonormal,
 * n = min(rows, cols) values s. If Vout != NULL it receives V (cols, n) (caller frees). */
double *ts_with_singular_values(dln_rng *g, int rows, int cols, const double *s, double **Vout);
double *ts_copy(const double *A, size_t n);

/* C (m, n) = op(A) op(B) with CBLAS, fresh; ta / tb: 0 as is, 1 transposed; ld = rows. */
double *ts_mul(int ta, int tb, int m, int n, int k, const double *A, const double *B);

/* Singular values (min(rows, cols), descending) of A by LAPACKE_dgesvd on a copy. */
double *ts_singular_values(int rows, int cols, const double *A);

double ts_sumsq(const double *A, size_t n);
/* |a - b| / |b| (|a - b| when b == 0). */
double ts_rel(double a, double b);
/* ||A - B||_F / ||B||_F over n entries. */
double ts_rel_mat(const double *A, const double *B, size_t n);

/* CPU backend (asserts success); the error record must outlive it. */
dln_backend *ts_cpu(dln_error *err);
/* Shape from depth + 1 dims (asserts success). */
void ts_shape(dln_shape *s, int depth, const int *dims);
/* W[i] (dims[i+1], dims[i]) with N(0, scale^2 / dims[i]) entries. */
double **ts_rand_weights(dln_rng *g, const dln_shape *s, double scale);
double **ts_copy_weights(const dln_shape *s, double *const *W);
/* max over layers of ||A_i - B_i||_F / ||B_i||_F. */
double ts_rel_weights(const dln_shape *s, double *const *A, double *const *B);

/* Data with X (dx, m) and Y (dy, m) taken over (not copied). */
dln_data ts_data(int dx, int dy, int m, double *X, double *Y);

/* mkdtemp under /tmp (path written into buf) and recursive removal. */
void ts_tempdir(char *buf, size_t cap, const char *tag);
void ts_rmtree(const char *dir);

#endif
