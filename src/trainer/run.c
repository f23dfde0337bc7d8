/* run.c: one training run's bookkeeping, whichever member of a network holds it: the
 * options checked, the check schedule, the loss and gap from the member's loss (the gap
 * without cancellation when compressed: measured against the compressed problem's own
 * optimum), the stopping rules (divergence, convergence, the gradient and loss-change
 * tolerances, the step limit, the observer), the window of recent checks and the verdict at
 * the end, and the observations. */
#include <math.h>
#include <string.h>

#include "trainer/trainer_internal.h"

#define BLOWUP 1e6           /* loss above BLOWUP * max(initial loss, the zero loss) is divergence */
#define ASYNC_CHECK_EVERY 50 /* default check interval where reading a result waits for a device */

/* Whether this run trains on the fit's compression. */
static int compressed(const dln_fit *fit, const dln_train_opts *o)
{
    if (!(dln_objective_flags(fit->objective) & DLN_OBJECTIVE_COMPRESSIBLE)) return 0;
    return o->data_mode == DLN_DATA_COMPRESSED || (o->data_mode == DLN_DATA_AUTO && fit->r > 0 && fit->r < fit->m);
}

static int check_inputs(const dln_fit *fit, const dln_shape *s, const dln_train_opts *o, dln_error *err)
{
    if (s->dims[0] != fit->dx || s->dims[s->depth] != fit->dy)
        return dln_fail(err, DLN_EINPUT, "the network maps %d -> %d but the data are %d -> %d", s->dims[0],
                        s->dims[s->depth], fit->dx, fit->dy);
    if (o->line_search && o->momentum != 0.0)
        return dln_fail(err, DLN_EINPUT, "the line search works with plain gradient descent (momentum 0)");
    if (o->sharpness_k < 0 || o->sharpness_k > 1000)
        return dln_fail(err, DLN_EINPUT, "the sharpness's top eigenvalues: 0 to 1000 (got %d)", o->sharpness_k);
    if (!(o->sharpness_rtol >= 0 && o->sharpness_rtol < 1))
        return dln_fail(err, DLN_EINPUT, "the sharpness's relative tolerance must be in [0, 1) (got %g)", o->sharpness_rtol);
    if (o->check_every < 0 || o->observe_every < 0 || o->sharpness_every < 0 || o->steps < 0)
        return dln_fail(err, DLN_EINPUT, "check, observation and sharpness intervals and the step count must be >= 0");
    if (!(o->momentum >= 0.0 && o->momentum < 1.0))
        return dln_fail(err, DLN_EINPUT, "the momentum must be in [0, 1) (got %g)", o->momentum);
    if (!(o->tol >= 0) || !(o->grad_tol >= 0) || !(o->loss_tol >= 0))
        return dln_fail(err, DLN_EINPUT, "the tolerances must be >= 0");
    if (o->data_mode == DLN_DATA_COMPRESSED && !(dln_objective_flags(fit->objective) & DLN_OBJECTIVE_COMPRESSIBLE))
        return dln_fail(err, DLN_EINPUT, "the %s objective has no exact compression of the data",
                        dln_objective_name(fit->objective));
    if (compressed(fit, o) && (!fit->C || !fit->M))
        return dln_fail(err, DLN_EINPUT, "compressed data requested but the solver did not keep them");
    return DLN_OK;
}

int dln_run_begin(dln_run *r, dln_backend *be, const dln_fit *fit, const dln_reference *ref, const dln_shape *s,
                  double *const *W, const dln_train_opts *o, dln_train_result *res, dln_error *err)
{
    memset(r, 0, sizeof *r);
    memset(res, 0, sizeof *res);
    res->optimum = dln_reference_has_value(ref) ? ref->optimum : NAN;
    res->loss = res->gap = res->rel_gap = res->grad_norm = res->loss_init = NAN;
    r->o = o, r->ref = ref, r->s = s, r->res = res;
    r->obs.loss = r->obs.gap = r->obs.rel_gap = r->obs.grad_norm = NAN;
    r->obs.effective_rank = r->obs.balancedness = r->obs.sharpness = r->obs.sharpness_est = NAN; /* not measured */
    r->blowup = INFINITY;
    DLN_TRY(check_inputs(fit, s, o, err));
    r->compressed = res->compressed = compressed(fit, o);
    r->offset = r->compressed ? fit->offset : 0.0;
    r->optimum = res->optimum;
    if (r->compressed) r->optimum = dln_reference_has_value(ref) ? ref->optimum_compressed : NAN;
    res->sharpness = res->sharpness_init = NAN;
    if (o->lr > 0 || o->lr_rule == DLN_LR_ARORA) { /* else the sharpness rule, at dln_run_start */
        res->lr = o->lr > 0 ? o->lr : dln_auto_lr(s, W, ref);
        if (!(res->lr > 0) || !isfinite(res->lr))
            return dln_fail(err, DLN_EINPUT, "could not derive a step size from the data (give one explicitly)");
    }
    r->check_every = o->check_every > 0 ? o->check_every
                     : dln_backend_supports(be, DLN_CAP_ASYNC) ? ASYNC_CHECK_EVERY : 1;
    /* the observables are measured for an observer only (so is the sharpness every sharpness_every steps) */
    dln_obs_flow_start fs = {be, fit, W, o->flow_rtol > 0 ? o->flow_rtol : DLN_FLOW_RTOL};
    DLN_TRY(dln_obs_prepare(&r->ost, o->observer ? o->observe : 0, o->sharpness_iters, ref, s, &fs, err));
    r->ost.sharpness_rtol = o->sharpness_rtol;
    r->ost.sharpness_k = o->sharpness_k;
    return DLN_OK;
}

