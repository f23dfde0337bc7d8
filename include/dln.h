/* dln.h: the public library API. Host-side orchestration of the deep linear network
 * (Lu & Kawaguchi 2017): data, the shallow rank-constrained optimum, initialisation
 * and the gradient-descent trainer. Host matrices are fp64, column-major, ld = rows.
 * Every fallible call returns DLN_OK or a dln_status and describes the failure in
 * its dln_error. */
#ifndef DLN_H
#define DLN_H

#include <stdint.h>
#include <stdio.h>

#include "dln_backend.h"
#include "dln_error.h"

#define DLN_VERSION "0.1.0"
/* Upper bound on any single dimension and on depth: larger requests are refused. */
#define DLN_MAX_DIM (1 << 24)
#define DLN_MAX_DEPTH 10000

/* ---- data ------------------------------------------------------------------ */

/* X is (dx, m), Y is (dy, m): columns are samples. Host, owned. */
typedef struct {
    int dx, dy, m;
    double *X, *Y;
} dln_data;

typedef struct {
    int dx, dy, m;      /* sizes */
    int teacher_rank;   /* rank of the teacher T (dy, dx); clipped to min(dx, dy) */
    double noise;       /* std of the additive Gaussian noise on Y */
    uint64_t seed;
} dln_synth_opts;

/* Y = T X + noise N(0,1), X ~ N(0,1), T = A B / sqrt(dx) with A (dy, r), B (r, dx) ~ N(0,1). */
int dln_synth_make(const dln_synth_opts *o, dln_data *out, dln_error *err);
/* Loads X.npy (dx, m) and Y.npy (dy, m); checks shapes, sizes and finiteness. */
int dln_data_load(const char *x_path, const char *y_path, dln_data *out, dln_error *err);
/* Checks sizes, finiteness and that Y is not identically zero. */
int dln_data_validate(const dln_data *d, dln_error *err);
void dln_data_free(dln_data *d);

/* ---- .npy files ------------------------------------------------------------ */

/* Reads a 2-D float64 or float32 array (little-endian, C or Fortran order) into a
 * fresh column-major fp64 buffer (*data, ld = *rows). 1-D or other ranks, other dtypes
 * or byte orders, truncated or malformed files are DLN_EINPUT. */
int dln_npy_read(const char *path, int *rows, int *cols, double **data, dln_error *err);
/* Writes A (rows, cols, leading dim ld) as float64, Fortran order. */
int dln_npy_write(const char *path, int rows, int cols, const double *A, int ld, dln_error *err);

/* ---- random numbers ---------------------------------------------------------- */

/* xoshiro256** seeded through splitmix64 from (seed, stream); normals by Box-Muller.
 * Integer arithmetic only up to the final double conversion and libm's log/sin/cos,
 * so every backend starts from bit-identical host-generated weights. */
typedef struct {
    uint64_t s[4];
    int has_spare;
    double spare;
} dln_rng;

void dln_rng_seed(dln_rng *r, uint64_t seed, uint64_t stream);
uint64_t dln_rng_next(dln_rng *r);
double dln_rng_uniform(dln_rng *r); /* in (0, 1) */
double dln_rng_normal(dln_rng *r);  /* N(0, 1) */

/* Streams that keep data and weights independent for a given seed. */
#define DLN_STREAM_DATA 1
#define DLN_STREAM_INIT 2

/* ---- network shape and initial weights ---------------------------------------- */

/* dims[0] = dx, dims[i] = d_i, dims[depth] = dy. W[i-1] is (dims[i], dims[i-1]). */
typedef struct {
    int depth;
    int *dims; /* depth + 1 entries, owned */
} dln_shape;

int dln_shape_make(int depth, int dx, int dy, const int *hidden, int n_hidden, dln_shape *out,
                   dln_error *err);
void dln_shape_free(dln_shape *s);
int dln_shape_narrowest(const dln_shape *s); /* d_p = min over dims */
size_t dln_shape_params(const dln_shape *s);

typedef enum {
    DLN_INIT_GAUSSIAN = 0,   /* N(0, scale^2 / d_{i-1}) */
    DLN_INIT_ORTHOGONAL = 1, /* scale * (semi-)orthogonal, Haar distributed */
    DLN_INIT_IDENTITY = 2,   /* scale * eye(d_i, d_{i-1}) */
    DLN_INIT_BALANCED = 3,   /* Arora et al. 2019, Procedure 1 */
} dln_init_kind;

int dln_init_parse(const char *name, dln_init_kind *out);
const char *dln_init_name(dln_init_kind k);
double dln_init_default_scale(dln_init_kind k);
/* Allocates and fills W[0..depth-1]. */
int dln_init_weights(const dln_shape *s, dln_init_kind kind, double scale, uint64_t seed,
                     double ***W, dln_error *err);
