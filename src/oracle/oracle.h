/* oracle.h: host oracles that the tests and benchmarks check the library against,
 * written independently of its backends (plain loops in long double, or direct
 * CBLAS/LAPACKE calls on host arrays). Built into build/libdln_oracle.a, which only
 * tests and benchmarks link: nothing in the library calls it. Host matrices are fp64,
 * column-major; ld = rows unless an ld is given. */
#ifndef DLN_ORACLE_H
#define DLN_ORACLE_H

#include "dln/dln.h"

/* ---- the deep loss and its gradient ------------------------------------------------ */

/* 1/2 ||W_H...W_1 X - Y||^2 (CBLAS products). */
double ref_loss(const dln_shape *s, double *const *W, const dln_data *d);
/* G[i] = dL/dW_{i+1} (shaped as W) of that loss (CBLAS products). */
void ref_gradient(const dln_shape *s, double *const *W, const dln_data *d, double **G);
/* `steps` updates of V = mu V + G, W -= lr V (mu = 0: plain gradient descent), in place. */
void ref_descent(const dln_shape *s, double **W, const dln_data *d, double lr, double mu, long steps);
/* `steps` steps of Armijo backtracking (c = 1/2) as docs/maths.md states it: from
 * min(2 x the last accepted step (*lr0 at first), cap), halve until
 * 1/2 ||E'||^2 <= 1/2 ||E||^2 - lr/2 ||G||^2, at most 60 tries; a zero gradient stops.
 * loss[t] (t = 0..steps) receives the loss after t steps; returns the number of steps made
 * (fewer when no decrease was found) and the last accepted lr in *lr0. */
long ref_line_search_descent(const dln_shape *s, double **W, const dln_data *d, double *lr0, double cap, long steps,
                             double *loss);
/* Central fourth-order finite difference of ref_loss along the direction D:
 * (8 (L(h) - L(-h)) - (L(2h) - L(-2h))) / 12h, which equals <grad L, D> + O(h^4). */
double ref_directional_derivative(const dln_shape *s, double *const *W, double *const *D, const dln_data *d,
                                  double h);

/* ---- element-wise references of the backend operations -------------------------------- */

/* C (m, n) = alpha op(A) op(B) + beta C, with products summed in long double. */
void ref_gemm(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *A, int lda,
              const double *B, int ldb, double beta, double *C, int ldc);
/* sum of squares of A (rows, cols), in long double. */
double ref_sumsq(int rows, int cols, const double *A, int lda);

/* The loss l of Z (rows, cols) against Y, in long double (host_loss.c), its gradient into G;
 * and its Hessian at Z applied to D, into HD. */
double ref_loss_gradient(const dln_loss *l, int rows, int cols, const double *Z, int ldz, const double *Y, int ldy,
                         double *G, int ldg);
void ref_loss_hessian(const dln_loss *l, int rows, int cols, const double *Z, int ldz, const double *Y, int ldy,
                      const double *D, int ldd, double *HD, int ldh);

/* ---- the shallow optimum by an independent route --------------------------------------- */

/* Least squares by LAPACKE_dgelsd (R_ls and sigma(X), rank with rcond max(dx, m) eps), the
 * fitted values Yhat = R_ls X, and sigma(Yhat) = sigma(M) by LAPACKE_dgesdd:
 * L* = 1/2 ||Y - Yhat||^2 + 1/2 sum_{i>k} sigma_i(Yhat)^2 (lstsq exactly 0 when rank = m).
 * sx receives min(dx, m) values. Returns 0, or 1 when LAPACK fails. */
int ref_shallow(const dln_data *d, int k, double *optimum, double *lstsq, double *sx, int *rank);

#endif
