/* verdict.c: where a run ended and why (docs/maths.md section 8), from its result, its
 * last checked steps and the reference's rank path. The gradient is judged on the data's
 * scale, grad_rel = ||G|| / (sigma_1(X) ||Y||) (the gradient of the zero network has
 * ||G_1|| <= that with unit layers): "small" below SMALL_GRAD, "at rounding level" below
 * ROUNDING_GRAD. A loss "is" L*_j within max(tol, MATCH) of the zero loss (1/2 ||Y||^2), and
 * the run is at the global optimum when rel_gap <= tol (MATCH when tol is 0). Without a
 * reference value nothing is compared with an optimum: a run that met its gradient or
 * loss-change tolerance is DLN_VERDICT_TOLERANCE, others are judged by the window alone. */
#include <math.h>

#include "trainer/trainer_internal.h"

#define SMALL_GRAD 1e-6
#define ROUNDING_GRAD 1e-12
#define MATCH 1e-6
#define MIN_WINDOW 2 /* checks needed to call a run oscillating or to estimate a rate */
#define MIN_EFFICIENCY 0.05 /* below: the steps' work goes into oscillation (lr lambda > 1.9) */
/* A run on a rank path (loss = L*_j) is stalled there when, at the window's rate, reaching tol
 * would take over STALL_FACTOR times the steps made so far: the gap to L* is not closing, the
 * loss is settling onto the saddle's value (a depth-10 width-4 Gaussian sweep put 19 of 24
 * runs at L*_3 within 2e-8 of 1/2 ||Y||^2, gradients 1e-5..1e-3 of the scale, estimates
 * 1e9..1e12 steps: bench/results/cpu-20261124/verdict-sweep/README.md). A run that is merely slow
 * and happens to cross L*_j at its last step has a moderate estimate. */
#define STALL_FACTOR 100.0
/* A stalled run settling onto L*_j from above, or leaving it slowly, is a little off it (those
 * runs: 1e-6 to 1e-5 of 1/2 ||Y||^2 over L*_3, against 0.14 from L*_3 down to L*; a second
 * sweep, data seed 7, had runs 5.6e-5 below and 7.9e-5 above L*_6 = L* + 0.046 (1/2 ||Y||^2),
 * with rates needing 2e7-4e7 more steps): it matches L*_j within NEAR (L*_j - L*), a hundredth
 * of the way down to the optimum, besides the absolute match. */
#define NEAR 1e-2

const char *dln_verdict_name(dln_verdict v)
{
    static const char *const names[] = {"global",   "critical", "stationary, not a minimum", "still decreasing",
                                        "oscillating", "diverged", "stopped", "tolerance met, no reference",
                                        "still decreasing (separable data)"};
    return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "unknown";
}

/* The loss stopped going down: the lowest loss of the window's second half is not below
 * the lowest of its first half. */
static int not_decreasing(const dln_check_record *w, int n)
{
    double first = INFINITY, second = INFINITY;
    for (int i = 0; i < n; i++) {
        if (i < n / 2) first = fmin(first, w[i].loss);
        else second = fmin(second, w[i].loss);
    }
    return !(second < first);
}

/* The loss decrease over the window against what sound steps give: a step lr along -G
 * lowers the loss by lr ||G||^2 (1 - lr g^T H g / (2 ||G||^2)) to second order, so the
 * ratio is 1 - lr lambda_eff / 2: near 1 for small steps, 0 where the step bounces across
 * a valley (lr lambda_eff = 2) and negative above. Each check's lr ||G||^2 stands for the
 * steps up to the next check (with a period-2 bounce the checks may all fall on one side;
 * the gradient is large on both). */
static double efficiency(const dln_check_record *w, int n)
{
    double sound = 0.0;
    for (int i = 0; i + 1 < n; i++) sound += (double)(w[i + 1].step - w[i].step) * w[i].lr * w[i].grad_sumsq;
    return sound > 0 && isfinite(sound) ? (w[0].loss - w[n - 1].loss) / sound : NAN;
}

/* Steps to gap <= tol 1/2 ||Y||^2 at the window's geometric rate, or NaN. */
static double steps_to_tol(const dln_check_record *w, int n, double target)
{
    double g0 = w[0].gap, g1 = w[n - 1].gap;
    long dt = w[n - 1].step - w[0].step;
    if (!(g0 > 0 && g1 > 0 && g1 < g0 && dt > 0 && target > 0)) return NAN;
    double rate = log(g0 / g1) / (double)dt; /* per step */
    return g1 <= target ? 0.0 : log(g1 / target) / rate;
}