void dln_weights_free(int depth, double **W);
/* Saves W1.npy..WH.npy into dir atomically (all files or none). */
int dln_weights_save(const char *dir, const dln_shape *s, double *const *W, dln_error *err);
/* Checks that dir can be written to (before any work is done). */
int dln_weights_check_dir(const char *dir, dln_error *err);
/* Loads W1.npy.. from dir (depth from the files, at most DLN_MAX_DEPTH); checks that
 * shapes chain and match dx and dy. */
int dln_weights_load(const char *dir, int dx, int dy, dln_shape *s, double ***W, dln_error *err);
/* max_j ||W_{j+1}^T W_{j+1} - W_j W_j^T||_F / ||W_j W_j^T||_F (0 for depth 1). */
double dln_weights_balancedness(const dln_shape *s, double *const *W);

/* ---- shallow problem --------------------------------------------------------------- */

typedef struct {
    int dx, dy, m;
    int k;               /* rank bound used: min(k requested, dx, dy) */
    int rank_x, rank_y;
    double tol_x, tol_y; /* absolute singular-value thresholds used for the ranks */
    double optimum;      /* L* = 1/2 ||Y - Y U U^T||^2 + 1/2 sum_{i>k} sigma_i(M)^2 */
    double lstsq;        /* unconstrained least squares: 1/2 ||Y - Y U U^T||^2 */
    double y_half;       /* 1/2 ||Y||^2: the loss of the zero predictor */
    double tail;         /* 1/2 sum_{i>k} sigma_i(M)^2 */
    double sigma_k, sigma_k1; /* sigma_k(M), sigma_{k+1}(M) (0 when absent) */
    int constrained;     /* k < rank of M: the rank bound is active */
    int hypotheses;      /* X and Y have full row rank (Thm 2.3) */
    double cond_x;       /* sigma_1(X) / sigma_r(X) */
    int r;               /* = rank_x: columns of the compressed problem */
    double *sx;          /* singular values of X (min(dx, m)), host, owned */
    double *sm;          /* singular values of M (min(dy, r)), host, owned */
    double *C;           /* compressed input  V_r S_r (dx, r), host, owned, or NULL */
    double *M;           /* compressed target Y U_r   (dy, r), host, owned, or NULL */
} dln_shallow;

/* k <= 0 means no constraint. rtol <= 0 picks the defaults max(dx, m) * eps (for X) and
 * max(dy, m) * eps (for Y) relative to the largest singular value.
 * keep_compressed: also return C and M. All factorisations run on be in fp64. */
int dln_shallow_solve(dln_backend *be, const dln_data *d, int k, double rtol, int keep_compressed,
                      dln_shallow *out, dln_error *err);
void dln_shallow_free(dln_shallow *s);

/* ---- trainer ----------------------------------------------------------------------- */

typedef enum { DLN_DATA_AUTO = 0, DLN_DATA_FULL = 1, DLN_DATA_COMPRESSED = 2 } dln_data_mode;

typedef struct {
    double lr;           /* <= 0: auto (dln_auto_lr) */
    double momentum;     /* heavy ball, 0 = plain gradient descent */
    int line_search;     /* backtracking (Armijo) on top of lr */
    long steps;          /* maximum number of updates */
    double tol;          /* stop when rel_gap <= tol; 0 disables */
    int check_every;     /* read the loss every this many steps (>= 1) */
    int log_every;       /* JSONL trace every this many steps (with log != NULL) */
    FILE *log;
    int progress;        /* live line on stderr */
    dln_data_mode data_mode;
    dln_dtype dtype;
} dln_train_opts;

void dln_train_opts_default(dln_train_opts *o);

typedef struct {
    double loss, optimum, gap, rel_gap, grad_norm;
    double loss_init;
    double lr;           /* step size used (the last accepted one with line search) */
    double seconds;      /* wall time of the training loop */
    long steps;
    int converged, diverged, compressed;
    char note[256];      /* why it stopped, what to change when it diverged */
} dln_train_result;

/* Step size rule used by lr <= 0; see README "Step size". */
double dln_auto_lr(const dln_shape *s, double *const *W, const dln_shallow *sh);

/* Trains from W (host, in/out: final weights on return). */
int dln_train(dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s,
              double **W, const dln_train_opts *o, dln_train_result *res, dln_error *err);

/* Host reference: 1/2 ||W_H...W_1 X - Y||^2 with OpenBLAS, for checks. */
double dln_host_loss(const dln_shape *s, double *const *W, const dln_data *d);

#endif
