/* hvp.c: exact Hessian-vector products of the deep loss, on the backend. With layers
 * k = 1..H (W_k = W[k-1]), A_0 = X, A_k = W_k A_{k-1}, Z = A_H, B_H = dL/dZ,
 * B_{k-1} = W_k^T B_k and G_k = B_k A_{k-1}^T, the derivative along V = (V_1..V_H) is
 *   dA_0 = 0,  dA_k = V_k A_{k-1} + W_k dA_{k-1},   dB_H = (d^2L/dZ^2) dA_H,
 *   dB_{k-1} = V_k^T B_k + W_k^T dB_k,                (H V)_k = dG_k = dB_k A_{k-1}^T + B_k dA_{k-1}^T
 * (docs/maths.md, "Hessian-vector products"; the square loss's d^2L/dZ^2 is the identity).
 * Every activation, backward signal and their tangents are kept in buffers of their own
 * (the step's chain overwrites activations). The chains are batched operations over a
 * range of members, each member's directions and products in buffers `cap` members wide,
 * made on first use (network_internal.h's net_hvp; the network frees them);
 * dln_network_hvp runs them for one member. */
#include <stdlib.h>

#include "model/network_internal.h"

static int make_buffers(dln_network *net, int cap)
{
    int H = net->s.depth, n = net->n;
    struct net_hvp *h = calloc(1, sizeof *h);
    if (!h) return dln_fail(dln_backend_error(net->be), DLN_ENOMEM, "out of host memory");
    net->hvp = h;
    h->cap = cap;
    DLN_TRY(dln_net_alloc_set(net, &h->A, 1, H - 1, n, cap));
    DLN_TRY(dln_net_alloc_set(net, &h->B, 1, H, n, cap));
    DLN_TRY(dln_net_alloc_set(net, &h->dA, 1, H - 1, n, cap));
    DLN_TRY(dln_net_alloc_set(net, &h->dB, 1, H, n, cap));
    DLN_TRY(dln_net_alloc_set(net, &h->V, 0, H - 1, 0, cap));
    return dln_net_alloc_set(net, &h->HV, 0, H - 1, 0, cap);
}

/* The network's members lo .. lo + n - 1 against buffer slots 0 .. n - 1: A_k for k < H,
 * Z into B[H] and the tangents dA_k, dA_H into dB[H]; then dB[H] := (d^2L/dZ^2) dB[H] and
 * B[H] := dL/dZ. */
static int forward(dln_network *net, struct net_hvp *h, int lo, int n)
{
    dln_backend *be = net->be;
    int H = net->s.depth;
    for (int k = 1; k <= H; k++) {
        // A_k (d_k, n) = W_k A_{k-1}; dA_k = V_k A_{k-1} + W_k dA_{k-1}
        const net_mat *wk = &net->W[k - 1];
        dln_mat w = dln_net_member(wk, lo), prev = k == 1 ? net->X : h->A[k - 1].m0;
        size_t s_prev = k == 1 ? 0 : h->A[k - 1].stride;
        net_mat *a = k == H ? &h->B[H] : &h->A[k], *da = k == H ? &h->dB[H] : &h->dA[k];
        if (k == 1 && net->identity) { /* X = I: A_1 = W_1, dA_1 = V_1 */
            DLN_TRY(dln_axpby_batched(be, 1.0, NULL, &w, wk->stride, 0.0, NULL, &a->m0, a->stride, n));
            DLN_TRY(dln_axpby_batched(be, 1.0, NULL, &h->V[0].m0, h->V[0].stride, 0.0, NULL, &da->m0, da->stride, n));
            continue;
        }
        DLN_TRY(dln_gemm_batched(be, 0, 0, 1.0, &w, wk->stride, &prev, s_prev, 0.0, &a->m0, a->stride, n));
        DLN_TRY(dln_gemm_batched(be, 0, 0, 1.0, &h->V[k - 1].m0, h->V[k - 1].stride, &prev, s_prev, 0.0, &da->m0,
                                 da->stride, n));
        if (k > 1)
            DLN_TRY(dln_gemm_batched(be, 0, 0, 1.0, &w, wk->stride, &h->dA[k - 1].m0, h->dA[k - 1].stride, 1.0,
                                     &da->m0, da->stride, n));
    }
    DLN_TRY(dln_objective_hessian(net->obj, be, &h->B[H].m0, h->B[H].stride, &h->dB[H].m0, h->dB[H].stride, lo, n));
    return dln_objective_gradient(net->obj, be, &h->B[H].m0, h->B[H].stride, lo, n, NULL, 0);
}

