/* note.c: the one line that says why a run stopped (dln_train_describe), in the library's
 * terms: which stopping rule ended it and, at the step limit, what the verdict says about
 * where it stands. Every form fits in DLN_TRAIN_NOTE_MAX bytes (tests/test_verdict.c). */
#include <math.h>
#include <stdio.h>

#include "trainer/trainer_internal.h"

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
    case DLN_STOP_GRAD_TOL:
        snprintf(buf, n, "the gradient norm fell below grad_tol %g of its start at step %ld%s", o->grad_tol, r->steps,
                 r->verdict == DLN_VERDICT_TOLERANCE ? " (no reference value to compare the loss with)" : "");
        break;
    case DLN_STOP_LOSS_TOL:
        snprintf(buf, n, "the loss changed by at most loss_tol %g of itself between checks at step %ld%s", o->loss_tol,
                 r->steps, r->verdict == DLN_VERDICT_TOLERANCE ? " (no reference value to compare the loss with)" : "");
        break;
    default: snprintf(buf, n, "stopped (reason %d)", (int)r->stop); break;
    }
}
