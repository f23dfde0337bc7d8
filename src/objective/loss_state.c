/* loss_state.c: the state and backend work of the losses that dln/ops.h's loss operations
 * compute (lp.c, huber.c, logistic.c, softmax.c): the target uploaded once, shared by every
 * member (stride 0); the gradient dL/dZ and its value in one dln_loss_gradient_batched, the
 * Hessian's action in one dln_loss_hessian_batched. The loss is the reduced value itself
 * (value_scale 1). */
#include <stdlib.h>

#include "objective/objective.h"

typedef struct {
    dln_loss loss;
    dln_mat Y; /* (rows, n) */
} loss_state;

double dln_loss_state_bytes(const dln_objective *o, int rows, int n, dln_dtype dtype, int count)
{
    (void)o, (void)count;
    return (double)rows * (double)n * (double)dln_dtype_size(dtype);
}

void dln_loss_state_destroy(dln_backend *be, void *state)
{
    loss_state *s = state;
    if (!s) return;
    dln_mat_free(be, &s->Y);
    free(s);
}

int dln_loss_state_create(const dln_objective *o, dln_backend *be, int rows, int n, dln_dtype dtype, int count,
                          void **out)
{
    (void)count;
    loss_state *s = calloc(1, sizeof *s);
    if (!s) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    s->loss = o->loss;
    int rc = dln_mat_alloc(be, &s->Y, rows, n, dtype);
    if (rc) dln_loss_state_destroy(be, s);
    else *out = s;
    return rc;
}

int dln_loss_state_set_target(void *state, dln_backend *be, const double *Y)
{
    loss_state *s = state;
    return dln_upload(be, &s->Y, Y, s->Y.rows);
}

int dln_loss_state_gradient(void *state, dln_backend *be, dln_mat *Z, size_t stride, int lo, int count, dln_mat *out,
                            int index)
{
    // Z_b (rows, n) := dL/dZ at Z_b; out[index + b - lo] = L(Z_b)
    loss_state *s = state;
    (void)lo;
    return dln_loss_gradient_batched(be, &s->loss, &s->Y, 0, Z, stride, count, out, index);
}

int dln_loss_state_hessian(void *state, dln_backend *be, const dln_mat *Z, size_t stride_z, dln_mat *D,
                           size_t stride_d, int lo, int count)
{
    // D_b (rows, n) := (d^2 L / dZ^2 at Z_b) D_b
    loss_state *s = state;
    (void)lo;
    return dln_loss_hessian_batched(be, &s->loss, &s->Y, 0, Z, stride_z, D, stride_d, count);
}
