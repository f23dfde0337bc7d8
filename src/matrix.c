/* matrix.c: backend-independent helpers for dln_mat descriptors (no memory access). */
#include "dln_backend.h"

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

int dln_check_same(dln_backend *be, const char *op, const dln_mat *a, const dln_mat *b)
{
    if (a->rows != b->rows || a->cols != b->cols || a->dtype != b->dtype)
        return dln_fail(be->err, DLN_ERUNTIME, "%s: shape or dtype mismatch (%d x %d %s vs %d x %d %s)", op,
                        a->rows, a->cols, dln_dtype_name(a->dtype), b->rows, b->cols, dln_dtype_name(b->dtype));
    return DLN_OK;
}

int dln_check_gemm(dln_backend *be, int trans_a, int trans_b, const dln_mat *A, const dln_mat *B,
                   const dln_mat *C, int *k)
{
    // C is (m, n), op(A) is (m, k), op(B) is (k, n), one dtype
    int am = trans_a ? A->cols : A->rows, ak = trans_a ? A->rows : A->cols;
    int bk = trans_b ? B->cols : B->rows, bn = trans_b ? B->rows : B->cols;
    if (am != C->rows || bk != ak || bn != C->cols || A->dtype != C->dtype || B->dtype != C->dtype)
        return dln_fail(be->err, DLN_ERUNTIME,
                        "gemm: shapes do not chain: op(A) %d x %d, op(B) %d x %d, C %d x %d", am, ak, bk, bn,
                        C->rows, C->cols);
    *k = ak;
    return DLN_OK;
}