/* The loss of a critical point off the rank path: the product holds j modes of the target, the
 * top j with mode a (<= j) swapped for a lower mode b (> j): L*_j + (sigma_a^2 - sigma_b^2) / 2
 * (a held-out sweep had a depth-10 width-8 run stalled there with modes 1-5 and 7 learnt).
 * One swap only: the subsets further from the rank path are not searched. The values are dense
 * where M has many small singular values, so the smallest j, then a, then b that matches is
 * taken: within `match`, or for a stalled run (near) within NEAR (v - L*) as on the rank path.
 * Sets verdict_rank, verdict_skipped and verdict_added on a match. */
static int swapped_value(dln_train_result *res, const dln_reference *ref, int k, double match, int near)
{
    int n = ref->n_ranks - 1; /* the target's mode strengths */
    for (int j = 1; ref->target_sv && j <= k && j < ref->n_ranks; j++)
        for (int a = 1; a <= j; a++)
            for (int b = j + 1; b <= n; b++) {
                const double *sv = ref->target_sv;
                double v = ref->by_rank[j] + 0.5 * (sv[a - 1] * sv[a - 1] - sv[b - 1] * sv[b - 1]);
                double tol = near ? fmax(match, NEAR * (v - ref->optimum)) : match;
                if (fabs(res->loss - v) <= tol && v > ref->optimum + match) {
                    res->verdict_rank = j, res->verdict_skipped = a, res->verdict_added = b;
                    return 1;
                }
            }
    return 0;
}

void dln_judge(dln_train_result *res, const dln_check_record *window, int n, const dln_reference *ref,
               const dln_shape *s, double tol)
{
    double scale = ref->grad_scale;
    res->grad_rel = scale > 0 ? res->grad_norm / scale : NAN;
    res->verdict_rank = -1;
    res->verdict_skipped = res->verdict_added = 0;
    res->steps_to_tol = NAN;
    if (res->diverged) {
        res->verdict = DLN_VERDICT_DIVERGED;
        return;
    }
    if (res->converged || res->rel_gap <= (tol > 0 ? tol : MATCH)) {
        res->verdict = DLN_VERDICT_GLOBAL;
        return;
    }
    if (res->stop == DLN_STOP_OBSERVER) {
        res->verdict = DLN_VERDICT_STOPPED;
        return;
    }
    if (ref->kind == DLN_REFERENCE_UNATTAINED) { /* no minimum to reach: the margins grow forever */
        res->verdict = DLN_VERDICT_SEPARABLE;
        return;
    }
    int referenced = dln_reference_has_value(ref);
    if (!referenced && (res->stop == DLN_STOP_GRAD_TOL || res->stop == DLN_STOP_LOSS_TOL ||
                        res->stop == DLN_STOP_NO_DECREASE)) {
        res->verdict = DLN_VERDICT_TOLERANCE;
        return;
    }
    int k = dln_shape_narrowest(s), small = referenced && res->grad_rel <= SMALL_GRAD, stalled = 0;
    double match = fmax(tol, MATCH) * ref->zero_loss;
    if (referenced && !small && n >= MIN_WINDOW) { /* not leaving: decreasing far too slowly, or not at all */
        double stt = steps_to_tol(window, n, tol * ref->zero_loss);
        stalled = isfinite(stt) ? stt > STALL_FACTOR * (double)(res->steps > 0 ? res->steps : 1)
                                : not_decreasing(window, n);
    }
    for (int j = 0; ref->by_rank && (small || stalled) && j < k && j < ref->n_ranks; j++) {
        double lj = ref->by_rank[j], near = small ? match : fmax(match, NEAR * (lj - ref->optimum));
        if (fabs(res->loss - lj) <= near && lj > ref->optimum + match) {
            res->verdict = DLN_VERDICT_CRITICAL;
            res->verdict_rank = j;
            return;
        }
    }
    if ((small || stalled) && swapped_value(res, ref, k, match, !small)) {
        res->verdict = DLN_VERDICT_STATIONARY;
        return;
    }
    if (res->grad_rel <= ROUNDING_GRAD || res->stop == DLN_STOP_NO_DECREASE) {
        res->verdict = DLN_VERDICT_STATIONARY;
        return;
    }
    if (n >= MIN_WINDOW && (not_decreasing(window, n) || efficiency(window, n) < MIN_EFFICIENCY)) {
        res->verdict = DLN_VERDICT_OSCILLATING;
        return;
    }
    res->verdict = DLN_VERDICT_DECREASING;
    if (n >= 2) res->steps_to_tol = steps_to_tol(window, n, tol * ref->zero_loss);
}
