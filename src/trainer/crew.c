/* crew.c: a batch's per-member work over the backend's threads, one network and one error
 * record per thread, the lowest failing member reported (crew.h). */
#include <limits.h>
#include <stdlib.h>

#include "trainer/crew.h"

int dln_crew_create(dln_backend *be, const dln_shape *s, int n, int workers, dln_dtype dtype,
                    const dln_objective *obj, const double *X, const double *Y, dln_crew *c, dln_error *err)
{
    c->workers = workers;
    c->pool = workers > 1 ? dln_backend_pool(be) : NULL;
    c->be = calloc((size_t)workers, sizeof *c->be);
    c->net = calloc((size_t)workers, sizeof *c->net);
    c->err = calloc((size_t)workers, sizeof *c->err);
    c->rc = calloc((size_t)workers, sizeof *c->rc);
    c->first = malloc(sizeof(int) * (size_t)workers);
    if (!c->be || !c->net || !c->err || !c->rc || !c->first)
        return dln_fail(err, DLN_ENOMEM, "out of host memory for a batch's threads");
    if (workers > 1 && (!c->pool || dln_pool_threads(c->pool) != workers))
        return dln_fail(err, DLN_EINPUT, "a crew of %d needs the backend's pool of as many threads", workers);
    for (int w = 0; w < workers; w++) { /* one worker too: its failures in its own record, as with many */
        DLN_TRY(dln_backend_worker(be, &c->err[w], &c->be[w]));
        dln_network_config nc = {.n = n, .count = 1, .dtype = dtype, .objective = obj};
        int rc = dln_network_create(c->be[w], s, &nc, &c->net[w]);
        if (!rc) rc = dln_network_set_data(c->net[w], X, Y);
        if (rc) return dln_fail(err, rc, "%s", c->err[w].msg[0] ? c->err[w].msg : "a batch thread's network failed");
    }
    return DLN_OK;
}

void dln_crew_destroy(dln_crew *c)
{
    for (int w = 0; c->net && w < c->workers; w++) dln_network_destroy(c->net[w]);
    for (int w = 0; c->be && w < c->workers; w++) dln_backend_worker_free(c->be[w]);
    free(c->be), free(c->net), free(c->err), free(c->rc), free(c->first);
    c->be = NULL, c->net = NULL, c->err = NULL, c->rc = NULL, c->first = NULL;
}

typedef struct {
    dln_crew *c;
    const int *list;
    dln_crew_fn fn;
    void *ctx;
} crew_task;

static void crew_member(void *ctx, int i, int worker)
{
    const crew_task *t = ctx;
    dln_crew *c = t->c;
    if (worker < 0) worker = 0; /* the pool was busy: every item runs here, on the caller's own worker */
    if (i > atomic_load_explicit(&c->fail_at, memory_order_relaxed)) return; /* after a failure: not needed */
    int rc = t->fn(t->ctx, t->list[i], c->net[worker], &c->err[worker]);
    if (!rc) return;
    if (c->first[worker] == INT_MAX) /* a worker takes indices in increasing order: its first failure is its lowest */
        c->first[worker] = i, c->rc[worker] = rc;
    for (int at = atomic_load(&c->fail_at); i < at && !atomic_compare_exchange_weak(&c->fail_at, &at, i);)
        ;
}

int dln_crew_run(dln_crew *c, const int *list, int n, dln_crew_fn fn, void *ctx, dln_error *err)
{
    crew_task t = {c, list, fn, ctx};
    atomic_store(&c->fail_at, INT_MAX);
    for (int w = 0; w < c->workers; w++) c->first[w] = INT_MAX, c->rc[w] = DLN_OK, dln_error_clear(&c->err[w]);
    dln_pool_for(c->pool, n, crew_member, &t);
    int lowest = -1;
    for (int w = 0; w < c->workers; w++)
        if (c->first[w] != INT_MAX && (lowest < 0 || c->first[w] < c->first[lowest])) lowest = w;
    if (lowest < 0) return DLN_OK;
    int member = list[c->first[lowest]];
    const dln_error *e = &c->err[lowest];
    return dln_fail(err, e->code ? e->code : c->rc[lowest], "member %d: %s", member,
                    e->msg[0] ? e->msg : "its step-size work failed");
}
