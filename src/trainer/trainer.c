/* trainer.c: full-batch gradient descent for `count` runs at once (dln_train): one network
 * of `count` members on the shared data, each member with its own weights, step size (given
 * or automatic), momentum, tolerances, step limit and observer, and the same checks,
 * stopping rules and verdict whatever the count (run.c); a run of one is the same loop.
 * Plain gradient descent or heavy-ball momentum; for a run of one also a backtracking
 * (Armijo) line search (line_search.c). The loss and gradient norm are reduced on the
 * backend only in the updates into checked steps and read back there. A stopped member's
 * weights are read out at its stopping step and its slot taken by the last running member
 * (dln_network_move), so the network computes the running members only; the loop ends when
 * every member has stopped. The sharpness rule's Lanczos work runs on the network itself
 * for a run of one, and on a crew of one-member networks for a batch (crew.h: spread over
 * the backend's threads, each member's work as it would be alone). The data are the exact
 * compression (C, M) when the objective allows it and that has fewer columns than X, unless
 * the full data are asked for: both follow the same trajectory (docs/maths.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/clock.h"
#include "trainer/crew.h"
#include "trainer/trainer_internal.h"

#define OSCILLATION_ITERS 20 /* Lanczos products for the sharpness of an oscillating run */

void dln_train_opts_default(dln_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->lr = 0.0;
    o->steps = 10000;
    o->tol = 1e-6;
    o->check_every = 0;
    o->data_mode = DLN_DATA_AUTO;
    o->dtype = DLN_F64;
}

/* ---- the members' step-size work: on the network (one member) or a crew (a batch) ------ */

enum { START, TRACK, FINAL, OSCILLATION };

typedef struct {
    dln_run *r;
    double ***W;
    int phase;           /* START, TRACK, FINAL or OSCILLATION */
    long t;              /* TRACK: the step */
    const long *end;     /* FINAL: [member] its last step */
    const int *rose;     /* TRACK: [member] the gap more than doubled */
    const double *floor; /* START: the rule's floor, shared (NULL: computed by the member) */
    double *lr;          /* [member] its step size */
    int copy;            /* the member's weights must be put on net first (a crew's network) */
} work_job;

static int member_work(void *ctx, int b, dln_network *net, dln_error *err)
{
    const work_job *j = ctx;
    dln_run *r = &j->r[b];
    if (j->phase == START) {
        if (j->copy) DLN_TRY(dln_network_set_weights(net, 0, j->W[b]));
        DLN_TRY(dln_run_start(r, net, 0, j->W[b], j->floor, err));
        j->lr[b] = r->res->lr;
        return DLN_OK;
    }
    if (j->phase == FINAL) { /* the final weights' lambda_max */
        if (j->copy) DLN_TRY(dln_network_set_weights(net, 0, j->W[b]));
        return dln_tracker_final(&r->tracker, net, 0, j->end[b], err);
    }
    if (j->phase == OSCILLATION) { /* a fixed step that stopped decreasing: is it above 2 / lambda_max? */
        if (j->copy) DLN_TRY(dln_network_set_weights(net, 0, j->W[b]));
        dln_lanczos_result lz = {0};
        DLN_TRY(dln_hessian_extremes(net, 0, OSCILLATION_ITERS, 1, NULL, &lz, err));
        r->res->sharpness = lz.lambda_max;
        return DLN_OK;
    }
    if (j->copy && dln_tracker_estimates(&r->tracker, j->t, j->rose[b])) DLN_TRY(dln_network_set_weights(net, 0, j->W[b]));
    return dln_tracker_step(&r->tracker, net, 0, j->t, j->rose[b], &j->lr[b], err);
}

/* The work for the listed members: a run of one on its own network (member 0, its weights
 * there), a batch on its crew. */
static int run_work(dln_crew *c, dln_network *net, const int *list, int n, work_job *j, dln_error *err)
{
    j->copy = c->net != NULL;
    if (c->net) return dln_crew_run(c, list, n, member_work, j, err);
    for (int i = 0; i < n; i++) DLN_TRY(member_work(j, list[i], net, err));
    return DLN_OK;
}

