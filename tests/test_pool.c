/* test_pool.c: the fork-join pool under the batch's threads (src/core/pool.c, internal):
 * every index runs exactly once per call, over many calls in a row, for counts around the
 * thread count; per-worker indices stay in range and are never shared by two threads at
 * once; a call from inside a job runs inline (worker -1); the started threads take work. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "dln/pool.h"

typedef struct {
    int threads;
    atomic_int *hits;      /* [index] */
    atomic_int *busy;      /* [worker]: 1 while a thread runs an item as that worker */
    atomic_int bad_worker, shared_worker, nested_bad;
    dln_pool *pool;
    int nested;            /* run an inner dln_pool_for from each item */
    int sleep_us;
} job;

static void inner(void *ctx, int i, int worker)
{
    job *j = ctx;
    (void)i;
    if (worker != -1) atomic_fetch_add(&j->nested_bad, 1);
}

static void item(void *ctx, int i, int worker)
{
    job *j = ctx;
    if (worker < 0 || worker >= j->threads) {
        atomic_fetch_add(&j->bad_worker, 1);
        return;
    }
    if (atomic_exchange(&j->busy[worker], 1)) atomic_fetch_add(&j->shared_worker, 1);
    atomic_fetch_add(&j->hits[i], 1);
    if (j->nested) dln_pool_for(j->pool, 3, inner, j);
    if (j->sleep_us) nanosleep(&(struct timespec){0, 1000L * j->sleep_us}, NULL);
    atomic_store(&j->busy[worker], 0);
}

static void run(int threads, int n, int calls, int nested)
{
    job j = {.threads = threads, .nested = nested};
    cr_assert_eq(dln_pool_create(threads, &j.pool), 0);
    cr_assert_eq(dln_pool_threads(j.pool), threads);
    j.hits = calloc((size_t)(n ? n : 1), sizeof *j.hits);
    j.busy = calloc((size_t)threads, sizeof *j.busy);
    for (int k = 0; k < calls; k++) {
        for (int i = 0; i < n; i++) atomic_store(&j.hits[i], 0);
        dln_pool_for(j.pool, n, item, &j);
        for (int i = 0; i < n; i++)
            cr_assert_eq(atomic_load(&j.hits[i]), 1, "threads %d n %d call %d: index %d ran %d times", threads, n, k,
                         i, atomic_load(&j.hits[i]));
    }
    cr_expect_eq(atomic_load(&j.bad_worker), 0, "worker index out of range");
    cr_expect_eq(atomic_load(&j.shared_worker), 0, "a worker index used by two threads at once");
    cr_expect_eq(atomic_load(&j.nested_bad), 0, "a nested call ran with a worker index");
    dln_pool_destroy(j.pool);
    free(j.hits), free(j.busy);
}

Test(pool, every_index_once_per_call)
{
    int threads[] = {1, 2, 3, 8}, ns[] = {0, 1, 2, 3, 7, 64, 1000};
    for (int t = 0; t < 4; t++)
        for (int k = 0; k < 7; k++) run(threads[t], ns[k], 50, 0);
}

Test(pool, a_call_from_inside_a_job_runs_inline)
{
    run(3, 40, 20, 1);
}

/* Item 0 waits (up to 10 s, for a loaded machine) until another thread has started an
 * item: the caller, which takes an item first, cannot finish the job alone. */
static atomic_int started;

static void waits_for_a_second_thread(void *ctx, int i, int worker)
{
    (void)ctx, (void)worker;
    atomic_fetch_add(&started, 1);
    for (int k = 0; i == 0 && k < 100000 && atomic_load(&started) < 2; k++)
        nanosleep(&(struct timespec){0, 100000}, NULL);
}

Test(pool, the_started_threads_take_work)
{
    dln_pool *p = NULL;
    cr_assert_eq(dln_pool_create(2, &p), 0);
    dln_pool_for(p, 2, waits_for_a_second_thread, NULL);
    cr_expect_eq(atomic_load(&started), 2);
    cr_expect_eq(dln_pool_items_on_workers(p), 1, "the started thread ran %ld of the 2 items (1 expected)",
                 dln_pool_items_on_workers(p));
    dln_pool_destroy(p);
    job j = {.threads = 2, .sleep_us = 200};
    cr_assert_eq(dln_pool_create(2, &j.pool), 0);
    j.hits = calloc(64, sizeof *j.hits);
    j.busy = calloc(2, sizeof *j.busy);
    dln_pool_for(j.pool, 64, item, &j);
    cr_expect_geq(dln_pool_cpus_available(), 1);
    cr_expect_neq(dln_pool_create(0, &(dln_pool *){NULL}), 0, "0 threads refused");
    dln_pool_destroy(j.pool);
    free(j.hits), free(j.busy);
}
