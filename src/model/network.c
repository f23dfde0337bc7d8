/* network.c: a deep linear network's buffers in backend memory and its forward and
 * backward chains as backend GEMMs. Forward: A_0 = X, A_i = W_i A_{i-1}, E = A_H - Y.
 * Backward: B_H = E, G_i = B_i A_{i-1}^T, B_{i-1} = W_i^T B_i. B_{i-1} overwrites A_{i-1}
 * once G_i has used it, so the backward chain needs no buffers beyond the activations:
 * H GEMMs forward, 2H - 1 backward. The step built from them is in step.c. */
#include <stdlib.h>
#include <string.h>

#include "model/network_internal.h"

size_t dln_network_bytes(const dln_shape *s, int n, dln_dtype dtype, unsigned buffers)
{
    size_t p = dln_shape_params(s), act = 0;
    for (int i = 1; i <= s->depth; i++) act += (size_t)s->dims[i] * (size_t)n;
    size_t data = ((size_t)s->dims[0] + (size_t)s->dims[s->depth]) * (size_t)n;
    size_t copies = 2 + ((buffers & DLN_NET_MOMENTUM) ? 1 : 0) + ((buffers & DLN_NET_TRIAL) ? 1 : 0);
    return (copies * p + act + data) * dln_dtype_size(dtype) + NET_RESULTS * sizeof(double);
}

/* H matrices shaped like the weights: set[i] is (d_{i+1}, d_i). */
static int alloc_weight_set(dln_network *net, dln_mat **out)
{
    int H = net->s.depth;
    dln_mat *set = calloc((size_t)H, sizeof(dln_mat));
    *out = set;
    if (!set) return dln_fail(dln_backend_error(net->be), DLN_ENOMEM, "out of host memory");
    for (int i = 0; i < H; i++)
        DLN_TRY(dln_mat_alloc(net->be, &set[i], net->s.dims[i + 1], net->s.dims[i], net->dtype));
    return DLN_OK;
}

static int create(dln_network *net, unsigned buffers)
{
    dln_backend *be = net->be;
    int H = net->s.depth, n = net->n;
    DLN_TRY(dln_mat_alloc(be, &net->X, net->s.dims[0], n, net->dtype));
    DLN_TRY(dln_mat_alloc(be, &net->Y, net->s.dims[H], n, net->dtype));
    DLN_TRY(dln_mat_alloc(be, &net->results, NET_RESULTS, 1, DLN_F64));
    DLN_TRY(alloc_weight_set(net, &net->W));
    DLN_TRY(alloc_weight_set(net, &net->G));
    if (buffers & DLN_NET_MOMENTUM) DLN_TRY(alloc_weight_set(net, &net->V));
    if (buffers & DLN_NET_TRIAL) DLN_TRY(alloc_weight_set(net, &net->T));
    /* activations A[1..H] (d_i, n); A[0] stays unused (the input is X) */
    net->A = calloc((size_t)H + 1, sizeof(dln_mat));
    if (!net->A) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    for (int i = 1; i <= H; i++) DLN_TRY(dln_mat_alloc(be, &net->A[i], net->s.dims[i], n, net->dtype));
    return DLN_OK;
}

int dln_network_create(dln_backend *be, const dln_shape *s, int n, dln_dtype dtype, unsigned buffers,
                       dln_network **out)
{
    *out = NULL;
    dln_network *net = calloc(1, sizeof *net);
    if (!net) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    net->be = be;
    net->n = n;
    net->dtype = dtype;
    int rc = dln_shape_make(s->depth, s->dims[0], s->dims[s->depth], s->dims + 1, s->depth - 1, &net->s, dln_backend_error(be));
    if (!rc) rc = create(net, buffers);
    if (rc) {
        dln_network_destroy(net);
        return rc;
    }
    *out = net;
    return DLN_OK;
}