/* ---- where the members are ------------------------------------------------------------- */

/* The running members fill slots 0 .. active-1 of the network, so that a stopped member
 * costs nothing more. */
typedef struct {
    int *slot;   /* [member]: its slot, -1 once stopped */
    int *who;    /* [slot]: the member there */
    int active;  /* running members */
    double *lr, *mu; /* [slot]: rates in slot order, for dln_network_set_rates (0 past active) */
    int computed;    /* slots the network computes (dln_network_set_active) */
    int graphs;      /* the backend captures steps: a new count means a new capture, so the
                        count is lowered only once a quarter of the computed slots is idle */
} slots;

/* Member b stopped: its final weights to W (host), the last running member moved into its
 * slot (its step size 0 from the next upload), fewer members computed. */
static int retire(dln_network *net, slots *sl, int b, double **W)
{
    int s = sl->slot[b], last = sl->active - 1;
    DLN_TRY(dln_network_get_weights(net, s, W));
    if (s != last) {
        DLN_TRY(dln_network_move(net, last, s));
        sl->who[s] = sl->who[last];
        sl->slot[sl->who[s]] = s;
    }
    sl->slot[b] = -1;
    sl->active--;
    if (sl->active == 0 || (sl->graphs && 4 * sl->active > 3 * sl->computed)) return DLN_OK;
    sl->computed = sl->active;
    return dln_network_set_active(net, sl->active);
}

static int upload_rates(dln_network *net, slots *sl, const double *rate, const double *mu, int count)
{
    for (int s = 0; s < count; s++) {
        int b = s < sl->active ? sl->who[s] : -1;
        sl->lr[s] = b >= 0 ? rate[b] : 0.0;
        sl->mu[s] = b >= 0 && mu ? mu[b] : 0.0;
    }
    return dln_network_set_rates(net, sl->lr, mu ? sl->mu : NULL);
}

/* ---- the loop -------------------------------------------------------------------------- */

typedef struct {
    dln_network *net;
    dln_run *r;
    int count;
    double *lr;       /* [member] its step size */
    const double *mu; /* [member] its momentum (NULL: none) */
    dln_crew *c;
    double ***W;
    dln_flow_ctl *fc; /* [member] the gradient flow's step control (flow mode), else NULL */
} loop_state;

#define FLOW_ROUND_TRIES 1000 /* tries of one round before a stiff flow is given up */

/* Checked at step t, or at the end of its flow. */
static int checked(const dln_run *r, long t, double time)
{
    return dln_run_is_check(r, t) || (r->o->flow > 0 && time >= r->o->flow);
}

/* The gradient flow's controls started at the network's current state (flow_begin measured). */
static int flow_start(dln_network *net, const slots *sl, dln_run *r, dln_flow_ctl *fc, double *lr, int count,
                      dln_error *err)
{
    dln_network_stats *ns = malloc(sizeof *ns * (size_t)count);
    int rc = !ns ? dln_fail(err, DLN_ENOMEM, "out of host memory") : dln_network_read(net, ns);
    for (int b = 0; !rc && b < count; b++) {
        rc = dln_flow_ctl_start(&fc[b], net, sl->slot[b], r[b].o->flow, r[b].o->flow_rtol, ns[sl->slot[b]].grad_sumsq,
                                err);
        lr[b] = dln_flow_ctl_h(&fc[b]);
    }
    free(ns);
    return rc;
}

/* One accepted flow step of every running member: tries (each member its own step, 0 for
 * those already moved this round) until all have one; time and lr are the members' flow time
 * and last step. */
