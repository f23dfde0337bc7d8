/* test_support.h: the helpers every test shares: the one per-test seed (from the clock,
 * or DLN_TEST_SEED to replay a failure), the one relative error, the one temporary
 * directory, the backends a parametrised test runs on, random matrices from the
 * library's generator, orthonormal factors and matrices with prescribed singular values
 * built with LAPACKE, and plain host products with CBLAS. Every name starts with ts_ so it
 * cannot clash with other test files. Tests see the public API and src/oracle only. */
#ifndef DLN_TEST_SUPPORT_H
#define DLN_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "dln/dln.h"
#include "oracle.h"

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
/* A human-readable text (an error message, help) contains word. Structured output (JSON
 * summaries, traces) is never searched: it is parsed (tests/cli_runner.h). */
int ts_says(const char *text, const char *word);
/* |a - b| / |b| (|a - b| when b == 0). */
double ts_rel(double a, double b);
/* ||A - B||_F / ||B||_F over n entries. */
double ts_rel_mat(const double *A, const double *B, size_t n);

/* ---- backends ------------------------------------------------------------------------ */

/* The backends every parametrised test runs on, in order: the CPU (always) and CUDA
 * (skipped, never passed, where it is not built or no device is usable). */
#define TS_BACKENDS 2
extern const dln_backend_kind ts_backend_kinds[TS_BACKENDS];
const char *ts_backend_label(dln_backend_kind kind);
/* Creates a backend of this kind (asserts success) or skips the test; the error record
 * must outlive it. */
dln_backend *ts_backend(dln_backend_kind kind, dln_error *err);
/* The CPU backend (asserts success). */
dln_backend *ts_cpu(dln_error *err);

/* A test run once per backend: TestOnBackends(suite, name) { ... } declares Criterion's
 * parameters and the test; the body reads its backend as TS_KIND. */
typedef struct {
    int backend; /* index into ts_backend_kinds */
} ts_on_backend;
#define TS_KIND (ts_backend_kinds[ts_param->backend])
#define TestOnBackends(suite, name)                                                   \
    ParameterizedTestParameters(suite, name)                                          \
    {                                                                                 \
        static ts_on_backend ts_params[TS_BACKENDS] = {{0}, {1}};                     \
        return cr_make_param_array(ts_on_backend, ts_params, TS_BACKENDS);            \
    }                                                                                 \
    ParameterizedTest(ts_on_backend *ts_param, suite, name)
/* Shape from depth + 1 dims (asserts success). */
void ts_shape(dln_shape *s, int depth, const int *dims);
/* W[i] (dims[i+1], dims[i]) with N(0, scale^2 / dims[i]) entries. */
double **ts_rand_weights(dln_rng *g, const dln_shape *s, double scale);
double **ts_copy_weights(const dln_shape *s, double *const *W);
/* Zeros shaped as the weights (dln_weights_alloc); W + a V, fresh; sum_i <A_i, B_i>. */
double **ts_zero_weights(const dln_shape *s);
double **ts_moved_weights(const dln_shape *s, double *const *W, double a, double *const *V);
double ts_dot_weights(const dln_shape *s, double *const *A, double *const *B);
/* max over layers of ||A_i - B_i||_F / ||B_i||_F. */
double ts_rel_weights(const dln_shape *s, double *const *A, double *const *B);

/* Data with X (dx, m) and Y (dy, m) taken over (not copied). */
dln_data ts_data(int dx, int dy, int m, double *X, double *Y);

/* ---- training on a shallow solution ---------------------------------------------------- */

/* dln_train of count runs on d measured against the closed-form reference of sh (the
 * square loss's problem, dln_shallow_problem), returning dln_train's status. */
int ts_train(dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s, int count, double ***W,
             const dln_train_opts *o, dln_train_result *res, dln_error *err);
/* dln_auto_lr against sh's reference. */
double ts_auto_lr(const dln_shape *s, double *const *W, const dln_shallow *sh, const dln_data *d);

/* ---- observing a training run ------------------------------------------------------------ */

/* Every observation of a run, in order (the final state once: not again when the last
 * checked step already reported it). */
typedef struct {
    long n, cap;
    dln_observation *obs;
} ts_trace;
/* The dln_observer_fn that appends to a ts_trace (ctx); never asks to stop. */
int ts_record(void *ctx, const dln_observation *obs);
void ts_trace_free(ts_trace *t);

/* mkdtemp under /tmp (path written into buf) and recursive removal. */
void ts_tempdir(char *buf, size_t cap, const char *tag);
void ts_rmtree(const char *dir);

#endif
