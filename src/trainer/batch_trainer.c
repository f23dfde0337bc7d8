/* batch_trainer.c: count runs trained together (dln_train_batch): one dln_batch on the
 * shared data, each member with its own weights, step size (given or automatic),
 * momentum, tolerance, step limit and observer, and the same checks, stopping rules and
 * verdict as it would have alone (run.c). A stopped member's weights are read out at its
 * stopping step and its slot is taken by the last running member (dln_batch_move), so the
 * batch computes the running members only; it ends when every member has stopped.
 * The members share the data mode, dtype and check schedule; the line search and the
 * observables are for single runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/threads.h"
#include "trainer/crew.h"
#include "dln/clock.h"
#include "trainer/trainer_internal.h"

/* What every member must share with the first. */
static int check_batch(int count, const dln_train_opts *o, const dln_run *r, dln_error *err)
{
    for (int b = 0; b < count; b++) {
        if (o[b].line_search || o[b].observe)
            return dln_fail(err, DLN_EINPUT, "member %d: the line search and the observables are for single runs", b);
        if (o[b].data_mode != o[0].data_mode || o[b].dtype != o[0].dtype || r[b].check_every != r[0].check_every ||
            o[b].observe_every != o[0].observe_every)
            return dln_fail(err, DLN_EINPUT, "member %d: the members of a batch share the data mode, precision and "
                            "check schedule", b);
    }
    return DLN_OK;
}

/* A member's sharpness work runs on a single network holding its weights (copied from the
 * batch into W[b], the member's host weights), so its Hessian-vector products are those of
 * its single run; with the backend's threads the members due for this work are spread over
 * a crew (crew.h), one network per thread. */
enum { START, TRACK, FINAL };

typedef struct {
    dln_run *r;
    double ***W;
    int phase;           /* START, TRACK or FINAL */
    long t;              /* TRACK: the step */
    const long *end;     /* FINAL: [member] its last step */
    const int *rose;     /* TRACK: [member] the gap more than doubled */
    const double *floor; /* START: the rule's floor, shared */
    double *lr;          /* [member] its step size */
} crew_job;

static int member_work(void *ctx, int b, dln_network *net, dln_error *err)
{
    const crew_job *j = ctx;
    dln_run *r = &j->r[b];
    if (j->phase == START) {
        DLN_TRY(dln_network_set_weights(net, j->W[b]));
        DLN_TRY(dln_run_start(r, net, j->W[b], j->floor, err));
        j->lr[b] = r->res->lr;
        return DLN_OK;
    }
    if (j->phase == FINAL) { /* the final weights' lambda_max */
        DLN_TRY(dln_network_set_weights(net, j->W[b]));
        return dln_tracker_final(&r->tracker, net, j->end[b], err);
    }
    if (dln_tracker_estimates(&r->tracker, j->t, j->rose[b])) DLN_TRY(dln_network_set_weights(net, j->W[b]));
    return dln_tracker_step(&r->tracker, net, j->t, j->rose[b], &j->lr[b], err);
}

/* Where the members are: the running ones fill slots 0 .. active-1 of the batch, so that
 * a stopped member costs nothing more. */
typedef struct {
    int *slot;   /* [member]: its slot, -1 once stopped */
    int *who;    /* [slot]: the member there */
    int active;  /* running members */
    double *lr, *mu; /* [slot]: rates in slot order, for dln_batch_set_rates (0 past active) */
    int computed;    /* slots the batch computes (dln_batch_set_active) */
    int graphs;      /* the backend captures steps: a new count means a new capture, so the
                        count is lowered only once a quarter of the computed slots is idle */
} slots;

/* Member b stopped: its final weights to W (host), the last running member moved into its
 * slot (its step size 0 from the next upload), fewer members computed. */
static int retire(dln_batch *bt, slots *sl, int b, double **W)
{
    int s = sl->slot[b], last = sl->active - 1;
    DLN_TRY(dln_batch_get_weights(bt, s, W));
    if (s != last) {
        DLN_TRY(dln_batch_move(bt, last, s));
        sl->who[s] = sl->who[last];
        sl->slot[sl->who[s]] = s;
    }
    sl->slot[b] = -1;
    sl->active--;
    if (sl->active == 0 || (sl->graphs && 4 * sl->active > 3 * sl->computed)) return DLN_OK;
    sl->computed = sl->active;
    return dln_batch_set_active(bt, sl->active);
}

static int upload_rates(dln_batch *bt, slots *sl, const double *rate, const double *mu, int count)
{
    for (int s = 0; s < count; s++) {
        int b = s < sl->active ? sl->who[s] : -1;
        sl->lr[s] = b >= 0 ? rate[b] : 0.0;
        sl->mu[s] = b >= 0 && mu ? mu[b] : 0.0;
    }
    return dln_batch_set_rates(bt, sl->lr, mu ? sl->mu : NULL);
}