int dln_run_start(dln_run *r, dln_network *net, int member, double *const *W, const double *floor, dln_error *err)
{
    const dln_train_opts *o = r->o;
    int rule = o->lr <= 0 && o->lr_rule == DLN_LR_SHARPNESS;
    if ((!rule && !o->line_search) || o->flow > 0) { /* the flow's steps are its own */
        r->res->lr_init = r->res->lr;
        return DLN_OK;
    }
    int every = o->reestimate_every == 0 ? 200 : o->reestimate_every;
    DLN_TRY(dln_tracker_start(&r->tracker, net, member, r->s, r->ref, W, rule && !o->line_search, every, o->momentum,
                              floor, &r->res->lr, err));
    if (rule && o->line_search && !(r->res->lr > 0)) /* the line search starts from the rule's step */
        r->res->lr = r->tracker.lambda > 0 ? DLN_LR_FACTOR / r->tracker.lambda : dln_auto_lr(r->s, W, r->ref);
    r->res->lr_init = r->res->lr;
    r->res->sharpness_init = r->res->sharpness = r->tracker.lambda;
    return DLN_OK;
}

/* The sharpness is traced at this step (for an observer). */
static int sharpness_due(const dln_run *r, long t)
{
    return r->o->observer && r->o->sharpness_every > 0 && t % r->o->sharpness_every == 0;
}

int dln_run_is_check(const dln_run *r, long t)
{
    const dln_train_opts *o = r->o;
    return t % r->check_every == 0 || (o->observe_every > 0 && t % o->observe_every == 0) || sharpness_due(r, t) ||
           t >= o->steps || o->line_search || dln_tracker_due(&r->tracker, t);
}

