/* dln/pool.h: a fork-join pool of host threads (the backend's threads for a batch's
 * members, dln_backend_set_threads; a program may make its own). dln_pool_for
 * runs fn on every index of [0, n) once, spread over the pool's threads and the caller,
 * and returns when all are done. Which thread runs an index is not fixed (indices are
 * taken in order from a shared counter), so fn must give the same result whichever
 * thread runs it: the library uses it only for work whose items are independent (the
 * members of a batch). A call made while the pool is running another job (from inside fn,
 * or from another host thread) runs its indices on the calling thread, in order, with
 * worker -1: the caller's own scratch (its worker 0) may be used there, no other. */
#ifndef DLN_POOL_H
#define DLN_POOL_H

typedef struct dln_pool dln_pool;

/* fn(ctx, i, worker): item i on worker 0 .. threads-1 (0 is the calling thread); each
 * worker index is used by one thread at a time, so per-worker scratch needs no lock. */
typedef void (*dln_pool_fn)(void *ctx, int i, int worker);

/* threads >= 1 (1: no threads started; dln_pool_for runs on the caller). 0 on success,
 * else an errno-style code (no threads left running). */
int dln_pool_create(int threads, dln_pool **out);
void dln_pool_destroy(dln_pool *p);
int dln_pool_threads(const dln_pool *p);
void dln_pool_for(dln_pool *p, int n, dln_pool_fn fn, void *ctx);
/* CPUs this process may run on (its affinity mask; at least 1). */
int dln_pool_cpus_available(void);
/* Items the started threads (not the caller) have run since the pool was created: a test
 * can see that work was shared. */
long dln_pool_items_on_workers(const dln_pool *p);

#endif
