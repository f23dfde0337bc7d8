/* network.c: forward and backward chains of the deep linear network as backend GEMMs.
 * Forward: A_0 = X, A_i = W_i A_{i-1}, E = A_H - Y. Backward: B_H = E,
 * G_i = B_i A_{i-1}^T, B_{i-1} = W_i^T B_i. B_{i-1} overwrites A_{i-1} once G_i has
 * used it, so the backward chain needs no buffers beyond the activations:
 * H GEMMs forward, 2H - 1 backward. */
#include <stdlib.h>
#include <string.h>

#include "network.h"

size_t dln_net_bytes(const dln_shape *s, int n, dln_dtype dtype, int momentum, int trial)
{
    size_t p = dln_shape_params(s), act = 0;
    for (int i = 1; i <= s->depth; i++) act += (size_t)s->dims[i] * (size_t)n;
    size_t data = ((size_t)s->dims[0] + (size_t)s->dims[s->depth]) * (size_t)n;
    size_t copies = 2 + (momentum ? 1 : 0) + (trial ? 1 : 0);
    return (copies * p + act + data) * dln_dtype_size(dtype);
}

/* H matrices shaped like the weights: set[i] is (d_{i+1}, d_i). */
static dln_mat *alloc_weight_set(dln_net *net, int *rc)
{
    int H = net->s->depth;
    dln_mat *set = calloc((size_t)H, sizeof(dln_mat));
    if (!set) {
        *rc = dln_fail(net->be->err, DLN_ENOMEM, "out of host memory");
        return NULL;
    }
    for (int i = 0; i < H && !*rc; i++)
        *rc = net->be->ops->alloc(net->be, &set[i], net->s->dims[i + 1], net->s->dims[i], net->dtype);
    return set;
}

int dln_net_create(dln_backend *be, const dln_shape *s, int n, dln_dtype dtype, int momentum, int trial,
                   dln_net *net)
{
    memset(net, 0, sizeof *net);
    net->be = be;
    net->s = s;
    net->n = n;
    net->dtype = dtype;
    int H = s->depth, rc = DLN_OK;
    rc = be->ops->alloc(be, &net->X, s->dims[0], n, dtype);
    if (!rc) rc = be->ops->alloc(be, &net->Y, s->dims[H], n, dtype);
    if (!rc) net->W = alloc_weight_set(net, &rc);
    if (!rc) net->G = alloc_weight_set(net, &rc);
    if (!rc && momentum) net->V = alloc_weight_set(net, &rc);
    if (!rc && trial) net->T = alloc_weight_set(net, &rc);
    /* activations A[1..H] (d_i, n); A[0] stays unused (the input is X) */
    if (!rc) {
        net->A = calloc((size_t)H + 1, sizeof(dln_mat));
        if (!net->A) rc = dln_fail(be->err, DLN_ENOMEM, "out of host memory");
        for (int i = 1; i <= H && !rc; i++) rc = be->ops->alloc(be, &net->A[i], s->dims[i], n, dtype);
    }
    if (rc) dln_net_destroy(net);
    return rc;
}

static void free_set(dln_backend *be, dln_mat *set, int count)
{
    if (!set) return;
    for (int i = 0; i < count; i++)
        if (set[i].data) be->ops->free(be, &set[i]);
    free(set);
}

void dln_net_destroy(dln_net *net)
{
    dln_backend *be = net->be;
    int H = net->s ? net->s->depth : 0;
    if (!be) return;
    if (net->X.data) be->ops->free(be, &net->X);
    if (net->Y.data) be->ops->free(be, &net->Y);
    free_set(be, net->W, H);
    free_set(be, net->G, H);
    free_set(be, net->V, H);
    free_set(be, net->T, H);
    free_set(be, net->A, H + 1);
    memset(net, 0, sizeof *net);
}

int dln_net_set_data(dln_net *net, const double *X, const double *Y)
{
    dln_backend *be = net->be;
    DLN_TRY(be->ops->upload(be, &net->X, X, net->X.rows));
    return be->ops->upload(be, &net->Y, Y, net->Y.rows);
}

int dln_net_set_weights(dln_net *net, double *const *W)
{
    for (int i = 0; i < net->s->depth; i++)
        DLN_TRY(net->be->ops->upload(net->be, &net->W[i], W[i], net->W[i].rows));
    return DLN_OK;
}

int dln_net_get_weights(dln_net *net, double **W)
{
    for (int i = 0; i < net->s->depth; i++)
        DLN_TRY(net->be->ops->download(net->be, &net->W[i], W[i], net->W[i].rows));
    return DLN_OK;
}

int dln_net_forward(dln_net *net, dln_mat *W, int slot)
{
    // A_i (d_i, n) = W_i (d_i, d_{i-1}) A_{i-1} (d_{i-1}, n); A_H -= Y
    const dln_backend_ops *op = net->be->ops;
    int H = net->s->depth;
    for (int i = 1; i <= H; i++)
        DLN_TRY(op->gemm(net->be, 0, 0, 1.0, &W[i - 1], i == 1 ? &net->X : &net->A[i - 1], 0.0, &net->A[i]));
    DLN_TRY(op->axpby(net->be, -1.0, &net->Y, 1.0, &net->A[H]));
    return slot < 0 ? DLN_OK : op->sumsq(net->be, &net->A[H], slot, 0);
}

int dln_net_backward(dln_net *net, dln_mat *W, int slot)
{
    // G_i (d_i, d_{i-1}) = B_i (d_i, n) A_{i-1}^T; B_{i-1} (d_{i-1}, n) = W_i^T B_i
    const dln_backend_ops *op = net->be->ops;
    int H = net->s->depth;
    for (int i = H; i >= 1; i--) {
        dln_mat *prev = i == 1 ? &net->X : &net->A[i - 1];
        DLN_TRY(op->gemm(net->be, 0, 1, 1.0, &net->A[i], prev, 0.0, &net->G[i - 1]));
        if (slot >= 0) DLN_TRY(op->sumsq(net->be, &net->G[i - 1], slot, i != H));
        if (i > 1) DLN_TRY(op->gemm(net->be, 1, 0, 1.0, &W[i - 1], &net->A[i], 0.0, &net->A[i - 1]));
    }
    return DLN_OK;
}
