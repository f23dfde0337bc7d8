/* network_internal.h: the layout of a dln_network (internal to src/model/): its buffers in
 * backend memory, each the members side by side (all freed by network.c, which owns them,
 * those made on first use by hvp.c and product.c too), and the chains over a range of
 * members that the step (step.c), the trial of a line search and the Hessian-vector
 * products (hvp.c) are built from (chain.c). */
#ifndef DLN_NETWORK_INTERNAL_H
#define DLN_NETWORK_INTERNAL_H

#include "dln/network.h"

/* A batched operand: the allocation (rows, cols x count), member 0's descriptor, and the
 * stride between members (member b is member 0 moved by b x stride elements). */
typedef struct {
    dln_mat all;
    dln_mat m0;
    size_t stride;
} net_mat;

/* The Hessian-vector product's buffers (made on first use by hvp.c, freed with the network):
 * each a batched operand `cap` members wide. */
struct net_hvp {
    int cap;     /* members the buffers hold */
    net_mat *A;  /* A[k] (d_k, n), k = 1..H-1 (A[0] is X; A_H goes straight into B[H]) */
    net_mat *B;  /* B[k] (d_k, n), k = 1..H; B[H] = dL/dZ */
    net_mat *dA; /* dA[k] (d_k, n), k = 1..H-1 (dA_H is dB[H]) */
    net_mat *dB; /* dB[k] (d_k, n), k = 1..H */
    net_mat *V;  /* V[k-1] shaped as W_k: the direction */
    net_mat *HV; /* HV[k-1] shaped as W_k: the product */
};

struct dln_network {
    dln_backend *be;
    dln_shape s;      /* owned copy */
    int n, count;
    int active;       /* members computed: the first `active` (the rest keep their weights) */
    int threads;      /* the backend's threads the members are spread over (1: none) */
    int no_graphs;    /* issue every operation instead of capturing */
    dln_dtype dtype;
    dln_mat X;        /* the input (d_0, n), shared (stride 0) */
    int identity;     /* X is exactly I (d_0 = n; a matrix problem's): the chains copy instead of
                         multiplying by it (the same bits: W I and B I^T are exact) */
    const dln_objective *objective; /* NULL: the square loss */
    dln_objective_state *obj; /* the objective on the backend, with the target */
    net_mat *W, *G, *V, *T;  /* [i] for layer i + 1, (d_{i+1}, d_i); V, T NULL unless asked */
    net_mat *A;       /* [i] (d_i, n), i = 1..H; A[H] holds dL/dZ after a forward */
    dln_mat results;  /* fp64 (2 count, 1): the members' reduced values, then their ||G||^2 */
    dln_mat lr, mu;   /* fp64 (count, 1) */
    int *chunk_rc;    /* [count]: each chunk's status in a threaded step */
    dln_graph *graphs[2];    /* captured steps: unmeasured, measured */
    struct net_hvp *hvp;     /* Hessian-vector product buffers (hvp.c), made on first use */
    struct net_flow *flow;   /* the gradient flow's stages (flow.c), made on first use */
    dln_mat prod[2];  /* product.c: ping-pong (max d_i, d_0) for W_k...W_1, made on first use */
    dln_mat norms;    /* product.c: fp64 (H, 1) squared layer norms, made on first use */
};

/* Member b of a batched operand, and members lo .. as a batched operand starting there. */
dln_mat dln_net_member(const net_mat *m, int b);
/* A set of count + 1 batched operands: entries first..last, each (rows, cols) per member
 * with rows, cols from the shape: weight-shaped (d_{i+1}, d_i) when n is 0, else (d_i, n). */
int dln_net_alloc_set(dln_network *net, net_mat **out, int first, int last, int n, int members);
void dln_net_free_set(dln_backend *be, net_mat *set, int count);

/* Frees the Hessian-vector product buffers; safe when there are none. */
void dln_net_hvp_free(dln_network *net);
/* Frees the gradient flow's buffers; safe when there are none. */
void dln_net_flow_free(dln_network *net);

/* The forward chain of members lo .. lo + n - 1 with weights W (net->W or net->T): A_H =
 * W_H...W_1 X, then the objective's gradient in place, its value into the results when
 * measure is set. */
int dln_net_forward(dln_network *net, const net_mat *W, int lo, int n, int measure);
/* The backward chain after a forward with W: G_i = dL/dW_i, and sum_i ||G_i||^2 into the
 * results when measure is set. Overwrites the activations below A_H. */
int dln_net_backward(dln_network *net, const net_mat *W, int lo, int n, int measure);

#endif