static int flow_round(dln_network *net, const slots *sl, dln_run *r, dln_flow_ctl *fc, double *lr, double *time,
                      int count, dln_error *err)
{
    int n = dln_network_count(net);
    double *h = calloc((size_t)n, sizeof(double)), *e2 = calloc((size_t)n, sizeof(double));
    double *w0 = calloc((size_t)n, sizeof(double)), *w1 = calloc((size_t)n, sizeof(double));
    int *acc = calloc((size_t)n, sizeof(int)), *done = calloc((size_t)count, sizeof(int));
    int rc = !h || !e2 || !w0 || !w1 || !acc || !done ? dln_fail(err, DLN_ENOMEM, "out of host memory") : DLN_OK;
    for (int tries = 0; !rc; tries++) {
        int pending = 0;
        for (int k = 0; k < n; k++) h[k] = 0.0, acc[k] = 0;
        for (int b = 0; b < count; b++)
            if (!r[b].stopped && !done[b]) pending += (h[sl->slot[b]] = dln_flow_ctl_h(&fc[b])) > 0;
        if (!pending) break;
        if (tries >= FLOW_ROUND_TRIES) {
            rc = dln_fail(err, DLN_ERUNTIME, "the flow rejected %d tries in a row (a stiff problem: the explicit "
                          "pair's step is capped near 3.3 / lambda_max)", tries);
            break;
        }
        rc = dln_network_flow_try(net, h, e2, w0, w1);
        for (int b = 0; !rc && b < count; b++) {
            if (r[b].stopped || done[b]) continue;
            int k = sl->slot[b];
            if ((acc[k] = dln_flow_ctl_judge(&fc[b], h[k], e2[k], w0[k], w1[k])))
                done[b] = 1, lr[b] = fc[b].last_h, time[b] = fc[b].t;
        }
        if (!rc) rc = dln_network_flow_settle(net, acc);
    }
    free(h), free(e2), free(w0), free(w1), free(acc), free(done);
    return rc;
}

/* Every member checked at its own checked steps (observables on its slot), its sharpness
 * tracked, one update of the running members (a line-search step for a run of one), until
 * every member has stopped. W[b] gets member b's final weights. */
