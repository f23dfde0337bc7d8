/* trainer.c: full-batch gradient descent on the deep linear network, plain or with
 * heavy-ball momentum, or with a backtracking (Armijo) line search (line_search.c).
 * Each step is exactly one update, the network's one step (src/model/step.c). The loss
 * and gradient norm are reduced on the backend only in the updates into checked steps
 * and read back there; each checked step and the final state go to the observer. The
 * data are the exact compression (C, M) when that has fewer columns than X, unless the
 * full data are asked for: both follow the same trajectory (docs/maths.md). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dln/clock.h"
#include "trainer/trainer_internal.h"

#define BLOWUP 1e6          /* loss above BLOWUP * max(initial loss, 1/2 ||Y||^2) is divergence */
#define ASYNC_CHECK_EVERY 50 /* default check interval where reading a result waits for a device */

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

/* What turns the network's squared norms into reported numbers. */
typedef struct {
    const dln_shallow *sh;
    const dln_shape *s;
    int compressed;
} loss_view;

/* loss = 1/2 ||E||^2 (+ the part of Y no R reaches, when compressed); the gap without
 * cancellation in the compressed case */
static void loss_from_sumsq(const loss_view *v, double sumsq, double *loss, double *gap)
{
    if (v->compressed) {
        *loss = 0.5 * sumsq + v->sh->lstsq;
        *gap = 0.5 * sumsq - v->sh->tail;
    } else {
        *loss = 0.5 * sumsq;
        *gap = *loss - v->sh->optimum;
    }
}

/* Steps at which the loss is read: every check_every, every observe_every, the last
 * one, and every step of a line search. */
static int is_check(const dln_train_opts *o, int check_every, long t)
{
    return t % check_every == 0 || (o->observe_every > 0 && t % o->observe_every == 0) || t >= o->steps ||
           o->line_search;
}

/* The last WINDOW checked steps, oldest first once unrolled (for the verdict). */
#define WINDOW 64
typedef struct {
    dln_check_record rec[WINDOW];
    long count;
} check_window;

static void remember(check_window *w, const dln_observation *obs)
{
    dln_check_record r = {obs->step, obs->loss, obs->gap};
    w->rec[w->count++ % WINDOW] = r;
}

static int unroll(const check_window *w, dln_check_record *out)
{
    int n = w->count < WINDOW ? (int)w->count : WINDOW;
    for (int i = 0; i < n; i++) out[i] = w->rec[(w->count - n + i) % WINDOW];
    return n;
}

static int train_loop(dln_network *net, const loss_view *lv, const dln_train_opts *o, int check_every, double lr,
                      dln_obs_state *ost, dln_train_result *res, dln_error *err)
{
    const dln_shallow *sh = lv->sh;
    dln_network_stats st = {NAN, NAN};
    dln_observation obs;
    memset(&obs, 0, sizeof obs);
    obs.loss = obs.gap = obs.rel_gap = obs.grad_norm = NAN;
    obs.lr = lr;
    check_window win = {.count = 0};
    double t0 = dln_clock_seconds(), blowup = INFINITY;
    long t = 0;
    int rc = dln_network_evaluate(net), stopped = 0;
    while (!rc && !stopped) {
        if (is_check(o, check_every, t)) {
            if ((rc = dln_network_read(net, &st))) break;
            obs.step = t;
            loss_from_sumsq(lv, st.residual_sumsq, &obs.loss, &obs.gap);
            obs.rel_gap = obs.gap / sh->y_half;
            obs.grad_norm = sqrt(st.grad_sumsq);
            obs.lr = lr;
            obs.seconds = dln_clock_seconds() - t0;
            if (t == 0) {
                res->loss_init = obs.loss;
                blowup = BLOWUP * (obs.loss > sh->y_half ? obs.loss : sh->y_half);
            }
            remember(&win, &obs);
            if (o->observer && (rc = dln_obs_measure(ost, net, &obs, err))) break;
            stopped = 1;
            if (!isfinite(obs.loss) || obs.loss > blowup) res->stop = DLN_STOP_DIVERGED, res->diverged = 1;
            else if (o->tol > 0 && obs.rel_gap <= o->tol) res->stop = DLN_STOP_CONVERGED, res->converged = 1;
            else if (t >= o->steps) res->stop = DLN_STOP_STEP_LIMIT;
            else if (o->observer && o->observer(o->observer_ctx, &obs)) res->stop = DLN_STOP_OBSERVER;
            else stopped = 0;
            if (stopped) break;
        }
        if (o->line_search) {
            int ok = 0;
            rc = dln_line_search_step(net, st.residual_sumsq, st.grad_sumsq, &lr, &ok);
            if (!rc && !ok) {
                res->stop = DLN_STOP_NO_DECREASE;
                break;
            }
        } else {
            rc = dln_network_step(net, lr, o->momentum, is_check(o, check_every, t + 1));
        }
        t++;
    }
    res->seconds = dln_clock_seconds() - t0;
    res->steps = t;
    res->loss = obs.loss;
    res->gap = obs.gap;
    res->rel_gap = obs.rel_gap;
    res->grad_norm = obs.grad_norm;
    res->lr = lr;
    dln_check_record recent[WINDOW];
    int n = unroll(&win, recent);
    dln_judge(res, recent, n, sh, lv->s, o->tol);
    if (!rc && o->observer) { /* the observables, when asked, are those of the last check: this step */
        obs.final = 1;
        (void)o->observer(o->observer_ctx, &obs);
    }
    return rc;
}

