/* dln/diagnostics.h: measurements of a network's weights on the host, for reports and
 * for the step-size rule: spectral norms and balancedness. None of it runs inside the
 * training loop. */
#ifndef DLN_DIAGNOSTICS_H
#define DLN_DIAGNOSTICS_H

#include "dln/model.h"

/* ||B||_2 of B = op(A) diag(1 / col_scale) by `iters` steps of power iteration on B B^T
 * from a fixed start in R^(rows of B); A is (rows, cols), op(A) = A or A^T (trans), and
 * col_scale (one value per column of op(A)) may be NULL for none. The estimate converges
 * from below. Starting on the row side makes it invariant, bit for bit, under sign flips
 * of B's columns (such as the sign choices of an SVD). */
double dln_spectral_norm(int rows, int cols, const double *A, int trans, const double *col_scale, int iters);
/* max_j ||W_{j+1}^T W_{j+1} - W_j W_j^T||_F / ||W_j W_j^T||_F (0 for depth 1). */
double dln_weights_balancedness(const dln_shape *s, double *const *W);
/* Host flops dln_weights_balancedness takes on this shape, and the bytes of its scratch. */
double dln_balancedness_flops(const dln_shape *s);
double dln_balancedness_bytes(const dln_shape *s);
/* Cheap enough to report after every run: under 2e9 flops and 64 MiB of scratch. */
int dln_balancedness_cheap(const dln_shape *s);

#endif
