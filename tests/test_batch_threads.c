/* test_batch_threads.c: a batch spread over host threads (dln_backend_set_threads). On the
 * CPU every member is computed on one thread with the same operations as alone, so a batch
 * on 2, 3 or 8 threads must equal the same batch on one thread bit for bit (summaries,
 * traces, final weights), the members must equal their single runs, and the threads must
 * have done some of the work. Members mix seeds, inits, scales, the sharpness rule and
 * given steps, momentum, early convergence and divergence, and are more than the threads,
 * so the rule's Lanczos work and the batched operations are shared out at many steps.
 * Backends without DLN_CAP_THREADS keep one thread and still compute the batch. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_cases.h"

#define MEMBERS 24

static dln_train_opts member_opts(int b, ts_trace *tr)
{
    static const double lrs[4] = {0.0, 0.0, 1e-3, 0.5}; /* the rule twice, a given step, one diverging */
    dln_train_opts o = opts(lrs[b % 4], 1500 + 500 * (b % 3), b % 5 == 0 ? 1e-3 : 1e-6, DLN_DATA_AUTO);
    o.momentum = b % 6 == 1 ? 0.5 : 0.0;
    o.check_every = 1; /* members share the check schedule */
    o.observer = ts_record, o.observer_ctx = tr;
    return o;
}

static double **member_weights(tr_case *c, int b)
{
    static const dln_init_kind kinds[3] = {DLN_INIT_ORTHOGONAL, DLN_INIT_GAUSSIAN, DLN_INIT_BALANCED};
    double **W = NULL;
    cr_assert_eq(dln_init_weights(&c->s, kinds[b % 3], 0.5 + 0.25 * (b % 4), 100 + (uint64_t)b, &W, &c->err), DLN_OK);
    return W;
}

typedef struct {
    double **W[MEMBERS];
    dln_train_result r[MEMBERS];
    ts_trace tr[MEMBERS];
} batch_out;

static void run_batch(tr_case *c, int threads, batch_out *out, long *work)
{
    dln_train_opts o[MEMBERS];
    memset(out->tr, 0, sizeof out->tr);
    for (int b = 0; b < MEMBERS; b++) out->W[b] = member_weights(c, b), o[b] = member_opts(b, &out->tr[b]);
    cr_assert_eq(dln_backend_set_threads(c->be, threads), DLN_OK, "%s", c->err.msg);
    long before = dln_backend_thread_work(c->be);
    cr_assert_eq(ts_train(c->be, &c->d, &c->sh, &c->s, MEMBERS, out->W, o, out->r, &c->err), DLN_OK, "%s",
                 c->err.msg);
    *work = dln_backend_thread_work(c->be) - before;
}

static void free_out(batch_out *out)
{
    for (int b = 0; b < MEMBERS; b++) dln_weights_free(3, out->W[b]), ts_trace_free(&out->tr[b]);
}

/* Two batches' member b: bit for bit (NaN equal to NaN). */
static void expect_same_member(const batch_out *x, const batch_out *y, const dln_shape *s, int b, const char *what)
{
    const dln_train_result *p = &x->r[b], *q = &y->r[b];
    cr_expect(p->steps == q->steps && p->stop == q->stop && p->lr_changes == q->lr_changes,
              "%s member %d: steps %ld/%ld stop %d/%d lr changes %d/%d", what, b, p->steps, q->steps, (int)p->stop,
              (int)q->stop, p->lr_changes, q->lr_changes);
    double a[5] = {p->loss, p->lr, p->lr_init, p->sharpness, p->grad_norm};
    double e[5] = {q->loss, q->lr, q->lr_init, q->sharpness, q->grad_norm};
    for (int k = 0; k < 5; k++)
        cr_expect(memcmp(&a[k], &e[k], sizeof(double)) == 0 || (isnan(a[k]) && isnan(e[k])),
                  "%s member %d: field %d %.17g vs %.17g", what, b, k, a[k], e[k]);
    cr_expect_eq(x->tr[b].n, y->tr[b].n, "%s member %d: %ld observations vs %ld", what, b, x->tr[b].n, y->tr[b].n);
    for (long k = 0; k < x->tr[b].n && k < y->tr[b].n; k++) {
        const dln_observation *u = &x->tr[b].obs[k], *v = &y->tr[b].obs[k];
        cr_expect(u->step == v->step && u->loss == v->loss && u->lr == v->lr &&
                      (u->sharpness_est == v->sharpness_est || (isnan(u->sharpness_est) && isnan(v->sharpness_est))),
                  "%s member %d observation %ld: step %ld loss %.17g lr %g, vs step %ld loss %.17g lr %g", what, b, k,
                  u->step, u->loss, u->lr, v->step, v->loss, v->lr);
    }
    if (!p->diverged) cr_expect(ts_rel_weights(s, x->W[b], y->W[b]) == 0.0, "%s member %d: final weights", what, b);
}

