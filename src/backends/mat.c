/* mat.c: dln_mat descriptors (dtype sizes and names, views) and the argument checks of
 * every matrix operation: well-formed descriptors, shapes that chain, matching dtypes,
 * outputs that do not overlap inputs. No memory is touched. The checks record a
 * DLN_ERUNTIME failure naming the operation (a malformed call is a program error, not
 * bad user input). */
#include <stdint.h>

#include "backends/mat_checks.h"

size_t dln_dtype_size(dln_dtype t) { return t == DLN_F32 ? sizeof(float) : sizeof(double); }

const char *dln_dtype_name(dln_dtype t) { return t == DLN_F32 ? "fp32" : "fp64"; }

dln_mat dln_mat_view(const dln_mat *m, int r0, int c0, int rows, int cols)
{
    dln_mat v = *m;
    v.rows = rows;
    v.cols = cols;
    v.data = (char *)m->data + ((size_t)r0 + (size_t)c0 * (size_t)m->ld) * dln_dtype_size(m->dtype);
    return v;
}

int dln_check_mat(dln_error *err, const char *op, const char *name, const dln_mat *a)
{
    if (!a) return dln_fail(err, DLN_ERUNTIME, "%s: %s is NULL", op, name);
    if (a->dtype != DLN_F64 && a->dtype != DLN_F32)
        return dln_fail(err, DLN_ERUNTIME, "%s: %s has an unknown dtype %d", op, name, (int)a->dtype);
    if (a->rows < 0 || a->cols < 0 || a->ld < (a->rows > 1 ? a->rows : 1))
        return dln_fail(err, DLN_ERUNTIME, "%s: %s is malformed (%d x %d, ld %d)", op, name, a->rows, a->cols, a->ld);
    if (!a->data && a->rows > 0 && a->cols > 0)
        return dln_fail(err, DLN_ERUNTIME, "%s: %s (%d x %d) has no memory", op, name, a->rows, a->cols);
    return DLN_OK;
}

int dln_check_same(dln_error *err, const char *op, const dln_mat *a, const dln_mat *b)
{
    DLN_TRY(dln_check_mat(err, op, "the first operand", a));
    DLN_TRY(dln_check_mat(err, op, "the second operand", b));
    if (a->rows != b->rows || a->cols != b->cols || a->dtype != b->dtype)
        return dln_fail(err, DLN_ERUNTIME, "%s: shape or dtype mismatch (%d x %d %s vs %d x %d %s)", op, a->rows,
                        a->cols, dln_dtype_name(a->dtype), b->rows, b->cols, dln_dtype_name(b->dtype));
    return DLN_OK;
}

/* Byte range [lo, hi) a (rows, cols) block with leading dim ld spans; empty when nothing. */
static void span(const dln_mat *a, uintptr_t *lo, uintptr_t *hi)
{
    size_t es = dln_dtype_size(a->dtype);
    *lo = (uintptr_t)a->data;
    *hi = a->rows > 0 && a->cols > 0
              ? *lo + (((size_t)a->cols - 1) * (size_t)a->ld + (size_t)a->rows) * es
              : *lo;
}

int dln_check_disjoint(dln_error *err, const char *op, const dln_mat *out, const dln_mat *in)
{
    uintptr_t a0, a1, b0, b1;
    span(out, &a0, &a1);
    span(in, &b0, &b1);
    if (a0 < a1 && b0 < b1 && a0 < b1 && b0 < a1)
        return dln_fail(err, DLN_ERUNTIME, "%s: the output overlaps an input", op);
    return DLN_OK;
}

int dln_check_gemm(dln_error *err, int trans_a, int trans_b, const dln_mat *A, const dln_mat *B, const dln_mat *C,
                   int *k)
{
    // C is (m, n), op(A) is (m, k), op(B) is (k, n), one dtype
    DLN_TRY(dln_check_mat(err, "gemm", "A", A));
    DLN_TRY(dln_check_mat(err, "gemm", "B", B));
    DLN_TRY(dln_check_mat(err, "gemm", "C", C));
    int am = trans_a ? A->cols : A->rows, ak = trans_a ? A->rows : A->cols;
    int bk = trans_b ? B->cols : B->rows, bn = trans_b ? B->rows : B->cols;
    if (am != C->rows || bk != ak || bn != C->cols || A->dtype != C->dtype || B->dtype != C->dtype)
        return dln_fail(err, DLN_ERUNTIME, "gemm: shapes do not chain: op(A) %d x %d, op(B) %d x %d, C %d x %d", am,
                        ak, bk, bn, C->rows, C->cols);
    DLN_TRY(dln_check_disjoint(err, "gemm", C, A));
    DLN_TRY(dln_check_disjoint(err, "gemm", C, B));
    *k = ak;
    return DLN_OK;
}
