/* dln/network.h: `count` deep linear networks of one shape (its members) held in backend
 * memory with the data they are fitted to, and the one training step every caller shares
 * (the trainer, the benchmarks, the tests): a single network is a network of one member.
 * Forward A_i = W_i A_{i-1} (A_0 = X, shared by the members), the objective's gradient
 * B_H = dL/dZ at Z = A_H (the residual A_H - Y for the square loss), backward
 * G_i = B_i A_{i-1}^T, B_{i-1} = W_i^T B_i: 3H - 1 GEMMs, each one batched call over the
 * members. Every layer's weights, gradients, momenta and activations are one allocation of
 * the members side by side; each member's step size and momentum live in backend memory
 * (so a captured step follows new values without a new capture); the loss and the
 * gradient's squared norm are reduced per member on the backend and read only when asked.
 * Each member is exactly the network it would be alone: the same operations on the same
 * shapes, in the same order. A member with step size 0 is frozen. */
#ifndef DLN_NETWORK_H
#define DLN_NETWORK_H

#include "dln/model.h"
#include "dln/objective.h"
#include "dln/ops.h"

typedef struct dln_network dln_network;

/* Buffers beyond weights, gradients and activations. */
enum { DLN_NET_MOMENTUM = 1, DLN_NET_TRIAL = 2 };

typedef struct {
    int n;                          /* columns of the data */
    int count;                      /* members (0: 1) */
    dln_dtype dtype;
    unsigned buffers;               /* DLN_NET_*: momentum (heavy ball), trial weights (line search) */
    const dln_objective *objective; /* NULL: the square loss */
} dln_network_config;

/* A member's loss and squared gradient norm at the weights of the last evaluation or step
 * that measured them. */
typedef struct {
    double loss;       /* the objective on this network's data (the square loss: 1/2 ||W_H...W_1 X - Y||^2) */
    double grad_sumsq; /* sum_i ||G_i||^2 */
} dln_network_stats;

/* The threads a network of this shape on n columns uses when the backend has `threads`
 * (dln_backend_set_threads): all of them where every member's GEMM is at most
 * DLN_MEMBER_WORK_MAX multiply-adds (dln/backend.h), else 1. */
int dln_network_threads_used(const dln_shape *s, int n, int threads);
/* Backend bytes a network of this shape and configuration needs. */
size_t dln_network_bytes(const dln_shape *s, const dln_network_config *c);
/* The network (shape copied); every buffer zero until set. */
int dln_network_create(dln_backend *be, const dln_shape *s, const dln_network_config *c, dln_network **out);
void dln_network_destroy(dln_network *net);
int dln_network_count(const dln_network *net);
/* Its shape (owned by the network). */
const dln_shape *dln_network_shape(const dln_network *net);

/* The shared data: X (d_0, n) and Y (d_H, n), host fp64 with leading dims d_0 and d_H. */
int dln_network_set_data(dln_network *net, const double *X, const double *Y);
/* A member's weights W[i] (d_{i+1}, d_i), host fp64; setting zeroes its momentum. */
int dln_network_set_weights(dln_network *net, int member, double *const *W);
int dln_network_get_weights(dln_network *net, int member, double **W);
/* A member's gradients of the last evaluation or step, shaped as the weights. */
int dln_network_get_gradients(dln_network *net, int member, double **G);
/* A member's dL/dZ (d_H, n) of the last evaluation, step or trial: the residual
 * W_H...W_1 X - Y for the square loss. */
int dln_network_get_output_gradient(dln_network *net, int member, double *E);
/* Every member's step size and momentum (count values each; mu may be NULL: 0; a nonzero
 * momentum needs DLN_NET_MOMENTUM). */
int dln_network_set_rates(dln_network *net, const double *lr, const double *mu);
/* Member `from`'s weights, momentum and gradient copied into slot `to` (what `to` held is
 * lost): the running members can be kept in the first slots. */
int dln_network_move(dln_network *net, int from, int to);
/* Only members 0 .. n-1 are computed by evaluate and step and read by read (1 <= n <=
 * count; default count); the others keep their weights. */
int dln_network_set_active(dln_network *net, int n);
/* Spreads the members over the backend's threads (dln_backend_set_threads; DLN_CAP_THREADS)
 * when threads > 1, as dln_network_threads_used advises (default 1: one thread). */
int dln_network_set_threads(dln_network *net, int threads);
/* Whether steps are captured into graphs where the backend has them (default on); off,
 * every operation is issued each time (for comparisons). */
int dln_network_use_graphs(dln_network *net, int on);

/* Forward and backward of every active member at its weights, both reductions measured. */
int dln_network_evaluate(dln_network *net);
/* One update of every active member from the gradients of its current weights,
 * W -= lr G (momentum mu > 0: V = mu V + G, W -= lr V), then the forward and backward at the
 * new weights; the reductions are measured only when measure is set. Where the backend has
 * graphs the sequence is captured once per (active members, measure) and replayed. Work may
 * still be queued on return. */
int dln_network_step(dln_network *net, int measure);
/* Waits for and reads every member's loss and gradient norm (count entries; those of
 * members past the active ones are stale). */
int dln_network_read(dln_network *net, dln_network_stats *st);

/* The line search's trial (a network of one member with DLN_NET_TRIAL): T = W - lr G and
 * the loss at T, read back; W and G are unchanged. accept makes the last trial the current
 * weights and runs the backward there (measured). */
int dln_network_try(dln_network *net, double lr, double *loss);
int dln_network_accept(dln_network *net);

/* The gradient flow dW/dt = -grad L(W) (src/model/flow.c: Dormand-Prince 5(4), docs/maths.md
 * section 10), for the active members at once, each with its own step: begin evaluates the
 * gradient at the current weights (measured; buffers of nine weight sets per member made on
 * first use); try takes a step h[b] from every active member's weights (h[b] = 0: it stays),
 * leaves the fifth-order point as the weights (its loss and ||G||^2 in the results) and gives
 * each member's squared norms of the error estimate, of the start and of the point reached;
 * settle keeps the point of the members accepted (accept[b] != 0) and returns the others to
 * their start. */
int dln_network_flow_begin(dln_network *net);
int dln_network_flow_try(dln_network *net, const double *h, double *err_sq, double *w0_sq, double *w1_sq);
int dln_network_flow_settle(dln_network *net, const int *accept);

/* A member's end-to-end product R = W_H...W_1 (d_H, d_0), formed on the backend (H - 1
 * GEMMs), into host R (ld = d_H). */
int dln_network_product(dln_network *net, int member, double *R);
/* A member's ||W_i||_F for every layer (H values), reduced on the backend. */
int dln_network_layer_norms(dln_network *net, int member, double *norms);

/* The exact Hessian-vector product of a member's loss at its current weights: HV = H V
 * for a direction V shaped as the weights (host fp64 in and out), by a forward and a
 * backward pass of the chain's directional derivative (about 8H GEMMs; buffers for every
 * activation and its tangent are made on first use and kept). */
int dln_network_hvp(dln_network *net, int member, double *const *V, double **HV);

#endif