/* The loop: every member checked at its own checked steps, its sharpness tracked, one
 * batched update of the running members. W[b] gets member b's final weights. */
static int batch_loop(dln_batch *bt, dln_run *r, double *lr, const double *mu, int count, dln_crew *c,
                      double ***W, int graphs, dln_error *err)
{
    dln_network_stats *st = malloc(sizeof(dln_network_stats) * (size_t)count),
                      *stm = malloc(sizeof(dln_network_stats) * (size_t)count);
    double *rate = malloc(sizeof(double) * (size_t)count), t0 = dln_clock_seconds();
    slots sl = {malloc(sizeof(int) * (size_t)count), malloc(sizeof(int) * (size_t)count), count,
                malloc(sizeof(double) * (size_t)count), malloc(sizeof(double) * (size_t)count), count, graphs};
    int rc = !st || !stm || !rate || !sl.slot || !sl.who || !sl.lr || !sl.mu ? DLN_ENOMEM : dln_batch_evaluate(bt),
        running = count;
    long t = 0, *stop_at = calloc((size_t)count, sizeof(long));
    int *list = malloc(sizeof(int) * (size_t)count), *rose = calloc((size_t)count, sizeof(int));
    double *before = malloc(sizeof(double) * (size_t)count);
    if (!stop_at || !list || !rose || !before) rc = DLN_ENOMEM;
    for (int b = 0; !rc && b < count; b++) rate[b] = lr[b], sl.slot[b] = sl.who[b] = b;
    while (!rc && running > 0) {
        int any_check = 0, read = 0, frozen = 0;
        for (int b = 0; b < count; b++) any_check |= !r[b].stopped && dln_run_is_check(&r[b], t);
        if (any_check) {
            if ((rc = dln_batch_read(bt, st))) break;
            read = 1;
            for (int b = 0; b < count; b++)
                if (sl.slot[b] >= 0) stm[b] = st[sl.slot[b]];
        }
        for (int b = 0; read && b < count; b++) {
            if (r[b].stopped || !dln_run_is_check(&r[b], t)) continue;
            if ((rc = dln_run_check(&r[b], t, &stm[b], lr[b], dln_clock_seconds() - t0, NULL, NULL, NULL))) break;
            if (!r[b].stopped) continue;
            stop_at[b] = t, rate[b] = 0.0, running--, frozen = 1;
            if ((rc = retire(bt, &sl, b, W[b]))) break;
        }
        if (rc || running == 0) break;
        int due = 0;
        for (int b = 0; c->net && b < count; b++) {
            if (r[b].stopped || !dln_tracker_due(&r[b].tracker, t)) continue;
            rose[b] = read && dln_run_is_check(&r[b], t) && r[b].rose;
            if (dln_tracker_estimates(&r[b].tracker, t, rose[b]) &&
                (rc = dln_batch_get_weights(bt, sl.slot[b], W[b])))
                break;
            before[b] = lr[b], list[due++] = b;
        }
        if (!rc && due) {
            crew_job j = {.r = r, .W = W, .phase = TRACK, .t = t, .rose = rose, .lr = lr};
            rc = dln_crew_run(c, list, due, member_work, &j, err);
        }
        for (int i = 0; !rc && i < due; i++)
            if (lr[list[i]] != before[list[i]]) rate[list[i]] = lr[list[i]], frozen = 1; /* new rates to upload */
        if (rc) break;
        if (frozen && (rc = upload_rates(bt, &sl, rate, mu, count))) break;
        int measure = 0;
        for (int b = 0; b < count; b++) measure |= !r[b].stopped && dln_run_is_check(&r[b], t + 1);
        rc = dln_batch_step(bt, measure);
        t++;
    }
    double sec = dln_clock_seconds() - t0;
    for (int b = 0; !rc && b < count; b++) /* members still running after a failure: none */
        if (sl.slot[b] >= 0) rc = dln_batch_get_weights(bt, sl.slot[b], W[b]);
    int finals = 0;
    for (int b = 0; stop_at && list && b < count; b++) {
        stop_at[b] = r[b].stopped ? stop_at[b] : t;
        if (c->net && r[b].tracker.v && r[b].tracker.measured_at != stop_at[b] && !r[b].res->diverged)
            list[finals++] = b;
    }
    if (!rc && finals) {
        crew_job j = {.r = r, .W = W, .phase = FINAL, .end = stop_at, .lr = lr};
        rc = dln_crew_run(c, list, finals, member_work, &j, err);
    }
    for (int b = 0; b < count; b++) dln_run_finish(&r[b], stop_at ? stop_at[b] : t, lr[b], sec, !rc);
    free(list), free(rose), free(before);
    free(st), free(stm), free(rate), free(stop_at), free(sl.slot), free(sl.who), free(sl.lr), free(sl.mu);
    return rc;
}

