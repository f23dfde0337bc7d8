/* mat_checks.h: the argument checks of matrix operations (src/backends/mat.c), used by
 * src/backends/ops.c before any backend is called. Internal to the library. */
#ifndef DLN_MAT_CHECKS_H
#define DLN_MAT_CHECKS_H

#include "dln/ops.h"

/* a is a well-formed descriptor: known dtype, rows, cols >= 0, ld >= max(rows, 1),
 * memory when non-empty. name says which operand, for the message. */
int dln_check_mat(dln_error *err, const char *op, const char *name, const dln_mat *a);
/* Both well-formed, same shape and dtype. */
int dln_check_same(dln_error *err, const char *op, const dln_mat *a, const dln_mat *b);
/* The byte ranges the two blocks span do not intersect. */
int dln_check_disjoint(dln_error *err, const char *op, const dln_mat *out, const dln_mat *in);
/* GEMM shapes chain and C overlaps neither input; sets *k, the inner dimension. */
int dln_check_gemm(dln_error *err, int trans_a, int trans_b, const dln_mat *A, const dln_mat *B, const dln_mat *C,
                   int *k);

#endif
