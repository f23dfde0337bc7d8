/* cpu_internal.h: what the CPU backend's files share (internal to src/backends/cpu/): the
 * element index, a batched operand's member, the product of gemm_cpu.c and the loss
 * operations of loss_cpu.c that backend_cpu.c's table lists. */
#ifndef DLN_CPU_INTERNAL_H
#define DLN_CPU_INTERNAL_H

#include "backends/backend_table.h"

#define IDX(m, i, j) ((size_t)(i) + (size_t)(j) * (size_t)(m)->ld)

/* Member b of a batched operand: the descriptor moved by b * stride elements. */
static inline dln_mat dln_cpu_member(const dln_mat *m, size_t stride, int b)
{
    dln_mat v = *m;
    v.data = (char *)m->data + (size_t)b * stride * dln_dtype_size(m->dtype);
    return v;
}

/* C = alpha op(A) op(B) + beta C for one member (gemm_cpu.c: one CBLAS call, or pieces of a
 * long product, on the backend's threads where spread). */
int dln_cpu_gemm_one(dln_backend *be, int trans_a, int trans_b, double alpha, const dln_mat *A, const dln_mat *B,
                     double beta, dln_mat *C, int spread);
int dln_cpu_loss_gradient(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, dln_mat *Z,
                          size_t stride_z, int count, dln_mat *out, int index);
int dln_cpu_loss_hessian(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, const dln_mat *Z,
                         size_t stride_z, dln_mat *D, size_t stride_d, int count);

#endif