static int loop(loop_state *ls, int graphs, dln_error *err)
{
    dln_network *net = ls->net;
    dln_run *r = ls->r;
    int count = ls->count, line_search = r[0].o->line_search, flow = ls->fc != NULL, retired = 0;
    double *lr = ls->lr, t0 = dln_clock_seconds();
    dln_network_stats *st = malloc(sizeof(dln_network_stats) * (size_t)count),
                      *stm = malloc(sizeof(dln_network_stats) * (size_t)count);
    double *rate = malloc(sizeof(double) * (size_t)count), *time = calloc((size_t)count, sizeof(double));
    slots sl = {malloc(sizeof(int) * (size_t)count), malloc(sizeof(int) * (size_t)count), count,
                malloc(sizeof(double) * (size_t)count), malloc(sizeof(double) * (size_t)count), count, graphs};
    long t = 0, *stop_at = calloc((size_t)count, sizeof(long));
    int *list = malloc(sizeof(int) * (size_t)count), *rose = calloc((size_t)count, sizeof(int));
    double *before = malloc(sizeof(double) * (size_t)count);
    int rc = !st || !stm || !rate || !time || !sl.slot || !sl.who || !sl.lr || !sl.mu || !stop_at || !list ||
                     !rose || !before
                 ? dln_fail(err, DLN_ENOMEM, "out of host memory for %d runs", count)
                 : flow ? dln_network_flow_begin(net) : dln_network_evaluate(net),
        running = count;
    for (int b = 0; !rc && b < count; b++) rate[b] = lr[b], sl.slot[b] = sl.who[b] = b;
    if (!rc && flow) rc = flow_start(net, &sl, r, ls->fc, lr, count, err);
    while (!rc && running > 0) {
        int any_check = 0, read = 0, frozen = 0;
        for (int b = 0; b < count; b++) any_check |= !r[b].stopped && checked(&r[b], t, time[b]);
        if (any_check) {
            if ((rc = dln_network_read(net, st))) break;
            read = 1;
            for (int b = 0; b < count; b++)
                if (sl.slot[b] >= 0) stm[b] = st[sl.slot[b]];
        }
        for (int b = 0; read && b < count; b++) {
            if (r[b].stopped || !checked(&r[b], t, time[b])) continue;
            double sec = dln_clock_seconds() - t0;
            if ((rc = dln_run_check(&r[b], t, &stm[b], lr[b], time[b], sec, net, sl.slot[b], err))) break;
            if (!r[b].stopped) continue;
            stop_at[b] = t, rate[b] = 0.0, running--, frozen = 1, retired = 1;
            if ((rc = retire(net, &sl, b, ls->W[b]))) break;
        }
        if (rc || running == 0) break;
        if (flow) { /* one accepted step of every running member; a member moved to another slot
                       needs its stage K_1 there: the gradients again after a retirement */
            if (retired && (rc = dln_network_flow_begin(net))) break;
            retired = 0;
            if ((rc = flow_round(net, &sl, r, ls->fc, lr, time, count, err))) break;
            t++;
            continue;
        }
        if (line_search) { /* a run of one: the trial steps replace the update */
            int ok = 0;
            double cap = r[0].tracker.lambda > 0 ? 2.0 / r[0].tracker.lambda : INFINITY;
            if ((rc = dln_line_search_step(net, stm[0].loss, stm[0].grad_sumsq, cap, &lr[0], &ok,
                                           &r[0].res->lr_capped)))
                break;
            if (!ok) {
                r[0].res->stop = DLN_STOP_NO_DECREASE;
                r[0].stopped = 1, stop_at[0] = t, running = 0;
                rc = dln_network_get_weights(net, 0, ls->W[0]);
                sl.slot[0] = -1;
                break;
            }
            time[0] += lr[0];
            t++;
            continue;
        }
        int due = 0;
        for (int b = 0; b < count; b++) {
            if (r[b].stopped || !dln_tracker_due(&r[b].tracker, t)) continue;
            rose[b] = read && dln_run_is_check(&r[b], t) && r[b].rose;
            if (ls->c->net && dln_tracker_estimates(&r[b].tracker, t, rose[b]) &&
                (rc = dln_network_get_weights(net, sl.slot[b], ls->W[b])))
                break;
            before[b] = lr[b], list[due++] = b;
        }
        if (!rc && due) {
            work_job j = {.r = r, .W = ls->W, .phase = TRACK, .t = t, .rose = rose, .lr = lr};
            rc = run_work(ls->c, net, list, due, &j, err);
        }
        for (int i = 0; !rc && i < due; i++)
            if (lr[list[i]] != before[list[i]]) rate[list[i]] = lr[list[i]], frozen = 1; /* new rates to upload */
        if (rc) break;
        if (frozen && (rc = upload_rates(net, &sl, rate, ls->mu, count))) break;
        int measure = 0;
        for (int b = 0; b < count; b++) measure |= !r[b].stopped && dln_run_is_check(&r[b], t + 1);
        rc = dln_network_step(net, measure);
        for (int b = 0; b < count; b++)
            if (!r[b].stopped) time[b] += lr[b];
        t++;
    }
    double sec = dln_clock_seconds() - t0;
    for (int b = 0; !rc && b < count; b++) /* members still running after a failure: none */
        if (sl.slot[b] >= 0) rc = dln_network_get_weights(net, sl.slot[b], ls->W[b]);
    int finals = 0;
    for (int b = 0; stop_at && list && b < count; b++) {
        stop_at[b] = r[b].stopped ? stop_at[b] : t;
        if (r[b].tracker.v && r[b].tracker.measured_at != stop_at[b] && !r[b].res->diverged) list[finals++] = b;
    }
    if (!rc && finals) {
        work_job j = {.r = r, .W = ls->W, .phase = FINAL, .end = stop_at, .lr = lr};
        rc = run_work(ls->c, net, list, finals, &j, err);
    }
    for (int b = 0; b < count; b++) {
        dln_run_finish(&r[b], stop_at ? stop_at[b] : t, lr[b], time ? time[b] : NAN, sec, !rc);
        if (flow) r[b].res->flow_rejected = ls->fc[b].rejected, r[b].res->flow_evaluations = ls->fc[b].evaluations;
    }
    int oscillating = 0;
    for (int b = 0; !rc && b < count; b++)
        if (r[b].res->verdict == DLN_VERDICT_OSCILLATING && !isfinite(r[b].res->sharpness)) list[oscillating++] = b;
    if (!rc && oscillating) {
        work_job j = {.r = r, .W = ls->W, .phase = OSCILLATION, .lr = lr};
        rc = run_work(ls->c, net, list, oscillating, &j, err);
    }
    free(list), free(rose), free(before), free(time);
    free(st), free(stm), free(rate), free(stop_at), free(sl.slot), free(sl.who), free(sl.lr), free(sl.mu);
    return rc;
}

