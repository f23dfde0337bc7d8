/* crew.h: a batch's per-member work on networks of one member, spread over the backend's
 * threads (internal to src/trainer/). A crew holds one network per thread on the batch's data, each
 * made through a handle of its own (dln_backend_worker) so that everything a thread issues,
 * the products' buffers made on first use included, records its failures in the thread's own
 * error record (one thread too: the caller's record need not be the backend's, which is left
 * as it was). dln_crew_run hands the members of a list to the threads, each member's work
 * done by one thread as it would be alone; on failure it reports the lowest failing member,
 * so the outcome does not depend on the thread count. The batch trainer runs the sharpness
 * rule's Lanczos work (start, re-estimates, final sharpness) on it. */
#ifndef DLN_TRAINER_CREW_H
#define DLN_TRAINER_CREW_H

#include <stdatomic.h>

#include "dln/pool.h"
#include "dln/network.h"

typedef struct {
    dln_pool *pool;    /* NULL with one worker: the work runs on the caller */
    int workers;
    dln_backend **be;  /* [worker]: its handle on the batch's backend (dln_backend_worker), one worker too */
    dln_network **net; /* [worker]: its network, on the data the crew was made with (NULL: no crew made) */
    dln_error *err;    /* [worker] */
    int *rc;           /* [worker]: the status of its first failure */
    int *first;        /* [worker]: the list index whose failure err holds (INT_MAX: none) */
    atomic_int fail_at; /* the lowest list index that failed (INT_MAX: none) */
} dln_crew;

/* member's work on net (a worker's network: its member 0), failures recorded in err. */
typedef int (*dln_crew_fn)(void *ctx, int member, dln_network *net, dln_error *err);

/* workers networks of one member, shape s, on n columns of X (dims[0], n) and Y (dims[H], n)
 * with objective obj (NULL: the square loss); workers >= 2 uses the backend's pool, whose
 * threads must number workers. On failure the crew is still to be destroyed. */
int dln_crew_create(dln_backend *be, const dln_shape *s, int n, int workers, dln_dtype dtype,
                    const dln_objective *obj, const double *X, const double *Y, dln_crew *c, dln_error *err);
/* Safe on a zeroed crew and on one whose creation failed. */
void dln_crew_destroy(dln_crew *c);
/* fn(ctx, list[i], ...) for i = 0 .. n-1 (list: distinct members, in increasing order), over
 * the workers. A member above a failed one may be skipped; every member below the lowest
 * failing one is run. On failure: that member's status, and its error named by it
 * ("member 7: ...") in err, the same for every thread count. */
int dln_crew_run(dln_crew *c, const int *list, int n, dln_crew_fn fn, void *ctx, dln_error *err);

#endif
