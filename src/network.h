/* network.h: the deep linear network held in backend memory (internal to the library):
 * weights, gradients, momentum and trial buffers, activations, and the data it is fitted
 * to, with the forward and backward chains as backend GEMMs. */
#ifndef DLN_NETWORK_H
#define DLN_NETWORK_H

#include "dln.h"

typedef struct {
    dln_backend *be;
    const dln_shape *s;
    int n;          /* columns of the data: m, or r when compressed */
    dln_dtype dtype;
    dln_mat X, Y;   /* input (d_0, n), target (d_H, n) */
    dln_mat *W;     /* W[i] (d_{i+1}, d_i), i = 0..H-1 */
    dln_mat *G;     /* gradients, shaped as W */
    dln_mat *V;     /* momentum buffers, or NULL */
    dln_mat *T;     /* line-search trial weights, or NULL */
    dln_mat *A;     /* A[i] (d_i, n), i = 1..H; A[H] holds the residual after forward */
} dln_net;

/* Backend bytes a network of this shape needs. */
size_t dln_net_bytes(const dln_shape *s, int n, dln_dtype dtype, int momentum, int trial);
int dln_net_create(dln_backend *be, const dln_shape *s, int n, dln_dtype dtype, int momentum, int trial,
                   dln_net *net);
void dln_net_destroy(dln_net *net);
/* X (d_0, n) and Y (d_H, n) host fp64 with leading dims d_0 and d_H. */
int dln_net_set_data(dln_net *net, const double *X, const double *Y);
int dln_net_set_weights(dln_net *net, double *const *W);
int dln_net_get_weights(dln_net *net, double **W);
/* Forward chain with weights W (net->W or net->T): A[H] = W_H...W_1 X - Y; slot = ||A[H]||^2
 * (no reduction when slot < 0). */
int dln_net_forward(dln_net *net, dln_mat *W, int slot);
/* Backward chain after a forward with W: G[i] = dL/dW_i; slot = sum_i ||G[i]||^2 (none
 * when slot < 0).
 * Overwrites the activations. */
int dln_net_backward(dln_net *net, dln_mat *W, int slot);

#endif
