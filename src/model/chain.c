/* chain.c: the forward and backward chains of members lo .. lo + n - 1 as batched GEMMs
 * (one call per layer for all of them). Forward: A_0 = X (shared), A_i = W_i A_{i-1}, then
 * the objective turns A_H = Z into dL/dZ in place. Backward: B_H = dL/dZ,
 * G_i = B_i A_{i-1}^T, B_{i-1} = W_i^T B_i. B_{i-1} overwrites A_{i-1} once G_i has used
 * it, so the backward chain needs no buffers beyond the activations: H GEMMs forward,
 * 2H - 1 backward. Where X is the identity (a matrix problem, net->identity) the first layer's
 * GEMMs A_1 = W_1 X and G_1 = B_1 X^T are copies: H - 1 and 2H - 2 GEMMs. */
#include "model/network_internal.h"

/* Members lo .. of a batched operand, as a batched operand starting at member lo. */
static dln_mat from(const net_mat *m, int lo) { return dln_net_member(m, lo); }

int dln_net_forward(dln_network *net, const net_mat *W, int lo, int n, int measure)
{
    // A_i (d_i, n) = W_i (d_i, d_{i-1}) A_{i-1} (d_{i-1}, n) per member; A_H := dL/dZ at Z = A_H
    int H = net->s.depth;
    for (int i = 1; i <= H; i++) {
        dln_mat in = i == 1 ? net->X : from(&net->A[i - 1], lo), w = from(&W[i - 1], lo), a = from(&net->A[i], lo);
        size_t s_in = i == 1 ? 0 : net->A[i - 1].stride;
        if (i == 1 && net->identity)
            DLN_TRY(dln_axpby_batched(net->be, 1.0, NULL, &w, W[0].stride, 0.0, NULL, &a, net->A[1].stride, n));
        else
            DLN_TRY(dln_gemm_batched(net->be, 0, 0, 1.0, &w, W[i - 1].stride, &in, s_in, 0.0, &a, net->A[i].stride, n));
    }
    dln_mat z = from(&net->A[H], lo);
    return dln_objective_gradient(net->obj, net->be, &z, net->A[H].stride, lo, n, measure ? &net->results : NULL, lo);
}

int dln_net_backward(dln_network *net, const net_mat *W, int lo, int n, int measure)
{
    // G_i (d_i, d_{i-1}) = B_i (d_i, n) A_{i-1}^T; B_{i-1} (d_{i-1}, n) = W_i^T B_i, per member
    int H = net->s.depth, count = net->count;
    for (int i = H; i >= 1; i--) {
        dln_mat prev = i == 1 ? net->X : from(&net->A[i - 1], lo), a = from(&net->A[i], lo), g = from(&net->G[i - 1], lo);
        size_t s_prev = i == 1 ? 0 : net->A[i - 1].stride;
        if (i == 1 && net->identity)
            DLN_TRY(dln_axpby_batched(net->be, 1.0, NULL, &a, net->A[1].stride, 0.0, NULL, &g, net->G[0].stride, n));
        else
            DLN_TRY(dln_gemm_batched(net->be, 0, 1, 1.0, &a, net->A[i].stride, &prev, s_prev, 0.0, &g,
                                     net->G[i - 1].stride, n));
        if (measure)
            DLN_TRY(dln_sumsq_batched(net->be, &g, net->G[i - 1].stride, n, &net->results, count + lo, i != H));
        if (i > 1) {
            dln_mat w = from(&W[i - 1], lo);
            DLN_TRY(dln_gemm_batched(net->be, 1, 0, 1.0, &w, W[i - 1].stride, &a, net->A[i].stride, 0.0, &prev,
                                     net->A[i - 1].stride, n));
        }
    }
    return DLN_OK;
}
