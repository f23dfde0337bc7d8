/* product.c: quantities of a member's current weights computed on the backend for
 * observation: the end-to-end product R = W_H...W_1 (accumulated from the input side,
 * P_1 = W_1, P_k = W_k P_{k-1}, in two ping-pong buffers) and the layers' Frobenius norms. */
#include <math.h>

#include "model/network_internal.h"

static int check_member(dln_network *net, int m)
{
    if (m < 0 || m >= net->count)
        return dln_fail(dln_backend_error(net->be), DLN_ERUNTIME, "member %d of a network of %d", m, net->count);
    return DLN_OK;
}

int dln_network_product(dln_network *net, int member, double *R)
{
    // P_k (d_k, d_0) = W_k P_{k-1}; R = P_H (d_H, d_0)
    DLN_TRY(check_member(net, member));
    int H = net->s.depth, d0 = net->s.dims[0], dmax = 1;
    for (int k = 1; k <= H; k++) dmax = net->s.dims[k] > dmax ? net->s.dims[k] : dmax;
    for (int b = 0; b < 2 && H > 1; b++)
        if (!net->prod[b].data) DLN_TRY(dln_mat_alloc(net->be, &net->prod[b], dmax, d0, net->dtype));
    dln_mat prev = dln_net_member(&net->W[0], member);
    if (H == 1) return dln_download(net->be, &prev, R, net->s.dims[1]);
    dln_mat views[2];
    for (int k = 2; k <= H; k++) {
        views[k % 2] = dln_mat_view(&net->prod[k % 2], 0, 0, net->s.dims[k], d0);
        dln_mat w = dln_net_member(&net->W[k - 1], member);
        DLN_TRY(dln_gemm(net->be, 0, 0, 1.0, &w, &prev, 0.0, &views[k % 2]));
        prev = views[k % 2];
    }
    return dln_download(net->be, &prev, R, net->s.dims[H]);
}

int dln_network_layer_norms(dln_network *net, int member, double *norms)
{
    DLN_TRY(check_member(net, member));
    int H = net->s.depth;
    if (!net->norms.data) DLN_TRY(dln_mat_alloc(net->be, &net->norms, H, 1, DLN_F64));
    for (int i = 0; i < H; i++) {
        dln_mat w = dln_net_member(&net->W[i], member);
        DLN_TRY(dln_sumsq(net->be, &w, &net->norms, i, 0));
    }
    DLN_TRY(dln_download(net->be, &net->norms, norms, H));
    for (int i = 0; i < H; i++) norms[i] = sqrt(norms[i]);
    return DLN_OK;
}
