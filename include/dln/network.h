/* dln/network.h: a deep linear network held in backend memory, with the data it is
 * fitted to, and the one training step every caller shares (the trainer, the step
 * benchmark, the tests). Forward A_i = W_i A_{i-1} (A_0 = X), residual E = A_H - Y,
 * backward G_i = B_i A_{i-1}^T with B_H = E, B_{i-1} = W_i^T B_i: 3H - 1 GEMMs. The
 * network owns its weights, gradients, optional momentum and trial buffers, activations
 * and its result column: the squared norms of the residual and of the gradient, reduced
 * on the backend and read only when asked for. */
#ifndef DLN_NETWORK_H
#define DLN_NETWORK_H

#include "dln/model.h"
#include "dln/ops.h"

typedef struct dln_network dln_network;

/* Buffers beyond weights, gradients and activations. */
enum { DLN_NET_MOMENTUM = 1, DLN_NET_TRIAL = 2 };

/* The squared norms at the weights of the last evaluation or step that measured them. */
typedef struct {
    double residual_sumsq; /* ||W_H...W_1 X - Y||^2 = 2 x loss on these data */
    double grad_sumsq;     /* sum_i ||G_i||^2 */
} dln_network_stats;

/* Backend bytes a network of this shape on n data columns needs (buffers: DLN_NET_*). */
size_t dln_network_bytes(const dln_shape *s, int n, dln_dtype dtype, unsigned buffers);
/* The network (shape copied) on n data columns; every buffer zero until set. */
int dln_network_create(dln_backend *be, const dln_shape *s, int n, dln_dtype dtype, unsigned buffers,
                       dln_network **out);
void dln_network_destroy(dln_network *net);

/* X (d_0, n) and Y (d_H, n), host fp64 with leading dims d_0 and d_H. */
int dln_network_set_data(dln_network *net, const double *X, const double *Y);
/* W[i] (d_{i+1}, d_i) host fp64; set zeroes the momentum. */
int dln_network_set_weights(dln_network *net, double *const *W);
int dln_network_get_weights(dln_network *net, double **W);
/* The gradients of the last evaluation or step, shaped as the weights. */
int dln_network_get_gradients(dln_network *net, double **G);
/* The residual E = W_H...W_1 X - Y (d_H, n) of the last evaluation, step or trial. */
int dln_network_get_residual(dln_network *net, double *E);

/* Whether steps are captured into graphs where the backend has them (default on); off,
 * every operation is issued each time (for comparisons). */
int dln_network_use_graphs(dln_network *net, int on);

/* Forward and backward at the current weights, with both squared norms reduced. */
int dln_network_evaluate(dln_network *net);
/* One update from the gradients of the current weights, W -= lr G (momentum mu > 0,
 * with the DLN_NET_MOMENTUM buffers: V = mu V + G, W -= lr V), then the forward and
 * backward at the new weights; the squared norms are reduced only when measure is set.
 * Where the backend has graphs the sequence is captured once per (lr, mu, measure) and
 * replayed. Work may still be queued on return. */
int dln_network_step(dln_network *net, double lr, double mu, int measure);
/* Trial weights T = W - lr G (DLN_NET_TRIAL buffers) and the residual's squared norm
 * at T, read back (for a line search); W and G are unchanged. */
int dln_network_try(dln_network *net, double lr, double *residual_sumsq);
/* Makes the last trial the current weights and runs the backward there (measured). */
int dln_network_accept(dln_network *net);
/* Waits for and reads the squared norms. */
int dln_network_read(dln_network *net, dln_network_stats *st);

/* The end-to-end product R = W_H...W_1 (d_H, d_0) at the current weights, formed on the
 * backend (H - 1 GEMMs), into host R (ld = d_H). */
int dln_network_product(dln_network *net, double *R);
/* ||W_i||_F for every layer (H values), reduced on the backend. */
int dln_network_layer_norms(dln_network *net, double *norms);

/* The exact Hessian-vector product of the loss 1/2 ||W_H...W_1 X - Y||^2 at the current
 * weights: HV = H V for a direction V shaped as the weights (host fp64 in and out), by a
 * forward and a backward pass of the chain's directional derivative (about 8H GEMMs;
 * buffers for every activation and its tangent are made on first use and kept). */
int dln_network_hvp(dln_network *net, double *const *V, double **HV);

#endif