static void free_set(dln_backend *be, dln_mat *set, int count)
{
    if (!set) return;
    for (int i = 0; i < count; i++) dln_mat_free(be, &set[i]);
    free(set);
}

void dln_network_destroy(dln_network *net)
{
    if (!net) return;
    dln_backend *be = net->be;
    int H = net->s.depth;
    for (int g = 0; g < 2; g++) dln_graph_destroy(be, net->graphs[g].graph);
    dln_net_hvp_free(net);
    dln_net_product_free(net);
    dln_mat_free(be, &net->X);
    dln_mat_free(be, &net->Y);
    dln_mat_free(be, &net->results);
    free_set(be, net->W, H);
    free_set(be, net->G, H);
    free_set(be, net->V, H);
    free_set(be, net->T, H);
    free_set(be, net->A, H + 1);
    dln_shape_free(&net->s);
    free(net);
}

int dln_network_set_data(dln_network *net, const double *X, const double *Y)
{
    DLN_TRY(dln_upload(net->be, &net->X, X, net->X.rows));
    return dln_upload(net->be, &net->Y, Y, net->Y.rows);
}

static int transfer_set(dln_network *net, dln_mat *set, double *const *up, double **down)
{
    for (int i = 0; set && i < net->s.depth; i++) {
        if (up) DLN_TRY(dln_upload(net->be, &set[i], up[i], set[i].rows));
        else DLN_TRY(dln_download(net->be, &set[i], down[i], set[i].rows));
    }
    return DLN_OK;
}

int dln_network_set_weights(dln_network *net, double *const *W)
{
    DLN_TRY(transfer_set(net, net->W, W, NULL));
    for (int i = 0; net->V && i < net->s.depth; i++) DLN_TRY(dln_axpby(net->be, 0.0, &net->G[i], 0.0, &net->V[i]));
    return DLN_OK;
}

int dln_network_get_weights(dln_network *net, double **W) { return transfer_set(net, net->W, NULL, W); }

int dln_network_get_gradients(dln_network *net, double **G) { return transfer_set(net, net->G, NULL, G); }

int dln_network_get_residual(dln_network *net, double *E)
{
    // A[H] holds E (d_H, n) after a forward; the backward chain only reads it
    return dln_download(net->be, &net->A[net->s.depth], E, net->s.dims[net->s.depth]);
}

int dln_net_forward(dln_network *net, const dln_mat *W, int measure)
{
    // A_i (d_i, n) = W_i (d_i, d_{i-1}) A_{i-1} (d_{i-1}, n); A_H -= Y
    int H = net->s.depth;
    for (int i = 1; i <= H; i++)
        DLN_TRY(dln_gemm(net->be, 0, 0, 1.0, &W[i - 1], i == 1 ? &net->X : &net->A[i - 1], 0.0, &net->A[i]));
    DLN_TRY(dln_axpby(net->be, -1.0, &net->Y, 1.0, &net->A[H]));
    return measure ? dln_sumsq(net->be, &net->A[H], &net->results, NET_RESIDUAL, 0) : DLN_OK;
}

int dln_net_backward(dln_network *net, const dln_mat *W, int measure)
{
    // G_i (d_i, d_{i-1}) = B_i (d_i, n) A_{i-1}^T; B_{i-1} (d_{i-1}, n) = W_i^T B_i
    int H = net->s.depth;
    for (int i = H; i >= 1; i--) {
        const dln_mat *prev = i == 1 ? &net->X : &net->A[i - 1];
        DLN_TRY(dln_gemm(net->be, 0, 1, 1.0, &net->A[i], prev, 0.0, &net->G[i - 1]));
        if (measure) DLN_TRY(dln_sumsq(net->be, &net->G[i - 1], &net->results, NET_GRAD, i != H));
        if (i > 1) DLN_TRY(dln_gemm(net->be, 1, 0, 1.0, &W[i - 1], &net->A[i], 0.0, &net->A[i - 1]));
    }
    return DLN_OK;
}