/* ---- the set-up ------------------------------------------------------------------------ */

/* What every member must share with the first. */
static int check_members(int count, const dln_train_opts *o, const dln_run *r, dln_error *err)
{
    for (int b = 0; b < count; b++) {
        if (o[b].line_search && count > 1)
            return dln_fail(err, DLN_EINPUT, "member %d: the line search is for a run of one, not a batch", b);
        if ((o[b].flow > 0) != (o[0].flow > 0))
            return dln_fail(err, DLN_EINPUT, "member %d: the members of a batch all follow the flow or none", b);
        if (o[b].flow > 0 && (o[b].line_search || o[b].momentum != 0.0))
            return dln_fail(err, DLN_EINPUT, "member %d: the gradient flow takes no line search and no momentum", b);
        if (o[b].flow < 0 || !isfinite(o[b].flow) || o[b].flow_rtol < 0 || o[b].flow_rtol >= 1)
            return dln_fail(err, DLN_EINPUT, "member %d: a flow to time %g at tolerance %g", b, o[b].flow,
                            o[b].flow_rtol);
        if (o[b].data_mode != o[0].data_mode || o[b].dtype != o[0].dtype || r[b].check_every != r[0].check_every ||
            o[b].observe_every != o[0].observe_every || o[b].sharpness_every != o[0].sharpness_every)
            return dln_fail(err, DLN_EINPUT, "member %d: the members of a batch share the data mode, precision and "
                            "check schedule", b);
    }
    return DLN_OK;
}