int dln_run_check(dln_run *r, long t, const dln_network_stats *st, double lr, double time, double seconds,
                  dln_network *net, int member, dln_error *err)
{
    const dln_train_opts *o = r->o;
    dln_observation *obs = &r->obs;
    dln_train_result *res = r->res;
    double before = obs->loss;
    obs->step = t;
    obs->loss = st->loss + r->offset;  /* on the compression: the constant the data add */
    obs->gap = st->loss - r->optimum;  /* against the optimum of what is trained on: no cancellation */
    obs->rel_gap = obs->gap / r->ref->zero_loss;
    obs->grad_norm = sqrt(st->grad_sumsq);
    obs->lr = lr;
    obs->time = time;
    obs->seconds = seconds;
    obs->sharpness_est = r->tracker.v ? r->tracker.lambda : NAN;
    if (t == 0) {
        res->loss_init = obs->loss;
        r->grad0 = obs->grad_norm;
        r->blowup = BLOWUP * (obs->loss > r->ref->zero_loss ? obs->loss : r->ref->zero_loss);
    }
    if (t == 0) r->decided_loss = r->stall_loss = obs->loss, r->stall_gsq = st->grad_sumsq, r->stall_at = 0, r->rise_from = NAN;
    if (dln_tracker_due(&r->tracker, t)) { /* between two decision steps (not between checks: the check
                                              schedule must not change the trajectory) */
        if (r->ref->kind != DLN_REFERENCE_CLOSED_FORM) {
            /* no closed-form gap (none, or a solver's value, which a best-known one may be
             * above): the loss's gap to 0 (a lower bound of every loss without a reference)
             * more than doubled, or, at a re-estimate at least DLN_STALL_WINDOW steps after
             * the last stall check, a decrease since it below DLN_MIN_DECREASE of the
             * first-order one while ||G|| has not halved (a bounce that does not decay; at a
             * minimum the loss stops falling too, but the gradient keeps shrinking) */
            r->rose = obs->loss > DLN_RISE * r->decided_loss + 1e-12 * fabs(obs->loss);
            if (t >= r->tracker.next_estimate && t - r->stall_at >= DLN_STALL_WINDOW) {
                double expected = (double)(t - r->stall_at) * lr * r->stall_gsq; /* first order */
                r->rose |= r->stall_loss - obs->loss < DLN_MIN_DECREASE * expected && st->grad_sumsq > 0.25 * r->stall_gsq;
                r->stall_loss = obs->loss, r->stall_gsq = st->grad_sumsq, r->stall_at = t;
            }
            /* after a rise the step may not grow again until the loss is below where the rise
             * started: where the Hessian vanishes (a saturated logistic), lr = c / lambda is
             * huge, and growing back after each halving ran away (tests/test_losses.c) */
            if (r->rose && isnan(r->rise_from)) r->rise_from = r->decided_loss;
            else if (obs->loss < r->rise_from) r->rise_from = NAN;
            r->tracker.hold = !isnan(r->rise_from);
        } else { /* the gap more than doubled */
            r->rose = obs->gap > DLN_RISE * r->tracker.gap_at_decision + 1e-12 * fabs(obs->loss);
        }
        r->tracker.gap_at_decision = obs->gap;
        r->decided_loss = obs->loss;
    } else {
        r->rose = 0;
    }
    dln_check_record rec = {t, obs->loss, obs->gap, lr, st->grad_sumsq};
    r->win[r->checks++ % DLN_WINDOW] = rec;
    r->stopped = 1;
    if (!isfinite(obs->loss) || obs->loss > r->blowup) res->stop = DLN_STOP_DIVERGED, res->diverged = 1;
    else if (o->tol > 0 && obs->rel_gap <= o->tol) res->stop = DLN_STOP_CONVERGED, res->converged = 1;
    else if (o->grad_tol > 0 && obs->grad_norm <= o->grad_tol * r->grad0) res->stop = DLN_STOP_GRAD_TOL;
    else if (o->loss_tol > 0 && t > 0 && fabs(obs->loss - before) <= o->loss_tol * fabs(obs->loss))
        res->stop = DLN_STOP_LOSS_TOL;
    else if (o->flow > 0 && time >= o->flow) res->stop = DLN_STOP_FLOW_END;
    else if (t >= o->steps) res->stop = DLN_STOP_STEP_LIMIT;
    else r->stopped = 0;
    /* the observables (or reset); a matrix problem's metrics (an SVD of the product) and the
     * distance to the flow (an integration) at the traced steps and the last check only */
    int traced = !res->diverged && (r->stopped || (o->observe_every > 0 && t % o->observe_every == 0));
    if (o->observer) DLN_TRY(dln_obs_measure(&r->ost, net, member, sharpness_due(r, t), traced, obs, err));
    if (!r->stopped && o->observer && o->observer(o->observer_ctx, obs)) res->stop = DLN_STOP_OBSERVER, r->stopped = 1;
    return DLN_OK;
}

void dln_run_finish(dln_run *r, long t, double lr, double time, double seconds, int ok)
{
    dln_train_result *res = r->res;
    res->seconds = seconds;
    res->steps = t;
    res->time = time;
    res->loss = r->obs.loss;
    res->gap = r->obs.gap;
    res->rel_gap = r->obs.rel_gap;
    res->grad_norm = r->obs.grad_norm;
    res->lr = lr;
    dln_check_record recent[DLN_WINDOW];
    int n = r->checks < DLN_WINDOW ? (int)r->checks : DLN_WINDOW;
    for (int i = 0; i < n; i++) recent[i] = r->win[(r->checks - n + i) % DLN_WINDOW];
    if (r->tracker.v) {
        res->sharpness = r->tracker.lambda;
        res->lr_changes = r->tracker.changes;
    }
    dln_tracker_free(&r->tracker);
    dln_judge(res, recent, n, r->ref, r->s, r->o->tol);
    if (ok && r->o->observer) { /* the observables, when asked, are those of the last check: this step */
        r->obs.final = 1;
        (void)r->o->observer(r->o->observer_ctx, &r->obs);
    }
}

void dln_run_free(dln_run *r)
{
    dln_tracker_free(&r->tracker);
    dln_obs_free(&r->ost);
}