Test(batch_threads, equals_one_thread_and_the_single_runs)
{
    tr_case c;
    int dims[] = {10, 5, 4, 7};
    tr_case_make(&c, DLN_BACKEND_CPU, 3, dims, 80, 3, 0.2, 0);
    cr_assert(dln_backend_supports(c.be, DLN_CAP_THREADS));
    batch_out *one = calloc(1, sizeof *one);
    long work = 0;
    run_batch(&c, 1, one, &work);
    cr_expect_eq(dln_backend_threads(c.be), 1);
    cr_expect_eq(work, 0, "one thread: %ld items on started threads", work);
    int converged = 0, diverged = 0, reestimated = 0;
    for (int b = 0; b < MEMBERS; b++) {
        converged += one->r[b].converged, diverged += one->r[b].diverged;
        for (long k = 1; k < one->tr[b].n; k++) /* the rule re-estimated lambda during the run */
            if (one->tr[b].obs[k].sharpness_est != one->tr[b].obs[0].sharpness_est) {
                reestimated++;
                break;
            }
        if (b % 5) continue; /* the single runs of a fifth of the members */
        ts_trace ts = {0};
        double **W = member_weights(&c, b);
        dln_train_opts o = member_opts(b, &ts);
        dln_train_result r = train(&c, W, &o);
        batch_out alone;
        memset(&alone, 0, sizeof alone);
        alone.W[b] = W, alone.r[b] = r, alone.tr[b] = ts;
        expect_same_member(one, &alone, &c.s, b, "batch vs alone:");
        dln_weights_free(3, W), ts_trace_free(&ts);
    }
    cr_expect(converged >= 4 && diverged >= 4 && reestimated >= 8,
              "mixed members: %d converged, %d diverged, %d with lambda re-estimated", converged, diverged, reestimated);
    int counts[3] = {2, 3, 8};
    for (int k = 0; k < 3; k++) {
        batch_out *many = calloc(1, sizeof *many);
        run_batch(&c, counts[k], many, &work);
        cr_expect_eq(dln_backend_threads(c.be), counts[k]);
        cr_expect_gt(work, 0, "%d threads: the started threads ran no member work", counts[k]);
        char what[32];
        snprintf(what, sizeof what, "%d threads vs 1:", counts[k]);
        for (int b = 0; b < MEMBERS; b++) expect_same_member(many, one, &c.s, b, what);
        cr_log_info("%d threads: %ld items of member work on started threads", counts[k], work);
        free_out(many), free(many);
    }
    free_out(one), free(one);
    tr_case_free(&c);
}

TestOnBackends(batch_threads, the_setting_is_checked_and_kept_within_the_backend)
{
    tr_case c;
    int dims[] = {4, 3, 2};
    tr_case_make(&c, TS_KIND, 2, dims, 20, 2, 0.1, 0);
    cr_expect_eq(dln_backend_set_threads(c.be, -1), DLN_EINPUT);
    dln_error_clear(&c.err);
    cr_expect_eq(dln_backend_set_threads(c.be, 1025), DLN_EINPUT);
    dln_error_clear(&c.err);
    cr_expect_eq(dln_backend_threads(c.be), 1, "threads after refused settings");
    cr_assert_eq(dln_backend_set_threads(c.be, 0), DLN_OK, "%s", c.err.msg);
    int expect = dln_backend_supports(c.be, DLN_CAP_THREADS) ? 0 : 1;
    if (expect) cr_expect_eq(dln_backend_threads(c.be), 1, "no DLN_CAP_THREADS: one thread");
    else cr_expect_geq(dln_backend_threads(c.be), 1, "one per CPU");
    cr_assert_eq(dln_backend_set_threads(c.be, 4), DLN_OK);
    cr_expect_eq(dln_backend_threads(c.be), expect ? 1 : 4);
    cr_assert_eq(dln_backend_set_threads(c.be, 1), DLN_OK);
    cr_expect_eq(dln_backend_threads(c.be), 1);
    tr_case_free(&c);
}