int dln_train_batch(dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s, int count,
                    double ***W, const dln_train_opts *o, dln_train_result *res, dln_error *err)
{
    if (count < 1) return dln_fail(err, DLN_EINPUT, "a batch needs at least one member");
    dln_run *r = calloc((size_t)count, sizeof(dln_run));
    double *lr = malloc(sizeof(double) * (size_t)count), *mu = malloc(sizeof(double) * (size_t)count);
    dln_batch *bt = NULL;
    int rc = !r || !lr || !mu ? dln_fail(err, DLN_ENOMEM, "out of host memory for a batch of %d", count) : DLN_OK, momentum = 0;
    for (int b = 0; !rc && b < count; b++) {
        rc = dln_run_begin(&r[b], be, d, sh, s, W[b], &o[b], &res[b], err);
        if (rc) dln_error_prefix(err, "a batch member: ");
        mu[b] = o[b].momentum;
        momentum |= mu[b] != 0.0;
    }
    if (!rc) rc = check_batch(count, o, r, err);
    int n = !rc && r[0].compressed ? sh->r : d->m;
    /* the threads, decided on the column bound the memory estimate uses (not the rank) */
    int bound = !rc && r[0].compressed ? (d->dx < d->m ? d->dx : d->m) : d->m;
    int threads = dln_batch_threads_used(s, bound, dln_pool_threads(dln_backend_pool(be)));
    size_t need = rc ? 0 : dln_batch_bytes(s, n, o[0].dtype, count, momentum), free_b = 0, total_b = 0;
    if (!rc) rc = dln_backend_mem_info(be, &free_b, &total_b);
    if (!rc && total_b && need > free_b)
        rc = dln_fail(err, DLN_EINPUT, "a batch of %d needs %zu bytes on the %s backend but only %zu are free", count,
                      need, dln_backend_name(be), free_b);
    if (!rc) rc = dln_batch_create(be, s, n, o[0].dtype, count, momentum, &bt);
    if (!rc) rc = dln_batch_set_threads(bt, threads);
    const double *Xd = !rc && r[0].compressed ? sh->C : d->X, *Yd = !rc && r[0].compressed ? sh->M : d->Y;
    if (!rc) rc = dln_batch_set_data(bt, Xd, Yd);
    for (int b = 0; !rc && b < count; b++) rc = dln_batch_set_weights(bt, b, W[b]);
    /* the sharpness rule's start, on a single network per member as alone; its floor
     * (data and shape only) once for the batch */
    dln_crew c = {0};
    int tracking = 0; /* some member's step size is the rule's (a batch has no line search) */
    for (int b = 0; b < count; b++) tracking |= o[b].lr <= 0 && o[b].lr_rule == DLN_LR_SHARPNESS;
    if (!rc && tracking) rc = dln_crew_create(be, s, n, threads, o[0].dtype, Xd, Yd, &c, err);
    double floor = 0.0;
    if (!rc && tracking) { /* on worker 0's network: its operations record in the crew's record 0 */
        dln_error_clear(&c.err[0]);
        rc = dln_network_set_weights(c.net[0], W[0]);
        if (!rc) rc = dln_tracker_floor(c.net[0], s, sh, W[0], &floor, &c.err[0]);
        if (rc) rc = dln_fail(err, c.err[0].code ? c.err[0].code : rc, "%s",
                              c.err[0].msg[0] ? c.err[0].msg : "the step-size rule's floor failed");
    }
    int *all = malloc(sizeof(int) * (size_t)count);
    if (!rc && !all) rc = dln_fail(err, DLN_ENOMEM, "out of host memory for a batch of %d", count);
    for (int b = 0; !rc && b < count; b++) all[b] = b, lr[b] = res[b].lr;
    if (!rc && tracking) {
        crew_job j = {.r = r, .W = W, .phase = START, .floor = &floor, .lr = lr};
        rc = dln_crew_run(&c, all, count, member_work, &j, err);
    }
    for (int b = 0; !rc && !tracking && b < count; b++) rc = dln_run_start(&r[b], NULL, W[b], NULL, err);
    free(all);
    if (!rc) rc = dln_batch_set_rates(bt, lr, momentum ? mu : NULL);
    if (!rc) rc = batch_loop(bt, r, lr, momentum ? mu : NULL, count, &c, W, dln_backend_supports(be, DLN_CAP_GRAPHS), err);
    if (rc == DLN_ENOMEM && err->code == DLN_OK) dln_fail(err, DLN_ENOMEM, "out of host memory in a batch");
    dln_batch_destroy(bt);
    dln_crew_destroy(&c);
    free(r), free(lr), free(mu);
    return rc;
}
