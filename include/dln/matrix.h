/* dln/matrix.h: matrix completion and matrix sensing, the problems where the end-to-end
 * product R = W_H...W_1 (rows, cols) is itself the unknown matrix (Lu & Kawaguchi's closing
 * example; Arora, Cohen, Hu & Luo 2019): observed entries R_ij = v, or linear measurements
 * <A_l, R> = b_l. The data are checked here (indices integral, in range and distinct,
 * values finite, at least one observation), made synthetically, turned into what a
 * network trains on (the input X = I (cols, cols), so that the prediction is R), and used to
 * measure a product against held-out entries. Host matrices are fp64, column-major. */
#ifndef DLN_MATRIX_H
#define DLN_MATRIX_H

#include <stdint.h>

#include "dln/backend.h"
#include "dln/data.h"
#include "dln/error.h"

typedef enum { DLN_MATRIX_COMPLETION = 1, DLN_MATRIX_SENSING = 2 } dln_matrix_kind;

typedef struct {
    dln_matrix_kind kind;
    int rows, cols;
    int k;            /* observed entries (completion) or measurements (sensing), >= 1 */
    long *at;         /* completion: the observed entries' column-major positions i + j rows, (k) */
    double *A;        /* sensing: (k, rows cols), ld = k: row l the column-major vec of A_l */
    double *b;        /* the observed values (completion) or the measurements (sensing), (k) */
    int n_test;       /* held-out entries (0: none) */
    long *test_at;    /* their positions i + j rows */
    double *test_value;
    double *target;   /* the synthetic problem's R* (rows, cols), else NULL */
} dln_matrix_data;

/* The synthetic problem: a rank-r target R* = U V^T (U, V Gaussian) scaled to ||R*||_F =
 * sqrt(rows cols) (unit mean square entry), observed through `observed` entries drawn
 * uniformly without replacement (completion) or `observed` Gaussian measurements with
 * N(0, 1) entries (sensing), each plus noise N(0, noise^2); the held-out entries are the
 * unobserved entries of R* (completion) or all of them (sensing). */
typedef struct {
    dln_matrix_kind kind;
    int rows, cols, target_rank, observed;
    double noise;
    uint64_t seed;
} dln_matrix_synth_opts;

int dln_matrix_synth(const dln_matrix_synth_opts *o, dln_matrix_data *out, dln_error *err);

/* Observed entries of a (rows, cols) matrix from E (k, 3), column-major with leading dim k:
 * (row, col, value), 0-based. Refused (DLN_EINPUT, naming `what`): k = 0, a row or column
 * that is not an integer in range, a value that is not finite, a duplicate position. */
int dln_matrix_entries(const double *E, int k, int ncols, int rows, int cols, const char *what, long **at,
                       double **values, dln_error *err);
/* Completion data from arrays (E (k, 3) and the optional held-out T (n_test, 3); T NULL: none). */
int dln_matrix_completion(const double *E, int k, const double *T, int n_test, int rows, int cols,
                          dln_matrix_data *out, dln_error *err);
/* Sensing data from A (k, rows cols) in the C order numpy gives a reshaped A_l (element
 * (l, i cols + j) is (A_l)_ij), column-major with leading dim k, and b (k); T as above. */
int dln_matrix_sensing(const double *A, int k, int a_cols, const double *b, int n_b, const double *T, int n_test,
                       int rows, int cols, dln_matrix_data *out, dln_error *err);
/* The same from .npy files: entries E.npy (k, 3), or A.npy (k, rows cols) and b.npy (k,);
 * the held-out entries test_path (NULL: none). */
int dln_matrix_load(dln_matrix_kind kind, const char *data_path, const char *b_path, const char *test_path, int rows,
                    int cols, dln_matrix_data *out, dln_error *err);
void dln_matrix_free(dln_matrix_data *m);

/* What a network trains on: X = I (cols, cols) and Y (rows, cols) the observed values at
 * their entries and 0 elsewhere (completion), or the back-projection sum_l b_l A_l
 * (sensing); dx = m = cols, dy = rows. The loss itself is the objective's (dln/objective.h:
 * "completion", "sensing"), which reads the observations from m. */
int dln_matrix_dense(const dln_matrix_data *m, dln_data *out, dln_error *err);

/* What a product R (rows, cols) is measured by (docs/maths.md section 9). */
typedef struct {
    double test_error;     /* ||P_T(R - R*)||_F / ||P_T(R*)||_F over the held-out entries (NaN: none) */
    double effective_rank; /* Roy & Vetterli: exp of the entropy of sigma / sum sigma */
    double nuclear_norm;   /* sum of the singular values */
    double train_rmse;     /* the root mean square residual on the observations */
} dln_matrix_metrics;

/* R's metrics; sv (min(rows, cols) values, descending) into sv when not NULL. */
int dln_matrix_measure(const dln_matrix_data *m, const double *R, dln_matrix_metrics *out, double *sv,
                       dln_error *err);
/* ||P_T(R - R*)|| / ||P_T(R*)||, NaN without held-out entries (or with all of them zero). */
double dln_matrix_test_error(const dln_matrix_data *m, const double *R);
/* The observations' residual sum of squares 1/2 sum (<A_l, R> - b_l)^2 (the loss at R). */
double dln_matrix_loss(const dln_matrix_data *m, const double *R);

/* ---- the nuclear-norm baseline (src/solver/nuclear.c; docs/maths.md section 9) --------
 * min ||R||_* subject to agreeing with the observations (R_ij = v, or <A_l, R> = b_l), the
 * convex relaxation completion and sensing are compared with (Candes & Recht 2009; Arora
 * et al. 2019's baseline), by ADMM on the split R = Z: R := SVT_{1/rho}(Z - U) (a thin SVD
 * on the backend), Z := the projection of R + U onto the observations' affine set, U += R -
 * Z, with rho balanced between the primal and dual residuals; stopped where both are below
 * tol relative to ||R|| and ||rho U||. Sensing needs k <= rows cols measurements (the
 * projection solves with A A^T, which must be positive definite). */
#define DLN_NUCLEAR_TOL 1e-8
#define DLN_NUCLEAR_MAX_ITER 20000

typedef struct {
    double value;          /* ||R||_* at the end */
    double residual;       /* ||A(R) - b|| / ||b||: how far R is from agreeing with the observations */
    double primal, dual;   /* the last relative residuals */
    int iterations, converged;
    double seconds;
} dln_nuclear_result;

/* The baseline's R (rows, cols) into R (host, ld = rows) and its result. */
int dln_nuclear_min(dln_backend *be, const dln_matrix_data *m, double tol, int max_iter, double *R,
                    dln_nuclear_result *res, dln_error *err);

/* The data as the arrays the loaders read, fresh host buffers (column-major): the entries
 * (k, 3) (test = 1: the held-out ones, (n_test, 3)) of completion; A (k, rows cols) in C order
 * of sensing. */
int dln_matrix_entries_array(const dln_matrix_data *m, int test, double **E, dln_error *err);
int dln_matrix_sensing_array(const dln_matrix_data *m, double **A, dln_error *err);

#endif
