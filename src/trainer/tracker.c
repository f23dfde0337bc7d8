/* tracker.c: the sharpness rule during a run (docs/maths.md section 5). The step size is
 * c / lambda (DLN_LR_FACTOR; times 1 - mu with heavy-ball momentum mu, whose steady step is
 * lr / (1 - mu)), lambda = max(lambda_max of the Hessian at the current weights, lambda_max
 * at the balanced factorisation of the first mode R1): the curvature here, and the
 * curvature a small start meets once it has learnt the first mode (at W = 0 the first is
 * 0, and a step sized for it would throw the weights past that mode). Not the curvature
 * of the balanced global minimum: with an ill-conditioned X that is sharp (weights large
 * along X's weak directions), far from where gradient descent spends its steps.
 * Both by Lanczos on exact Hessian-vector products: SHARPNESS_ITERS products from a random
 * start at the beginning, then RESTART_ITERS products warm-started from the last top
 * eigenvector at each re-estimate, and SHARPNESS_ITERS warm-started at the final weights
 * (the sharpness a run reports). The first re-estimate is at step 1; the interval to the
 * next is halved (down to 1) when lambda moved by more than MOVED since the last estimate
 * and doubled (up to `every`) when it did not: the sharpness can rise tenfold within ten
 * steps while the weights leave the initial saddle and the strong modes are learnt, and
 * then hold for thousands of steps.
 * Decision steps (checked steps) are the re-estimate steps and, with plain gradient descent
 * while lr lambda > EDGE = 2 (1 without a closed-form reference value; lambda the last estimate), every
 * step in between (a watch step).
 * A rise is the gap L - L* more than doubled (DLN_RISE, plus 1e-12 |L| for rounding) since the
 * previous decision step (run.c); a watch step without a rise changes nothing, one with a
 * rise re-estimates at once. At a re-estimate: lr lambda > DLN_LR_UNSTABLE = 4 (with heavy
 * ball, which has neither watch nor rise, beyond its edge of stability 2 (1 + mu)):
 * lr = c (1 - mu) / lambda; a rise: at least halved; otherwise lr lambda < c: grown towards c / lambda, at most doubled
 * (the sharpness falls on a plateau's exit and may rise again). Between c and 4 the step is
 * kept: a step held fixed while the sharpness rises to 2 / lr is what a good fixed step does
 * (gradient descent then stays where the sharpness is about 2 / lr, the edge of stability,
 * Cohen et al. 2021, with lr lambda above 2 at times and the loss not monotone), where
 * lowering it to c / lambda, or halving it at every small rise of the loss, follows the
 * sharpening path to ever smaller steps (bench/lr_quality: docs/maths.md section 5.1). The
 * watch is what makes holding lr lambda above 2 safe: where the edge of stability does not
 * hold (a catapult that does not come back: a gap of 212 became 3e14 in six steps on one of
 * bench/lr_quality's problems) the doubling is seen at the step it happens. Only decision
 * steps decide, so the check interval does not change the trajectory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/diagnostics.h"
#include "trainer/trainer_internal.h"

#define SHARPNESS_ITERS 20
#define RESTART_ITERS 6
#define MAX_GROWTH 2.0
#define MOVED 1.1 /* lambda changed by more than this factor since the last estimate: look sooner */
#define EDGE 2.0     /* lr lambda above this (plain gradient descent): every step a decision step */
#define EDGE_NO_REFERENCE 1.0 /* the same without a reference value (see dln_tracker_start) */

/* lambda_max at the balanced factorisation of the reference's first mode R1 (the curvature
 * a small start meets once it has learnt its first mode), on the network's member, whose
 * weights are W again afterwards; NaN where the first mode is unknown. */
static int first_mode_sharpness(dln_network *net, int member, const dln_shape *s, const dln_reference *ref,
                                double *const *W, double *lambda, dln_error *err)
{
    *lambda = NAN;
    if (!ref->first_mode) return DLN_OK;
    double **Wb = NULL;
    int rc = dln_weights_alloc(s, &Wb, err);
    if (!rc) rc = dln_weights_balanced_factor(s, ref->first_mode, Wb, err);
    if (!rc) rc = dln_network_set_weights(net, member, Wb);
    dln_lanczos_result lz = {0};
    if (!rc) rc = dln_hessian_extremes(net, member, SHARPNESS_ITERS, 2, NULL, &lz, err);
    if (!rc) rc = dln_network_set_weights(net, member, W);
    if (!rc) *lambda = lz.lambda_max;
    dln_weights_free(s->depth, Wb);
    return rc;
}

/* The curvature the rule assumes: the last estimate, never below the first mode's (the
 * floor); 0 where neither is positive (a flat saddle without a floor). */
static double assumed_lambda(const dln_tracker *k)
{
    return fmax(k->lambda > 0 && isfinite(k->lambda) ? k->lambda : 0.0, k->floor);
}

int dln_tracker_floor(dln_network *net, int member, const dln_shape *s, const dln_reference *ref, double *const *W,
                      double *floor, dln_error *err)
{
    double opt = NAN;
    DLN_TRY(first_mode_sharpness(net, member, s, ref, W, &opt, err));
    *floor = opt > 0 && isfinite(opt) ? opt : 0.0;
    return DLN_OK;
}