/* (H V)_k = dB_k A_{k-1}^T + B_k dA_{k-1}^T, with B and dB carried down the chain. */
static int backward(dln_network *net, struct net_hvp *h, int lo, int n)
{
    dln_backend *be = net->be;
    int H = net->s.depth;
    for (int k = H; k >= 1; k--) {
        // HV_k (d_k, d_{k-1}) = dB_k (d_k, n) A_{k-1}^T + B_k dA_{k-1}^T (dA_0 = 0)
        const net_mat *wk = &net->W[k - 1];
        net_mat *hv = &h->HV[k - 1], *vk = &h->V[k - 1];
        dln_mat w = dln_net_member(wk, lo), prev = k == 1 ? net->X : h->A[k - 1].m0;
        size_t s_prev = k == 1 ? 0 : h->A[k - 1].stride;
        if (k == 1 && net->identity) /* X = I: HV_1 = dB_1 */
            DLN_TRY(dln_axpby_batched(be, 1.0, NULL, &h->dB[1].m0, h->dB[1].stride, 0.0, NULL, &hv->m0, hv->stride, n));
        else
            DLN_TRY(dln_gemm_batched(be, 0, 1, 1.0, &h->dB[k].m0, h->dB[k].stride, &prev, s_prev, 0.0,
                                     &hv->m0, hv->stride, n));
        if (k > 1)
            DLN_TRY(dln_gemm_batched(be, 0, 1, 1.0, &h->B[k].m0, h->B[k].stride, &h->dA[k - 1].m0,
                                     h->dA[k - 1].stride, 1.0, &hv->m0, hv->stride, n));
        if (k == 1) break;
        // B_{k-1} = W_k^T B_k; dB_{k-1} = V_k^T B_k + W_k^T dB_k
        DLN_TRY(dln_gemm_batched(be, 1, 0, 1.0, &w, wk->stride, &h->B[k].m0, h->B[k].stride, 0.0, &h->B[k - 1].m0,
                                 h->B[k - 1].stride, n));
        DLN_TRY(dln_gemm_batched(be, 1, 0, 1.0, &vk->m0, vk->stride, &h->B[k].m0, h->B[k].stride, 0.0,
                                 &h->dB[k - 1].m0, h->dB[k - 1].stride, n));
        DLN_TRY(dln_gemm_batched(be, 1, 0, 1.0, &w, wk->stride, &h->dB[k].m0, h->dB[k].stride, 1.0,
                                 &h->dB[k - 1].m0, h->dB[k - 1].stride, n));
    }
    return DLN_OK;
}

int dln_network_hvp(dln_network *net, int member, double *const *V, double **HV)
{
    if (member < 0 || member >= net->count)
        return dln_fail(dln_backend_error(net->be), DLN_ERUNTIME, "member %d of a network of %d", member, net->count);
    if (!net->hvp) {
        int rc = make_buffers(net, 1);
        if (rc) {
            dln_net_hvp_free(net);
            return rc;
        }
    }
    struct net_hvp *h = net->hvp;
    int H = net->s.depth;
    for (int i = 0; i < H; i++) DLN_TRY(dln_upload(net->be, &h->V[i].m0, V[i], h->V[i].m0.rows));
    DLN_TRY(forward(net, h, member, 1));
    DLN_TRY(backward(net, h, member, 1));
    for (int i = 0; i < H; i++) DLN_TRY(dln_download(net->be, &h->HV[i].m0, HV[i], h->HV[i].m0.rows));
    return DLN_OK;
}
