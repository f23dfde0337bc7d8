/* pool.c: the fork-join pool (pool.h). threads - 1 started threads wait for a new
 * generation of work: they spin for a short while after each job (a batch issues its
 * operations back to back, and waking a sleeping thread costs tens of microseconds),
 * then sleep on a condition variable. The caller takes part as worker 0 and waits for
 * the others to finish before returning, so the pool holds one job at a time. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "dln/pool.h"

#define SPINS 20000 /* polls of the generation before sleeping (about 50 us) */

struct dln_pool {
    int threads;
    pthread_t *tid;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    /* the job of the current generation, written before the generation is raised */
    dln_pool_fn fn;
    void *ctx;
    int n;
    atomic_int next;      /* the next index to take */
    atomic_int finished;  /* started threads done with this generation */
    atomic_uint generation;
    atomic_int running;   /* a dln_pool_for is in progress */
    atomic_int stop;
    atomic_long on_workers;
};

typedef struct {
    dln_pool *p;
    int worker;
} worker_arg;

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long take_items(dln_pool *p, int worker)
{
    long done = 0;
    for (int i; (i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed)) < p->n; done++)
        p->fn(p->ctx, i, worker);
    return done;
}

static void *worker_main(void *argp)
{
    worker_arg a = *(worker_arg *)argp;
    free(argp);
    dln_pool *p = a.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_acquire)) {
            if (++spins < SPINS) {
                relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load_explicit(&p->generation, memory_order_acquire) == seen &&
                   !atomic_load_explicit(&p->stop, memory_order_acquire))
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        seen = g;
        long done = take_items(p, a.worker);
        atomic_fetch_add_explicit(&p->on_workers, done, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->finished, 1, memory_order_release);
    }
}

int dln_pool_create(int threads, dln_pool **out)
{
    *out = NULL;
    if (threads < 1) return EINVAL;
    dln_pool *p = calloc(1, sizeof *p);
    if (!p) return ENOMEM;
    p->threads = 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->tid = threads > 1 ? calloc((size_t)threads - 1, sizeof(pthread_t)) : NULL;
    if (threads > 1 && !p->tid) {
        dln_pool_destroy(p);
        return ENOMEM;
    }
    for (int w = 1; w < threads; w++) {
        worker_arg *a = malloc(sizeof *a);
        int rc = a ? 0 : ENOMEM;
        if (a) *a = (worker_arg){p, w};
        if (!rc) rc = pthread_create(&p->tid[w - 1], NULL, worker_main, a);
        if (rc) {
            free(a);
            dln_pool_destroy(p); /* joins the threads started so far */
            return rc;
        }
        p->threads = w + 1;
    }
    *out = p;
    return 0;
}

void dln_pool_destroy(dln_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int w = 1; w < p->threads; w++) pthread_join(p->tid[w - 1], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->tid);
    free(p);
}

int dln_pool_cpus_available(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int dln_pool_threads(const dln_pool *p) { return p ? p->threads : 1; }

long dln_pool_items_on_workers(const dln_pool *p)
{
    return p ? atomic_load_explicit(&((dln_pool *)p)->on_workers, memory_order_relaxed) : 0;
}

void dln_pool_for(dln_pool *p, int n, dln_pool_fn fn, void *ctx)
{
    int idle = 0;
    if (!p || p->threads == 1) {
        for (int i = 0; i < n; i++) fn(ctx, i, 0);
        return;
    }
    if (!atomic_compare_exchange_strong_explicit(&p->running, &idle, 1, memory_order_acq_rel, memory_order_relaxed)) {
        for (int i = 0; i < n; i++) fn(ctx, i, -1); /* called from inside a job */
        return;
    }
    if (n <= 1) {
        if (n == 1) fn(ctx, 0, 0);
        atomic_store_explicit(&p->running, 0, memory_order_release);
        return;
    }
    p->fn = fn, p->ctx = ctx, p->n = n;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    take_items(p, 0);
    for (int spins = 0; atomic_load_explicit(&p->finished, memory_order_acquire) < p->threads - 1;)
        if (++spins < SPINS) relax();
        else sched_yield();
    atomic_store_explicit(&p->running, 0, memory_order_release);
}