/* Refuses what cannot run, before anything is allocated. */
static int check_inputs(const dln_data *d, const dln_shallow *sh, const dln_shape *s, const dln_train_opts *o,
                        dln_error *err)
{
    if (s->dims[0] != d->dx || s->dims[s->depth] != d->dy)
        return dln_fail(err, DLN_EINPUT, "the network maps %d -> %d but the data are %d -> %d", s->dims[0],
                        s->dims[s->depth], d->dx, d->dy);
    if (o->line_search && o->momentum != 0.0)
        return dln_fail(err, DLN_EINPUT, "the line search works with plain gradient descent (momentum 0)");
    if (o->check_every < 0 || o->observe_every < 0 || o->steps < 0)
        return dln_fail(err, DLN_EINPUT, "check and observation intervals and the step count must be >= 0");
    if (!(o->momentum >= 0.0 && o->momentum < 1.0))
        return dln_fail(err, DLN_EINPUT, "the momentum must be in [0, 1) (got %g)", o->momentum);
    int compressed = o->data_mode == DLN_DATA_COMPRESSED || (o->data_mode == DLN_DATA_AUTO && sh->r < d->m);
    if (compressed && !sh->C)
        return dln_fail(err, DLN_EINPUT, "compressed data requested but the solver did not keep them");
    return DLN_OK;
}

int dln_train(dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s, double **W,
              const dln_train_opts *o, dln_train_result *res, dln_error *err)
{
    memset(res, 0, sizeof *res);
    res->optimum = sh->optimum;
    res->loss = res->gap = res->rel_gap = res->grad_norm = res->loss_init = NAN;
    DLN_TRY(check_inputs(d, sh, s, o, err));
    int compressed = o->data_mode == DLN_DATA_COMPRESSED || (o->data_mode == DLN_DATA_AUTO && sh->r < d->m);
    res->compressed = compressed;
    int n = compressed ? sh->r : d->m;
    double lr = o->lr > 0 ? o->lr : dln_auto_lr(s, W, sh);
    res->lr = lr;
    if (!(lr > 0) || !isfinite(lr))
        return dln_fail(err, DLN_EINPUT, "could not derive a step size from the data (give one explicitly)");
    int check_every = o->check_every > 0 ? o->check_every : dln_backend_supports(be, DLN_CAP_ASYNC) ? ASYNC_CHECK_EVERY : 1;

    unsigned buffers = (o->momentum != 0.0 ? DLN_NET_MOMENTUM : 0) | (o->line_search ? DLN_NET_TRIAL : 0);
    size_t need = dln_network_bytes(s, n, o->dtype, buffers), free_b = 0, total_b = 0;
    DLN_TRY(dln_backend_mem_info(be, &free_b, &total_b));
    if (total_b && need > free_b)
        return dln_fail(err, DLN_EINPUT, "the network needs %zu bytes on the %s backend but only %zu are free", need,
                        dln_backend_name(be), free_b);

    dln_network *net = NULL;
    dln_obs_state ost;
    DLN_TRY(dln_obs_prepare(&ost, o->observer ? o->observe : 0, o->sharpness_iters, sh, s, err));
    int rc = dln_network_create(be, s, n, o->dtype, buffers, &net);
    if (!rc) rc = dln_network_set_data(net, compressed ? sh->C : d->X, compressed ? sh->M : d->Y);
    if (!rc) rc = dln_network_set_weights(net, W);
    loss_view lv = {sh, s, compressed};
    if (!rc) rc = train_loop(net, &lv, o, check_every, lr, &ost, res, err);
    if (!rc) rc = dln_network_get_weights(net, W);
    dln_network_destroy(net);
    dln_obs_free(&ost);
    return rc;
}

void dln_train_describe(const dln_train_result *r, const dln_train_opts *o, char *buf, size_t n)
{
    switch (r->stop) {
    case DLN_STOP_CONVERGED: snprintf(buf, n, "rel_gap %.3g <= tol %g", r->rel_gap, o->tol); break;
    case DLN_STOP_STEP_LIMIT: snprintf(buf, n, "reached the step limit (%ld)", o->steps); break;
    case DLN_STOP_DIVERGED:
        snprintf(buf, n, "diverged at step %ld (loss %g) with step size %g", r->steps, r->loss, r->lr);
        break;
    case DLN_STOP_NO_DECREASE:
        snprintf(buf, n, "line search found no decrease at step %ld: the gradient is at rounding level", r->steps);
        break;
    case DLN_STOP_OBSERVER: snprintf(buf, n, "stopped by the observer at step %ld", r->steps); break;
    default: snprintf(buf, n, "stopped (reason %d)", (int)r->stop); break;
    }
}