int dln_tracker_start(dln_tracker *k, dln_network *net, int member, const dln_shape *s, const dln_reference *ref,
                      double *const *W, int enabled, int every, double momentum, const double *floor, double *lr,
                      dln_error *err)
{
    memset(k, 0, sizeof *k);
    k->enabled = enabled, k->every = every > 0 ? every : 0, k->guard = momentum == 0.0, k->s = s, k->lambda = NAN;
    k->factor = DLN_LR_FACTOR * (1.0 - momentum);
    /* heavy ball has neither the watch nor the guard: its step is lowered beyond its own edge */
    k->unstable = k->guard ? DLN_LR_UNSTABLE : EDGE * (1.0 + momentum);
    /* without a closed-form reference value the watch starts at lr lambda = 1: between re-estimates the
     * sharpness can rise past 2 / lr (tests/test_losses.c, a logistic run at lr lambda 1.14
     * after a halving, 7% of seeds: a runaway of 1.99 -> 3e9 in the interval, unseen) and
     * only a watch step sees the loss double */
    k->watch = ref->kind != DLN_REFERENCE_CLOSED_FORM ? EDGE_NO_REFERENCE : EDGE;
    k->floor = 0.0;
    DLN_TRY(dln_weights_alloc(s, &k->v, err));
    dln_hessian_vectors hv = {NULL, NULL, k->v};
    dln_lanczos_result lz = {0};
    DLN_TRY(dln_hessian_extremes(net, member, SHARPNESS_ITERS, 1, &hv, &lz, err));
    k->lambda = lz.lambda_max;
    k->measured_at = 0;
    k->interval = 1, k->next_due = k->next_estimate = 1;
    k->gap_at_decision = INFINITY; /* set at the first decision step's check */
    if (!enabled) return DLN_OK;
    if (floor) k->floor = *floor;
    else DLN_TRY(dln_tracker_floor(net, member, s, ref, W, &k->floor, err));
    double lam = assumed_lambda(k);
    *lr = lam > 0 ? k->factor / lam : dln_auto_lr(s, W, ref) * (1.0 - momentum);
    if (!(*lr > 0) || !isfinite(*lr))
        return dln_fail(err, DLN_EINPUT, "could not derive a step size from the data (give one explicitly)");
    return DLN_OK;
}

int dln_tracker_due(const dln_tracker *k, long t) { return k->enabled && k->every > 0 && t > 0 && t == k->next_due; }

int dln_tracker_estimates(const dln_tracker *k, long t, int rose)
{
    return dln_tracker_due(k, t) && (t >= k->next_estimate || (rose && k->guard));
}

/* The next decision step after one at t: the next re-estimate, or the next step while
 * lr lambda > watch (EDGE, or EDGE_NO_REFERENCE) with plain gradient descent (a runaway rise of
 * the gap is seen in time) */
static void schedule(dln_tracker *k, long t, double lr)
{
    double lam = assumed_lambda(k);
    k->next_due = k->guard && lr * lam > k->watch ? t + 1 : k->next_estimate;
}

int dln_tracker_step(dln_tracker *k, dln_network *net, int member, long t, int rose, double *lr, dln_error *err)
{
    rose = rose && k->guard;
    if (!dln_tracker_due(k, t)) return DLN_OK;
    if (!dln_tracker_estimates(k, t, rose)) { /* a watch step, the gap has not doubled */
        schedule(k, t, *lr);
        return DLN_OK;
    }
    dln_hessian_vectors hv = {k->v, NULL, k->v};
    dln_lanczos_result lz = {0};
    DLN_TRY(dln_hessian_extremes(net, member, RESTART_ITERS, 1, &hv, &lz, err));
    double moved = lz.lambda_max / k->lambda;
    if (moved > MOVED || moved < 1.0 / MOVED || !isfinite(moved)) k->interval = k->interval > 1 ? k->interval / 2 : 1;
    else k->interval = 2 * k->interval < k->every ? 2 * k->interval : k->every;
    k->next_estimate = t + k->interval;
    k->lambda = lz.lambda_max;
    k->measured_at = t;
    /* the curvature assumed is never below the first mode's (the floor); no positive
     * curvature at all (a flat saddle, no floor): no growth, only the halving after a rise */
    double lam = assumed_lambda(k);
    double next = *lr;
    if (lam > 0 && *lr * lam > k->unstable) next = k->factor / lam;
    if (rose) next = fmin(next, 0.5 * *lr);
    else if (lam > 0 && *lr * lam < k->factor && !k->hold) next = fmin(*lr * MAX_GROWTH, k->factor / lam);
    if (next != *lr) k->changes++;
    *lr = next;
    schedule(k, t, next);
    return DLN_OK;
}

int dln_tracker_final(dln_tracker *k, dln_network *net, int member, long t, dln_error *err)
{
    if (!k->v || k->measured_at == t) return DLN_OK;
    dln_hessian_vectors hv = {k->v, NULL, k->v};
    dln_lanczos_result lz = {0};
    DLN_TRY(dln_hessian_extremes(net, member, SHARPNESS_ITERS, 1, &hv, &lz, err));
    k->lambda = lz.lambda_max;
    k->measured_at = t;
    return DLN_OK;
}

void dln_tracker_free(dln_tracker *k)
{
    dln_weights_free(k->s ? k->s->depth : 0, k->v);
    k->v = NULL;
}
