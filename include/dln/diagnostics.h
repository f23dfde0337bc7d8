/* dln/diagnostics.h: measurements of a network's weights on the host, for reports and
 * for the step-size rule: spectral norms and balancedness. None of it runs inside the
 * training loop. */
#ifndef DLN_DIAGNOSTICS_H
#define DLN_DIAGNOSTICS_H

#include <stdint.h>

#include "dln/model.h"
#include "dln/network.h"

/* ||B||_2 of B = op(A) diag(1 / col_scale) by `iters` steps of power iteration on B B^T
 * from a fixed start in R^(rows of B); A is (rows, cols), op(A) = A or A^T (trans), and
 * col_scale (one value per column of op(A)) may be NULL for none. The estimate converges
 * from below. Starting on the row side makes it invariant, bit for bit, under sign flips
 * of B's columns (such as the sign choices of an SVD). */
double dln_spectral_norm(int rows, int cols, const double *A, int trans, const double *col_scale, int iters);
/* The power iterations of the library's norm estimates (the step-size rules' ||W_j||_2 and
 * ||R_ls||_2). */
#define DLN_NORM_ITERS 30
/* max_j ||W_{j+1}^T W_{j+1} - W_j W_j^T||_F / ||W_j W_j^T||_F (0 for depth 1). */
double dln_weights_balancedness(const dln_shape *s, double *const *W);
/* Host flops dln_weights_balancedness takes on this shape, and the bytes of its scratch. */
double dln_balancedness_flops(const dln_shape *s);
double dln_balancedness_bytes(const dln_shape *s);
/* Cheap enough to report after every run: under 2e9 flops and 64 MiB of scratch. */
int dln_balancedness_cheap(const dln_shape *s);

/* ---- extreme eigenvalues of symmetric operators ---------------------------------------- */

/* out = A v for a symmetric operator A on R^n; a non-zero return stops the iteration. */
typedef int (*dln_matvec_fn)(void *ctx, const double *v, double *out);

typedef struct {
    double tol;              /* in: relative tolerance of "converged" and "negative" (<= 0: 1e-8) */
    double stop_rtol;        /* in: > 0: stop as soon as lambda_max's residual bound is at most
                                stop_rtol |lambda_max| (its relative error is then at most stop_rtol:
                                a symmetric operator has an eigenvalue within the residual of every
                                Ritz value); 0: run every iteration asked. With top_k > 1 every one of the
                                top_k largest Ritz values must meet it */
    int top_k;               /* in: > 0: the top_k largest Ritz values, descending, into top (NaN past the
                                iterations made) */
    double *top;
    double lambda_max, lambda_min; /* the extreme Ritz values */
    double residual_max, residual_min; /* their residual bounds ||A y - theta y|| */
    int negative_count;      /* Ritz values below -tol max|theta| whose residual is below tol max|theta| */
    int iterations;          /* Lanczos steps made (fewer than asked at an invariant subspace) */
} dln_lanczos_result;

/* Optional vectors of a Lanczos run (n values each, NULL when not wanted). */
typedef struct {
    const double *start; /* in: the start vector (a warm start), else a random one from seed */
    double *vmin, *vmax; /* out: the unit Ritz vectors of lambda_min and lambda_max */
} dln_lanczos_vectors;

/* Lanczos with full reorthogonalisation: at most iters products (and at most n). Ritz
 * values lie inside the spectrum and converge to its ends from inside. vec may be NULL. */
int dln_lanczos(int n, dln_matvec_fn matvec, void *ctx, int iters, uint64_t seed, const dln_lanczos_vectors *vec,
                dln_lanczos_result *out, dln_error *err);

/* The same vectors, shaped as the weights (W_1 first), for the Hessian. */
typedef struct {
    double *const *start;
    double **vmin, **vmax;
} dln_hessian_vectors;

/* The Hessian of a member's loss at its current weights (Hessian-vector products,
 * dln_network_hvp) by dln_lanczos; vec may be NULL. */
int dln_hessian_extremes(dln_network *net, int member, int iters, uint64_t seed, const dln_hessian_vectors *vec,
                         dln_lanczos_result *out, dln_error *err);

#endif
