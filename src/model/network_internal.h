/* network_internal.h: the layout of a dln_network (internal to src/model/): its buffers
 * in backend memory and the forward and backward chains (network.c) that the step
 * (step.c) is built from. */
#ifndef DLN_NETWORK_INTERNAL_H
#define DLN_NETWORK_INTERNAL_H

#include "dln/network.h"

/* Indices into the result column. */
enum { NET_RESIDUAL = 0, NET_GRAD = 1, NET_RESULTS = 2 };

/* A captured step: the graph and the scalars it was recorded with. */
typedef struct {
    dln_graph *graph;
    double lr, mu;
} net_graph;

struct dln_network {
    dln_backend *be;
    dln_shape s;    /* owned copy */
    int n;          /* columns of the data */
    dln_dtype dtype;
    dln_mat X, Y;   /* input (d_0, n), target (d_H, n) */
    dln_mat *W;     /* W[i] (d_{i+1}, d_i), i = 0..H-1 */
    dln_mat *G;     /* gradients, shaped as W */
    dln_mat *V;     /* momentum, or NULL */
    dln_mat *T;     /* line-search trial weights, or NULL */
    dln_mat *A;     /* A[i] (d_i, n), i = 1..H; A[H] holds the residual after a forward */
    dln_mat results; /* fp64 (NET_RESULTS, 1): residual and gradient squared norms */
    net_graph graphs[2]; /* captured steps: unmeasured, measured */
    int no_graphs;       /* issue every operation instead of capturing */
    struct net_hvp *hvp; /* Hessian-vector product buffers (hvp.c), made on first use */
    dln_mat prod[2];     /* product.c: ping-pong (max d_i, d_0) for W_k...W_1, made on first use */
    dln_mat norms;       /* product.c: fp64 (H, 1) squared layer norms, made on first use */
};

/* Frees the Hessian-vector product buffers (hvp.c); safe when there are none. */
void dln_net_hvp_free(dln_network *net);
/* Frees the product and norm buffers (product.c); safe when there are none. */
void dln_net_product_free(dln_network *net);

/* Forward chain with weights W (net->W or net->T): A[H] = W_H...W_1 X - Y, and its
 * squared norm into the results when measure is set. */
int dln_net_forward(dln_network *net, const dln_mat *W, int measure);
/* Backward chain after a forward with W: G[i] = dL/dW_i, and sum_i ||G_i||^2 into the
 * results when measure is set. Overwrites the activations. */
int dln_net_backward(dln_network *net, const dln_mat *W, int measure);

#endif