int dln_train(dln_backend *be, const dln_fit *fit, const dln_reference *ref, const dln_shape *s, int count,
              double ***W, const dln_train_opts *o, dln_train_result *res, dln_error *err)
{
    if (count < 1) return dln_fail(err, DLN_EINPUT, "a batch needs at least one member");
    dln_run *r = calloc((size_t)count, sizeof(dln_run));
    double *lr = malloc(sizeof(double) * (size_t)count), *mu = malloc(sizeof(double) * (size_t)count);
    dln_network *net = NULL;
    dln_crew c = {0};
    int rc = !r || !lr || !mu ? dln_fail(err, DLN_ENOMEM, "out of host memory for %d runs", count) : DLN_OK;
    int momentum = 0, made = 0;
    for (int b = 0; !rc && b < count; b++, made++) {
        rc = dln_run_begin(&r[b], be, fit, ref, s, W[b], &o[b], &res[b], err);
        if (rc && count > 1) dln_error_prefix(err, "a batch member: ");
        mu[b] = o[b].momentum;
        momentum |= mu[b] != 0.0;
    }
    if (!rc) rc = check_members(count, o, r, err);
    int compressed = !rc && r[0].compressed;
    int n = compressed ? fit->r : fit->m;
    /* the threads, decided on the column bound the memory estimate uses (not the rank) */
    int bound = compressed ? (fit->dx < fit->m ? fit->dx : fit->m) : fit->m;
    int threads = count > 1 ? dln_network_threads_used(s, bound, dln_pool_threads(dln_backend_pool(be))) : 1;
    unsigned buffers = (momentum ? DLN_NET_MOMENTUM : 0) | (!rc && o[0].line_search ? DLN_NET_TRIAL : 0);
    dln_network_config nc = {.n = n, .count = count, .dtype = o[0].dtype, .buffers = buffers,
                             .objective = fit->objective};
    size_t need = rc ? 0 : dln_network_bytes(s, &nc), free_b = 0, total_b = 0;
    if (!rc) rc = dln_backend_mem_info(be, &free_b, &total_b);
    if (!rc && total_b && need > free_b)
        rc = count > 1 ? dln_fail(err, DLN_EINPUT, "a batch of %d needs %zu bytes on the %s backend but only %zu are "
                                  "free", count, need, dln_backend_name(be), free_b)
                       : dln_fail(err, DLN_EINPUT, "the network needs %zu bytes on the %s backend but only %zu are free",
                                  need, dln_backend_name(be), free_b);
    if (!rc) rc = dln_network_create(be, s, &nc, &net);
    if (!rc) rc = dln_network_set_threads(net, threads);
    const double *Xd = compressed ? fit->C : fit->X, *Yd = compressed ? fit->M : fit->Y;
    if (!rc) rc = dln_network_set_data(net, Xd, Yd);
    for (int b = 0; !rc && b < count; b++) rc = dln_network_set_weights(net, b, W[b]);
    /* the sharpness rule's start: a run of one on its network; a batch on a crew of networks
     * of one member (as alone), its floor (data and shape only) once, on worker 0's network */
    int tracking = 0, flow = !rc && o[0].flow > 0; /* some member's step size is the rule's, or it line-searches */
    for (int b = 0; !flow && b < count; b++)
        tracking |= (o[b].lr <= 0 && o[b].lr_rule == DLN_LR_SHARPNESS) || o[b].line_search;
    if (!rc && tracking && count > 1)
        rc = dln_crew_create(be, s, n, threads, o[0].dtype, fit->objective, Xd, Yd, &c, err);
    double floor = 0.0;
    if (!rc && tracking && count > 1) { /* its operations record in the crew's record 0 */
        dln_error_clear(&c.err[0]);
        rc = dln_network_set_weights(c.net[0], 0, W[0]);
        if (!rc) rc = dln_tracker_floor(c.net[0], 0, s, ref, W[0], &floor, &c.err[0]);
        if (rc) rc = dln_fail(err, c.err[0].code ? c.err[0].code : rc, "%s",
                              c.err[0].msg[0] ? c.err[0].msg : "the step-size rule's floor failed");
    }
    int *all = malloc(sizeof(int) * (size_t)count);
    if (!rc && !all) rc = dln_fail(err, DLN_ENOMEM, "out of host memory for %d runs", count);
    for (int b = 0; !rc && b < count; b++) all[b] = b, lr[b] = res[b].lr;
    if (!rc && tracking) {
        work_job j = {.r = r, .W = W, .phase = START, .floor = count > 1 ? &floor : NULL, .lr = lr};
        rc = run_work(&c, net, all, count, &j, err);
    }
    for (int b = 0; !rc && !tracking && b < count; b++) rc = dln_run_start(&r[b], NULL, 0, W[b], NULL, err);
    free(all);
    if (!rc) rc = dln_network_set_rates(net, lr, momentum ? mu : NULL);
    dln_flow_ctl *fc = flow ? calloc((size_t)count, sizeof *fc) : NULL;
    if (!rc && flow && !fc) rc = dln_fail(err, DLN_ENOMEM, "out of host memory for %d runs", count);
    loop_state ls = {net, r, count, lr, momentum ? mu : NULL, &c, W, fc};
    if (!rc) rc = loop(&ls, dln_backend_supports(be, DLN_CAP_GRAPHS), err);
    free(fc);
    if (rc == DLN_ENOMEM && err->code == DLN_OK) dln_fail(err, DLN_ENOMEM, "out of host memory in a batch");
    for (int b = 0; r && b < made; b++) dln_run_free(&r[b]);
    dln_network_destroy(net);
    dln_crew_destroy(&c);
    free(r), free(lr), free(mu);
    return rc;
}
