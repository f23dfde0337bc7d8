/* trainer.c: full-batch gradient descent on the deep linear network, plain or with
 * heavy-ball momentum, or with a backtracking (Armijo) line search (line_search.c).
 * Each step is exactly one update, the network's one step (src/model/step.c). The loss
 * and gradient norm are reduced on the backend only in the updates into checked steps
 * and read back there; each checked step and the final state go to the observer (the
 * bookkeeping is run.c's, shared with the batched loop). The data are the exact
 * compression (C, M) when that has fewer columns than X, unless the full data are asked
 * for: both follow the same trajectory (docs/maths.md). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dln/clock.h"
#include "dln/diagnostics.h"
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

/* The loop: check, then one update (or a line-search step), until the run stops. */
static int train_loop(dln_run *r, dln_network *net, dln_obs_state *ost, dln_error *err)
{
    const dln_train_opts *o = r->o;
    dln_network_stats st = {NAN, NAN};
    double t0 = dln_clock_seconds(), lr = r->res->lr;
    long t = 0;
    int rc = dln_network_evaluate(net);
    while (!rc) {
        if (dln_run_is_check(r, t)) {
            if ((rc = dln_network_read(net, &st))) break;
            if ((rc = dln_run_check(r, t, &st, lr, dln_clock_seconds() - t0, ost, net, err)) || r->stopped) break;
        }
        if (o->line_search) {
            int ok = 0;
            double cap = r->tracker.lambda > 0 ? 2.0 / r->tracker.lambda : INFINITY;
            rc = dln_line_search_step(net, st.residual_sumsq, st.grad_sumsq, cap, &lr, &ok, &r->res->lr_capped);
            if (!rc && !ok) {
                r->res->stop = DLN_STOP_NO_DECREASE;
                break;
            }
        } else {
            int rose = dln_run_is_check(r, t) && r->rose;
            if ((rc = dln_tracker_step(&r->tracker, net, t, rose, &lr, err))) break;
            rc = dln_network_step(net, lr, o->momentum, dln_run_is_check(r, t + 1));
        }
        t++;
    }
    double seconds = dln_clock_seconds() - t0;
    if (!rc && !r->res->diverged) rc = dln_tracker_final(&r->tracker, net, t, err);
    dln_run_finish(r, t, lr, seconds, !rc);
    if (!rc && r->res->verdict == DLN_VERDICT_OSCILLATING && !isfinite(r->res->sharpness)) {
        /* a fixed step that stopped decreasing: is it above 2 / lambda_max? */
        dln_lanczos_result lz = {0};
        rc = dln_hessian_extremes(net, r->s, OSCILLATION_ITERS, 1, NULL, &lz, err);
        if (!rc) r->res->sharpness = lz.lambda_max;
    }
    return rc;
}

int dln_train(dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s, double **W,
              const dln_train_opts *o, dln_train_result *res, dln_error *err)
{
    dln_run r;
    DLN_TRY(dln_run_begin(&r, be, d, sh, s, W, o, res, err));
    int n = r.compressed ? sh->r : d->m;
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
    if (!rc) rc = dln_network_set_data(net, r.compressed ? sh->C : d->X, r.compressed ? sh->M : d->Y);
    if (!rc) rc = dln_network_set_weights(net, W);
    if (!rc) rc = dln_run_start(&r, net, W, NULL, err);
    if (!rc) rc = train_loop(&r, net, &ost, err);
    if (!rc) rc = dln_network_get_weights(net, W);
    dln_network_destroy(net);
    dln_obs_free(&ost);
    return rc;
}

void dln_train_describe(const dln_train_result *r, const dln_train_opts *o, char *buf, size_t n)
{
    switch (r->stop) {
    case DLN_STOP_CONVERGED: snprintf(buf, n, "rel_gap %.3g <= tol %g", r->rel_gap, o->tol); break;
    case DLN_STOP_STEP_LIMIT: {
        double ll = r->lr * r->sharpness;
        switch (r->verdict) {
        case DLN_VERDICT_OSCILLATING:
            if (isfinite(ll) && o->lr <= 0 && o->lr_rule == DLN_LR_SHARPNESS && ll <= DLN_LR_UNSTABLE)
                /* the sharpness rule holds lr lambda near 2 on purpose (tracker.c): not a bad step */
                snprintf(buf, n, "reached the step limit (%ld) oscillating: the loss falls far slower than the steps "
                         "allow, lr lambda_max %.3g (the sharpness rule keeps the step at the edge of stability, where "
                         "the sharpest direction bounces; a fixed lr below 2 / lambda_max would settle it)", o->steps,
                         ll);
            else if (isfinite(ll) && ll > 2.0)
                snprintf(buf, n, "reached the step limit (%ld) oscillating: the loss stopped decreasing as it should, "
                         "with lr lambda_max %.3g > 2 (the step is too large for the curvature)", o->steps, ll);
            else if (isfinite(ll))
                snprintf(buf, n, "reached the step limit (%ld) oscillating: the loss stopped decreasing as it should "
                         "(lr lambda_max %.3g: the steps bounce across the sharpest direction)", o->steps, ll);
            else
                snprintf(buf, n, "reached the step limit (%ld) oscillating: the loss stopped decreasing as it should",
                         o->steps);
            break;
        case DLN_VERDICT_CRITICAL:
            snprintf(buf, n, "reached the step limit (%ld) at a critical point: the loss is the rank-%d optimum and the "
                     "run is not leaving it (a saddle)", o->steps, r->verdict_rank);
            break;
        case DLN_VERDICT_STATIONARY:
            if (r->verdict_skipped)
                snprintf(buf, n, "reached the step limit (%ld) stalled at a critical point off the rank path: the loss is "
                         "that of the top %d target modes with mode %d left out and mode %d learnt instead (a saddle)",
                         o->steps, r->verdict_rank, r->verdict_skipped, r->verdict_added);
            else
                snprintf(buf, n, "reached the step limit (%ld) stationary above the optimum: the gradient is at rounding "
                         "level", o->steps);
            break;
        case DLN_VERDICT_DECREASING:
            if (isfinite(r->steps_to_tol))
                snprintf(buf, n, "reached the step limit (%ld) still decreasing: about %.3g more steps to tol at the "
                         "recent rate", o->steps, r->steps_to_tol);
            else snprintf(buf, n, "reached the step limit (%ld) still decreasing", o->steps);
            break;
        default: snprintf(buf, n, "reached the step limit (%ld)", o->steps); break;
        }
        break;
    }
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
