/* threads.h: the backend's host threads (dln_backend_set_threads) for the layers above the
 * backends (internal to the library): a batch (src/model/batch.c) issues its chunks of
 * members' steps on this pool, and the trainer spreads the members' step-size work (the
 * sharpness rule's Lanczos) over it, each thread through its own handle. */
#ifndef DLN_BACKENDS_THREADS_H
#define DLN_BACKENDS_THREADS_H

#include "core/pool.h"
#include "dln/backend.h"

/* NULL when the backend runs no threads (a pool of one, or no DLN_CAP_THREADS). */
dln_pool *dln_backend_pool(dln_backend *be);
/* A handle on the same backend (same context and memory) whose operations record their
 * failures in *err and use no threads: what one of the pool's threads issues its work
 * through, so that its failures never touch the caller's record. Freed by
 * dln_backend_worker_free (the backend itself stays). */
int dln_backend_worker(dln_backend *be, dln_error *err, dln_backend **out);
void dln_backend_worker_free(dln_backend *worker);

#endif
