/* dln/batch.h: count networks of one shape trained together on shared data: each GEMM
 * of the step is one batched call over the members, the updates and reductions are
 * batched with per-member step sizes and momenta (held in backend memory, so a captured
 * step follows them without a new capture), and each member is exactly the network it
 * would be alone. A member with step size 0 is frozen: its weights no longer change. */
#ifndef DLN_BATCH_H
#define DLN_BATCH_H

#include "dln/network.h"

typedef struct dln_batch dln_batch;

/* The threads a batch of this shape on n columns uses when the backend has `threads`
 * (dln_backend_set_threads): all of them where every member's GEMM is at most
 * DLN_MEMBER_WORK_MAX multiply-adds (dln/backend.h), else 1. dln_train_batch takes n as
 * the bound the memory estimate uses (m, or min(d_0, m) on the compression), not the
 * data's rank, so that both count the same threads. */
int dln_batch_threads_used(const dln_shape *s, int n, int threads);

/* Backend bytes a batch needs (momentum: the heavy-ball buffers). */
size_t dln_batch_bytes(const dln_shape *s, int n, dln_dtype dtype, int count, int momentum);
int dln_batch_create(dln_backend *be, const dln_shape *s, int n, dln_dtype dtype, int count, int momentum,
                     dln_batch **out);
void dln_batch_destroy(dln_batch *b);

/* The shared data: X (d_0, n), Y (d_H, n), host fp64. */
int dln_batch_set_data(dln_batch *b, const double *X, const double *Y);
/* One member's weights (host, as dln_network_set_weights); setting zeroes its momentum. */
int dln_batch_set_weights(dln_batch *b, int member, double *const *W);
int dln_batch_get_weights(dln_batch *b, int member, double **W);
/* Every member's step size and momentum (count values each; mu may be NULL: 0). */
int dln_batch_set_rates(dln_batch *b, const double *lr, const double *mu);
/* Member `from`'s weights, momentum and gradient copied into slot `to` (what `to` held is
 * lost): the running members can be kept in the first slots. */
int dln_batch_move(dln_batch *b, int from, int to);
/* Only members 0 .. n-1 are computed by dln_batch_evaluate, dln_batch_step and read by
 * dln_batch_read (1 <= n <= count; default count); the others keep their weights. */
int dln_batch_set_active(dln_batch *b, int n);
/* Spreads the members over the backend's threads (dln_backend_set_threads; DLN_CAP_THREADS)
 * when threads > 1, as dln_batch_threads_used advises (default 1: one thread). */
int dln_batch_set_threads(dln_batch *b, int threads);

/* Forward and backward of every member at its weights, both squared norms reduced. */
int dln_batch_evaluate(dln_batch *b);
/* One update of every member with its rates, then forward and backward (dln_network_step). */
int dln_batch_step(dln_batch *b, int measure);
/* Waits for and reads every member's squared norms (count entries; those of members past
 * the active ones are stale). */
int dln_batch_read(dln_batch *b, dln_network_stats *st);

#endif
