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
