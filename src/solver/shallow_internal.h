/* shallow_internal.h: what the two routes of the shallow solver share (internal to
 * src/solver/): the thresholds and numerical ranks, singular values of a small backend
 * matrix of any shape, and the common end of a solve (the rank-k tail from sigma(M), the
 * flags, the rank path, and the compressed pair C = V_r S_r, M). The routes themselves:
 * the SVD route in shallow_svd.c, the QR route in shallow_qr.c (docs/maths.md section 2);
 * what they share in route_common.c. */
#ifndef DLN_SHALLOW_INTERNAL_H
#define DLN_SHALLOW_INTERNAL_H

#include "dln/ops.h"
#include "dln/solver.h"

/* Relative thresholds: rtol when > 0, else max(dx, m) eps for X and max(dy, m) eps for Y. */
void dln_sh_thresholds(const dln_data *d, double rtol, double *rtol_x, double *rtol_y);
/* r = #{i : s[i] > tol} of n descending values. */
int dln_sh_numerical_rank(const double *s, int n, double tol);
/* Sets tol_x, rank_x = r and cond_x from o->sx (n values); refuses r = 0. */
int dln_sh_rank_x(dln_shallow *o, int n, double rtol_x, dln_error *err);
/* Singular values (descending, min(rows, cols)) of B, any shape: B is copied, or transposed
 * when wide, into a scratch matrix freed afterwards (gesvd wants rows >= cols). */
int dln_sh_singular_values(dln_backend *be, const dln_mat *B, double *s);
/* The common end of both routes. Set before: sx, r, rank_x, tol_x, cond_x, lstsq, y_half.
 * sy: the min(dy, m) singular values of Y; M (dy, r) on the backend; for C = V_r S_r either
 * vt = the first r rows of V^T (r, dx) or, when v_cols, v = V_r (dx, r). */
int dln_sh_finish(dln_backend *be, const dln_data *d, const dln_shallow_opts *opt, double rtol_y, const double *sy,
                  const dln_mat *M, const dln_mat *v, int v_cols, dln_shallow *o, dln_error *err);

/* The SVD route (shallow_svd.c). */
int dln_sh_solve_svd(dln_backend *be, const dln_data *d, const dln_shallow_opts *opt, dln_shallow *o, dln_error *err);
/* The QR route (shallow_qr.c) with the layout dln_shallow_plan_memory chose. */
int dln_sh_solve_qr(dln_backend *be, const dln_data *d, const dln_shallow_opts *opt, const dln_shallow_layout *lay,
                    dln_shallow *o, dln_error *err);

/* Backend bytes of the QR route beyond X and Y, in blocks of the host's size (plan.c). */
double dln_sh_qr_bytes(int dx, int dy, int m);

#endif