/* Without the step-size rule (given steps only) the threads' work is the chunks of members'
 * steps alone: they must run some, and change nothing. */
Test(batch_threads, the_steps_themselves_are_spread)
{
    tr_case c;
    int dims[] = {10, 5, 4, 7};
    tr_case_make(&c, DLN_BACKEND_CPU, 3, dims, 80, 3, 0.2, 0);
    enum { N = 16 };
    double **W[2][N];
    dln_train_opts o[N];
    dln_train_result r[2][N];
    long work[2];
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(dln_backend_set_threads(c.be, k ? 2 : 1), DLN_OK, "%s", c.err.msg);
        long before = dln_backend_thread_work(c.be);
        for (int b = 0; b < N; b++) {
            cr_assert_eq(dln_init_weights(&c.s, DLN_INIT_GAUSSIAN, 0.5, 300 + (uint64_t)b, &W[k][b], &c.err), DLN_OK);
            o[b] = opts(1e-3 * (1 + b % 3), 300, 0.0, DLN_DATA_AUTO);
        }
        cr_assert_eq(ts_train(c.be, &c.d, &c.sh, &c.s, N, W[k], o, r[k], &c.err), DLN_OK, "%s", c.err.msg);
        work[k] = dln_backend_thread_work(c.be) - before;
    }
    cr_expect_eq(work[0], 0);
    cr_expect_gt(work[1], 0, "2 threads: the started thread ran none of the chunks");
    for (int b = 0; b < N; b++) {
        cr_expect(r[1][b].steps == r[0][b].steps && r[1][b].loss == r[0][b].loss, "member %d: %ld steps loss %.17g, "
                  "on one thread %ld %.17g", b, r[1][b].steps, r[1][b].loss, r[0][b].steps, r[0][b].loss);
        cr_expect(ts_rel_weights(&c.s, W[1][b], W[0][b]) == 0.0, "member %d: final weights", b);
        dln_weights_free(3, W[0][b]), dln_weights_free(3, W[1][b]);
    }
    tr_case_free(&c);
}

/* A single network on full data with many columns: its long products are cut into pieces
 * on the backend's threads (src/backends/cpu/gemm_cpu.c: columns for the forward and input
 * gradients, fixed chunks of the reduction for the weight gradients). On 1, 2 and 3 threads
 * the run must be the same bits (steps, loss, final weights), with the sharpness rule's
 * Hessian-vector products in it, and the started threads must have computed pieces. */
Test(batch_threads, a_single_runs_long_products_are_spread)
{
    tr_case c;
    int dims[] = {40, 8, 8, 6}; /* 8 x 40 x 3000 multiply-adds: more than one piece */
    tr_case_make(&c, DLN_BACKEND_CPU, 3, dims, 3000, 4, 0.1, 0);
    double **W[3];
    dln_train_result r[3];
    long work[3];
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(dln_backend_set_threads(c.be, k + 1), DLN_OK, "%s", c.err.msg);
        long before = dln_backend_thread_work(c.be);
        W[k] = tr_init(&c, DLN_INIT_GAUSSIAN);
        dln_train_opts o = opts(0.0, 300, 0.0, DLN_DATA_FULL);
        r[k] = train(&c, W[k], &o);
        work[k] = dln_backend_thread_work(c.be) - before;
    }
    cr_expect_eq(work[0], 0);
    cr_expect_gt(work[1], 0, "2 threads: the started thread computed no piece");
    cr_expect_gt(work[2], 0, "3 threads: the started threads computed no piece");
    for (int k = 1; k < 3; k++) {
        cr_expect(r[k].steps == r[0].steps && r[k].loss == r[0].loss, "%d threads: %ld steps loss %.17g, on one %ld "
                  "%.17g (seed %llu)", k + 1, r[k].steps, r[k].loss, r[0].steps, r[0].loss, SEED(&c));
        cr_expect(ts_rel_weights(&c.s, W[k], W[0]) == 0.0, "%d threads: final weights (seed %llu)", k + 1, SEED(&c));
    }
    for (int k = 0; k < 3; k++) dln_weights_free(3, W[k]);
    tr_case_free(&c);
}
