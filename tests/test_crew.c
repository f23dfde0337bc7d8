/* test_crew.c: the batch trainer's crew (src/trainer/crew.c, internal), which spreads the
 * members' step-size work over the backend's threads. Its contract: every listed member's
 * work runs exactly once (without failures), each worker's network is used by one thread at
 * a time, and on failure the batch reports the error of the lowest failing member, named by
 * its index, at every thread count, even when higher members fail first in time (member 7
 * is made to fail late): every member below it was run. The trainer itself can hardly fail
 * there on valid input (non-finite curvature falls back to the floor), so the failures are
 * planted by the work function, in its own record, as a status alone, or through its worker's
 * backend handle (as network operations fail) on a backend whose own record is not the
 * caller's (the Python package's case): the message must be the same at every thread count
 * and the backend's record untouched. Planted in crew.c: reporting the first worker's failure,
 * or the earliest in time, fails the named-member checks; running one worker on the backend
 * itself loses the message at 1 thread. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_support.h"
#include "trainer/crew.h"

#define MEMBERS 40

typedef struct {
    dln_crew *c;
    atomic_int runs[MEMBERS];
    atomic_int busy[8]; /* [worker]: 1 while a thread works on its network */
    atomic_int shared, unknown_net;
    const int *failing; /* members whose work fails (-1 ends) */
    int record;         /* failures: 0 a message in err, 1 a status only, 2 through the worker's
                           backend handle (as a network operation records them) */
} work_ctx;

static int worker_of(work_ctx *w, dln_network *net)
{
    for (int k = 0; k < w->c->workers; k++)
        if (w->c->net[k] == net) return k;
    return -1;
}

static int work(void *ctx, int member, dln_network *net, dln_error *err)
{
    work_ctx *w = ctx;
    int k = worker_of(w, net);
    if (k < 0) {
        atomic_fetch_add(&w->unknown_net, 1);
        return DLN_OK;
    }
    if (atomic_exchange(&w->busy[k], 1)) atomic_fetch_add(&w->shared, 1);
    atomic_fetch_add(&w->runs[member], 1);
    int rc = DLN_OK;
    for (const int *f = w->failing; f && *f >= 0; f++)
        if (*f == member) {
            if (member == 7) nanosleep(&(struct timespec){0, 3000000L}, NULL); /* the lowest fails last */
            if (w->record == 0) rc = dln_fail(err, DLN_ERUNTIME, "planted failure at %d", member);
            else if (w->record == 1) rc = DLN_ENOMEM;
            else {
                dln_mat m;
                rc = dln_mat_alloc(w->c->be[k], &m, -1, 1, DLN_F64); /* recorded in its handle's record */
            }
        }
    if (!rc) nanosleep(&(struct timespec){0, 100000L}, NULL);
    atomic_store(&w->busy[k], 0);
    return rc;
}

typedef struct {
    dln_error err;    /* the crew's caller's record */
    dln_error be_err; /* the backend's own, apart (as the Python package has it) */
    dln_backend *be;
    dln_shape s;
    double *X, *Y;
} crew_case;

static void case_make(crew_case *t, int threads, dln_crew *c)
{
    memset(t, 0, sizeof *t);
    t->be = ts_cpu(&t->be_err);
    cr_assert(t->be, "%s", t->be_err.msg);
    int dims[] = {4, 3, 2};
    ts_shape(&t->s, 2, dims);
    dln_rng g;
    dln_rng_seed(&g, ts_seed(), 1);
    t->X = ts_randn(&g, 4, 10), t->Y = ts_randn(&g, 2, 10);
    cr_assert_eq(dln_backend_set_threads(t->be, threads), DLN_OK, "%s", t->be_err.msg);
    memset(c, 0, sizeof *c);
    cr_assert_eq(dln_crew_create(t->be, &t->s, 10, threads, DLN_F64, NULL, t->X, t->Y, c, &t->err), DLN_OK, "%s",
                 t->err.msg);
    cr_assert_eq(c->workers, threads);
}

static void case_free(crew_case *t, dln_crew *c)
{
    dln_crew_destroy(c);
    dln_backend_destroy(t->be);
    dln_shape_free(&t->s);
    free(t->X), free(t->Y);
}

/* The members 0, 1, 3, 4, 6, 7, ... (every third left out): list index and member differ. */
static int make_list(int *list)
{
    int n = 0;
    for (int b = 0; b < MEMBERS; b++)
        if (b % 3 != 2) list[n++] = b;
    return n;
}

