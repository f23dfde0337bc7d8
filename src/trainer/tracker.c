/* tracker.c: the sharpness rule during a run (docs/maths.md section 5). The step size is
 * c / lambda_max (DLN_LR_FACTOR), lambda_max the largest eigenvalue of the Hessian at the
 * current weights by Lanczos on exact Hessian-vector products (times 1 - mu with heavy-ball
 * momentum mu, whose steady step is lr / (1 - mu)): SHARPNESS_ITERS products
 * from a random start at the beginning, then every `every` steps RESTART_ITERS products
 * warm-started from the last top eigenvector (those steps are checked steps). A re-estimate
 * may at most double the step (the sharpness can fall fast on a plateau's exit and rise
 * again), and at least halves it when the loss rose since the previous re-estimate. Only
 * re-estimate steps decide, so the check interval does not change the trajectory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/diagnostics.h"
#include "trainer/trainer_internal.h"

#define SHARPNESS_ITERS 20
#define RESTART_ITERS 6
#define MAX_GROWTH 2.0

int dln_tracker_start(dln_tracker *k, dln_network *net, const dln_shape *s, const dln_shallow *sh, double *const *W,
                      int enabled, int every, double momentum, double *lr, dln_error *err)
{
    memset(k, 0, sizeof *k);
    k->enabled = enabled, k->every = every > 0 ? every : 0, k->guard = momentum == 0.0, k->s = s, k->lambda = NAN;
    k->factor = DLN_LR_FACTOR * (1.0 - momentum);
    DLN_TRY(dln_weights_alloc(s, &k->v, err));
    dln_hessian_vectors hv = {NULL, NULL, k->v};
    dln_lanczos_result lz = {0};
    DLN_TRY(dln_hessian_extremes(net, s, SHARPNESS_ITERS, 1, &hv, &lz, err));
    k->lambda = lz.lambda_max;
    k->measured_at = 0;
    k->loss_at_estimate = INFINITY; /* set at the first re-estimate step's check */
    if (!enabled) return DLN_OK;
    *lr = lz.lambda_max > 0 && isfinite(lz.lambda_max) ? k->factor / lz.lambda_max
                                                        : dln_auto_lr(s, W, sh) * (1.0 - momentum);
    if (!(*lr > 0) || !isfinite(*lr))
        return dln_fail(err, DLN_EINPUT, "could not derive a step size from the data (give one explicitly)");
    return DLN_OK;
}

int dln_tracker_due(const dln_tracker *k, long t) { return k->enabled && k->every > 0 && t > 0 && t % k->every == 0; }

int dln_tracker_step(dln_tracker *k, dln_network *net, long t, int rose, double *lr, dln_error *err)
{
    rose = rose && k->guard;
    if (!dln_tracker_due(k, t)) return DLN_OK;
    dln_hessian_vectors hv = {k->v, NULL, k->v};
    dln_lanczos_result lz = {0};
    DLN_TRY(dln_hessian_extremes(net, k->s, RESTART_ITERS, 1, &hv, &lz, err));
    k->lambda = lz.lambda_max;
    k->measured_at = t;
    /* no positive curvature measured (a flat saddle): no growth, only the halving after a rise */
    double next = *lr * (rose ? 0.5 : 1.0);
    if (lz.lambda_max > 0 && isfinite(lz.lambda_max))
        next = fmin(*lr * (rose ? 0.5 : MAX_GROWTH), k->factor / lz.lambda_max);
    if (next != *lr) k->changes++;
    *lr = next;
    return DLN_OK;
}

int dln_tracker_final(dln_tracker *k, dln_network *net, long t, dln_error *err)
{
    if (!k->v || k->measured_at == t) return DLN_OK;
    dln_hessian_vectors hv = {k->v, NULL, k->v};
    dln_lanczos_result lz = {0};
    DLN_TRY(dln_hessian_extremes(net, k->s, RESTART_ITERS, 1, &hv, &lz, err));
    k->lambda = lz.lambda_max;
    k->measured_at = t;
    return DLN_OK;
}

void dln_tracker_free(dln_tracker *k)
{
    dln_weights_free(k->s ? k->s->depth : 0, k->v);
    k->v = NULL;
}
