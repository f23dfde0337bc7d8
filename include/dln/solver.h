/* dln/solver.h: the shallow problem min 1/2 ||R X - Y||^2 subject to rank(R) <= k, in
 * closed form (docs/maths.md): its optimum L*, the least-squares value, the ranks and
 * the exact compression (C, M) the trainer may run on. Every factorisation runs on the
 * backend in fp64. */
#ifndef DLN_SOLVER_H
#define DLN_SOLVER_H

#include "dln/backend.h"
#include "dln/data.h"

typedef struct {
    int dx, dy, m;
    int k;                    /* rank bound used: min(k requested, dx, dy) */
    int rank_x, rank_y;
    double tol_x, tol_y;      /* absolute singular-value thresholds used for the ranks */
    double optimum;           /* L* = 1/2 ||Y - M U_r^T||^2 + 1/2 sum_{i>k} sigma_i(M)^2 */
    double lstsq;             /* unconstrained least squares: 1/2 ||Y - M U_r^T||^2 */
    double y_half;            /* 1/2 ||Y||^2: the loss of the zero predictor */
    double tail;              /* 1/2 sum_{i>k} sigma_i(M)^2 */
    double sigma_k, sigma_k1; /* sigma_k(M), sigma_{k+1}(M) (0 when absent) */
    int constrained;          /* k < rank of M: the rank bound is active */
    int hypotheses;           /* X and Y have full row rank (Thm 2.3) */
    double cond_x;            /* sigma_1(X) / sigma_r(X) */
    int r;                    /* = rank_x: columns of the compressed problem */
    double *sx;               /* singular values of X (min(dx, m)), host, owned */
    double *sm;               /* singular values of M (min(dy, r)), host, owned */
    double *optimum_by_rank;  /* L*_j for j = 0..n_ranks-1 (the rank path), host, owned */
    int n_ranks;              /* min(dy, r) + 1: beyond rank min(dy, r) nothing changes */
    double *C;                /* compressed input  V_r S_r (dx, r), host, owned, or NULL */
    double *M;                /* compressed target Y U_r   (dy, r), host, owned, or NULL */
} dln_shallow;

/* k <= 0 means no constraint. rtol <= 0 picks the defaults max(dx, m) * eps (for X) and
 * max(dy, m) * eps (for Y) relative to the largest singular value. keep_compressed: also
 * return C and M. */
int dln_shallow_solve(dln_backend *be, const dln_data *d, int k, double rtol, int keep_compressed,
                      dln_shallow *out, dln_error *err);
void dln_shallow_free(dln_shallow *s);
/* Bytes dln_shallow_solve takes on a (dx, dy, m) problem (keep: keep_compressed): *peak at
 * its peak, backend and host memory together when the backend is host memory, else the
 * backend's alone, with *host_peak the host's part then; *kept the host bytes of the
 * result (singular values, the compressed pair) that outlive the solve. */
void dln_shallow_bytes(int dx, int dy, int m, int keep, int backend_is_host, double *peak, double *host_peak,
                       double *kept);

/* A minimiser of the shallow problem with rank bound k (1 <= k): R* = [M]_k S_r^-2 C^T
 * (dy, dx) into R (ld = dy), from the compressed pair (the solve must have kept it).
 * Unique when sigma_k(M) > sigma_{k+1}(M). Host LAPACK on the small factors. */
int dln_shallow_solution(const dln_shallow *sh, int k, double *R, dln_error *err);

/* The first mode gradient descent learns from a small start, at its least-squares scale:
 * R1 = a u v^T (dy, dx, ld = dy) with (u, v) the top singular pair of Y X^T (the negative
 * gradient at W = 0) and a = argmin 1/2 ||a u v^T X - Y||^2 = sigma_1(Y X^T) / ||X^T v||^2.
 * From the compressed pair: u by power iteration on M S_r^2 M^T from a fixed start (so the
 * signs the SVD gave the columns of M and C do not matter). learnt = 0 (R1 untouched) when
 * Y X^T is zero. */
int dln_shallow_first_mode(const dln_shallow *sh, double *R1, int *learnt, dln_error *err);

/* The singular value decompositions the solver performs for a (dx, dy, m) problem whose
 * X has rank r, in order: what is factorised, its shape as handed to gesvd (rows >=
 * cols: a wide operand is transposed first) and whether singular vectors are computed.
 * For benchmarks that time the bare factorisations next to the solver. */
typedef enum { DLN_SVD_OF_X = 0, DLN_SVD_OF_M = 1, DLN_SVD_OF_Y = 2 } dln_svd_operand;
typedef struct {
    dln_svd_operand operand;
    int transposed;   /* gesvd gets the operand's transpose (X: X^T when m >= dx) */
    int rows, cols;   /* of the matrix gesvd factorises, rows >= cols */
    int vectors;      /* U and VT are computed */
} dln_svd_call;

#define DLN_SOLVER_SVDS 3
/* Fills plan[0..DLN_SOLVER_SVDS) for X (dx, m) of rank r and Y (dy, m). */
void dln_shallow_plan(int dx, int dy, int m, int r, dln_svd_call plan[DLN_SOLVER_SVDS]);

#endif