/* body(t, c, list, n, threads) on a fresh crew of 1, 2, 3 and 8 threads over make_list's members. */
typedef void (*crew_body)(crew_case *t, dln_crew *c, const int *list, int n, int threads);
static void on_each_thread_count(crew_body body)
{
    static const int counts[] = {1, 2, 3, 8};
    for (int k = 0; k < 4; k++) {
        crew_case t;
        dln_crew c;
        case_make(&t, counts[k], &c);
        int list[MEMBERS], n = make_list(list);
        body(&t, &c, list, n, counts[k]);
        case_free(&t, &c);
    }
}

/* A run with no failure: every listed member once, on a network of one thread at a time. */
static work_ctx *run_clean(crew_case *t, dln_crew *c, const int *list, int n)
{
    work_ctx *w = calloc(1, sizeof *w);
    w->c = c;
    dln_error_clear(&t->err);
    cr_assert_eq(dln_crew_run(c, list, n, work, w, &t->err), DLN_OK, "%s", t->err.msg);
    return w;
}

static void runs_once(crew_case *t, dln_crew *c, const int *list, int n, int threads)
{
    for (int rep = 0; rep < 5; rep++) {
        work_ctx *w = run_clean(t, c, list, n);
        for (int b = 0; b < MEMBERS; b++)
            cr_expect_eq(atomic_load(&w->runs[b]), b % 3 != 2, "%d threads: member %d ran %d times", threads, b,
                         atomic_load(&w->runs[b]));
        cr_expect_eq(atomic_load(&w->shared), 0, "%d threads: a network used by two threads at once", threads);
        cr_expect_eq(atomic_load(&w->unknown_net), 0, "a network that is not the crew's");
        free(w);
    }
}

Test(crew, every_listed_member_runs_once_on_a_network_of_its_own) { on_each_thread_count(runs_once); }

static void lowest_failure(crew_case *t, dln_crew *c, const int *list, int n, int threads)
{
    static const int failing[] = {7, 9, 10, 30, -1}; /* all listed (7 % 3, 9 % 3, ... != 2) */
    static const char *const want[3] = {"member 7: planted failure at 7", "member 7: its step-size work failed",
                                        "member 7: alloc: bad shape or dtype (-1 x 1, dtype 0)"};
    static const int code[3] = {DLN_ERUNTIME, DLN_ENOMEM, DLN_ERUNTIME};
    for (int rep = 0; rep < 9; rep++) {
        work_ctx *w = calloc(1, sizeof *w);
        w->c = c, w->failing = failing, w->record = rep % 3;
        dln_error_clear(&t->err);
        int rc = dln_crew_run(c, list, n, work, w, &t->err);
        cr_expect_eq(rc, code[w->record], "%d threads: status %d", threads, rc);
        cr_expect_eq(t->err.code, rc, "%d threads: the record's code %d", threads, t->err.code);
        cr_expect_str_eq(t->err.msg, want[w->record], "%d threads, try %d", threads, rep);
        cr_expect_eq(t->be_err.code, DLN_OK, "%d threads: the backend's own record written: %s", threads,
                     t->be_err.msg);
        for (int b = 0; b < MEMBERS; b++) {
            int ran = atomic_load(&w->runs[b]);
            cr_expect(ran <= 1, "%d threads: member %d ran %d times", threads, b, ran);
            if (b < 7 && b % 3 != 2) cr_expect_eq(ran, 1, "%d threads: member %d below the failure not run", threads, b);
        }
        cr_expect_eq(atomic_load(&w->shared), 0, "%d threads: a network used by two threads at once", threads);
        free(w);
    }
    free(run_clean(t, c, list, n)); /* after a failed call the crew works again, its records cleared */
}

Test(crew, the_lowest_failing_member_is_reported_at_every_thread_count) { on_each_thread_count(lowest_failure); }

/* A crew of several threads needs the backend's pool of that many. */
Test(crew, a_crew_larger_than_the_pool_is_refused)
{
    dln_error err = {0};
    dln_backend *be = ts_cpu(&err);
    cr_assert(be, "%s", err.msg);
    dln_shape s;
    int dims[] = {3, 2};
    ts_shape(&s, 1, dims);
    double X[6] = {1, 2, 3, 4, 5, 6}, Y[4] = {1, -1, 2, 0.5};
    dln_crew c = {0};
    cr_expect_eq(dln_crew_create(be, &s, 2, 4, DLN_F64, NULL, X, Y, &c, &err), DLN_EINPUT);
    cr_expect(ts_says(err.msg, "pool"), "%s", err.msg);
    dln_crew_destroy(&c);
    dln_backend_destroy(be);
    dln_shape_free(&s);
}
