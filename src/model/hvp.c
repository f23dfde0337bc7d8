/* hvp.c: exact Hessian-vector products of the deep loss, on the backend. With layers
 * k = 1..H (W_k = W[k-1]), A_0 = X, A_k = W_k A_{k-1}, E = A_H - Y, B_H = E,
 * B_{k-1} = W_k^T B_k and G_k = B_k A_{k-1}^T, the derivative along V = (V_1..V_H) is
 *   dA_0 = 0,  dA_k = V_k A_{k-1} + W_k dA_{k-1},     dB_H = dA_H,
 *   dB_{k-1} = V_k^T B_k + W_k^T dB_k,                  (H V)_k = dG_k = dB_k A_{k-1}^T + B_k dA_{k-1}^T
 * (docs/maths.md, "Hessian-vector products"). Every activation, backward signal and their
 * tangents are kept in buffers of their own (the step's chain overwrites activations). */
#include <stdlib.h>

#include "model/network_internal.h"

struct net_hvp {
    dln_mat *A;  /* A[k] (d_k, n), k = 1..H-1 (A[0] is X; A_H goes straight into B[H]) */
    dln_mat *B;  /* B[k] (d_k, n), k = 1..H; B[H] = E */
    dln_mat *dA; /* dA[k] (d_k, n), k = 1..H-1 (dA_H is dB[H]) */
    dln_mat *dB; /* dB[k] (d_k, n), k = 1..H */
    dln_mat *V;  /* V[k-1] shaped as W_k: the direction */
    dln_mat *HV; /* HV[k-1] shaped as W_k: the product */
};

static void free_set(dln_backend *be, dln_mat *set, int count)
{
    if (!set) return;
    for (int i = 0; i < count; i++) dln_mat_free(be, &set[i]);
    free(set);
}

void dln_net_hvp_free(dln_network *net)
{
    struct net_hvp *h = net->hvp;
    if (!h) return;
    int H = net->s.depth;
    free_set(net->be, h->A, H + 1);
    free_set(net->be, h->B, H + 1);
    free_set(net->be, h->dA, H + 1);
    free_set(net->be, h->dB, H + 1);
    free_set(net->be, h->V, H);
    free_set(net->be, h->HV, H);
    free(h);
    net->hvp = NULL;
}

/* count matrices; entry k is (dims[k], n) for k in [lo, hi], or weight-shaped when n < 0. */
static int alloc_set(dln_network *net, dln_mat **out, int count, int lo, int hi, int n)
{
    dln_mat *set = calloc((size_t)count, sizeof(dln_mat));
    *out = set;
    if (!set) return dln_fail(dln_backend_error(net->be), DLN_ENOMEM, "out of host memory");
    for (int k = lo; k <= hi; k++) {
        int rows = n < 0 ? net->s.dims[k + 1] : net->s.dims[k], cols = n < 0 ? net->s.dims[k] : n;
        DLN_TRY(dln_mat_alloc(net->be, &set[k], rows, cols, net->dtype));
    }
    return DLN_OK;
}

static int make_buffers(dln_network *net)
{
    int H = net->s.depth, n = net->n;
    struct net_hvp *h = calloc(1, sizeof *h);
    if (!h) return dln_fail(dln_backend_error(net->be), DLN_ENOMEM, "out of host memory");
    net->hvp = h;
    DLN_TRY(alloc_set(net, &h->A, H + 1, 1, H - 1, n));
    DLN_TRY(alloc_set(net, &h->B, H + 1, 1, H, n));
    DLN_TRY(alloc_set(net, &h->dA, H + 1, 1, H - 1, n));
    DLN_TRY(alloc_set(net, &h->dB, H + 1, 1, H, n));
    DLN_TRY(alloc_set(net, &h->V, H, 0, H - 1, -1));
    return alloc_set(net, &h->HV, H, 0, H - 1, -1);
}

/* A_k for k < H, E into B[H], and the tangents dA_k, dA_H into dB[H]. */
static int forward(dln_network *net, struct net_hvp *h)
{
    dln_backend *be = net->be;
    int H = net->s.depth;
    const dln_mat *W = net->W, *V = h->V;
    for (int k = 1; k <= H; k++) {
        // A_k (d_k, n) = W_k A_{k-1}; dA_k = V_k A_{k-1} + W_k dA_{k-1}
        const dln_mat *prev = k == 1 ? &net->X : &h->A[k - 1];
        dln_mat *a = k == H ? &h->B[H] : &h->A[k], *da = k == H ? &h->dB[H] : &h->dA[k];
        DLN_TRY(dln_gemm(be, 0, 0, 1.0, &W[k - 1], prev, 0.0, a));
        DLN_TRY(dln_gemm(be, 0, 0, 1.0, &V[k - 1], prev, 0.0, da));
        if (k > 1) DLN_TRY(dln_gemm(be, 0, 0, 1.0, &W[k - 1], &h->dA[k - 1], 1.0, da));
    }
    return dln_axpby(be, -1.0, &net->Y, 1.0, &h->B[H]); /* E = A_H - Y */
}

/* (H V)_k = dB_k A_{k-1}^T + B_k dA_{k-1}^T, with B and dB carried down the chain. */
static int backward(dln_network *net, struct net_hvp *h)
{
    dln_backend *be = net->be;
    int H = net->s.depth;
    const dln_mat *W = net->W, *V = h->V;
    for (int k = H; k >= 1; k--) {
        // HV_k (d_k, d_{k-1}) = dB_k (d_k, n) A_{k-1}^T + B_k dA_{k-1}^T (dA_0 = 0)
        const dln_mat *prev = k == 1 ? &net->X : &h->A[k - 1];
        DLN_TRY(dln_gemm(be, 0, 1, 1.0, &h->dB[k], prev, 0.0, &h->HV[k - 1]));
        if (k > 1) DLN_TRY(dln_gemm(be, 0, 1, 1.0, &h->B[k], &h->dA[k - 1], 1.0, &h->HV[k - 1]));
        if (k == 1) break;
        // B_{k-1} = W_k^T B_k; dB_{k-1} = V_k^T B_k + W_k^T dB_k
        DLN_TRY(dln_gemm(be, 1, 0, 1.0, &W[k - 1], &h->B[k], 0.0, &h->B[k - 1]));
        DLN_TRY(dln_gemm(be, 1, 0, 1.0, &V[k - 1], &h->B[k], 0.0, &h->dB[k - 1]));
        DLN_TRY(dln_gemm(be, 1, 0, 1.0, &W[k - 1], &h->dB[k], 1.0, &h->dB[k - 1]));
    }
    return DLN_OK;
}

int dln_network_hvp(dln_network *net, double *const *V, double **HV)
{
    if (!net->hvp) {
        int rc = make_buffers(net);
        if (rc) {
            dln_net_hvp_free(net);
            return rc;
        }
    }
    struct net_hvp *h = net->hvp;
    int H = net->s.depth;
    for (int i = 0; i < H; i++) DLN_TRY(dln_upload(net->be, &h->V[i], V[i], h->V[i].rows));
    DLN_TRY(forward(net, h));
    DLN_TRY(backward(net, h));
    for (int i = 0; i < H; i++) DLN_TRY(dln_download(net->be, &h->HV[i], HV[i], h->HV[i].rows));
    return DLN_OK;
}
