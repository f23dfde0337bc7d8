/* reference.c: what a run with a loss other than the square is measured against, and the
 * local-minimum certificate of every member's product (the experiment's side of
 * src/solver/convex.c, rank_k.c and certify.c; docs/maths.md sections 2.1 and 2.2).
 *  - No active rank bound (k >= min(dx, dy)): the convex problem's optimum (kind convex), or
 *    for logistic and softmax on separable data its unattained infimum 0 (kind unattained:
 *    no gap, the verdict "still decreasing (separable data)").
 *  - An active bound: the convex optimum as a lower bound and the best value certified by
 *    the rank-k solver's restarts (kind best known), with the distinct minima they reached;
 *    with no restarts asked, nothing (kind none, as a loss without a solver).
 *  - The certificate of a member's product R (dln_shallow_check_product): from R to the local
 *    minimum the shallow local solve reaches, certified there; R is a
 *    shallow local minimum when the end is certified and f fell by at most the run's match
 *    tolerance on the way, and it is global when its value is within that of the reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/clock.h"
#include "dln/diagnostics.h"
#include "run/experiment_internal.h"

#define MATCH 1e-6 /* as the verdict's (src/trainer/verdict.c): losses equal within this of f(0) */
/* certify by default when the certificate is cheap against the run: a product of at most
 * CHEAP_PRODUCT entries (the host SVD and rotations are O(dy dx (dy + dx)) per product),
 * data of at most CHEAP_DATA bytes on the backend beside the run's, a few members */
#define CHEAP_PRODUCT 4096
#define CHEAP_DATA (64.0 * 1024 * 1024)
#define CHEAP_MEMBERS 64

int dln_exp_rank_bound_active(const dln_experiment *e, int k)
{
    int full = e->d.dx < e->d.dy ? e->d.dx : e->d.dy;
    return k > 0 && k < full;
}

int dln_exp_other_reference(dln_experiment *e, int k)
{
    const dln_data *d = &e->d;
    int active = dln_exp_rank_bound_active(e, k);
    double t0 = dln_clock_seconds();
    e->other_rank = k;
    if (active && e->o.shallow_restarts == 0 && e->o.command == DLN_EXPERIMENT_SOLVE)
        return dln_exp_at(e, DLN_PART_LOSS, dln_fail(e->err, DLN_EINPUT, "a rank bound of %d with no restarts: nothing "
                                                     "to solve (--shallow-restarts N >= 1)", k));
    if (active && e->o.shallow_restarts > 0) { /* the restarts, with the convex solve as the lower bound */
        DLN_TRY(dln_shallow_rank_k(e->be, e->obj, d, k, e->o.shallow_restarts, e->o.seed, &e->rk, e->err));
        e->rank_k_solved = e->convex_solved = 1;
        e->cx = e->rk.convex;
        if (e->rk.certified == 0)
            dln_exp_note(e, "none of the %d rank-%d restarts ended at a certified local minimum (%d saddles, %d "
                         "unconverged, %d unattained): no best-known value", e->rk.restarts, k, e->rk.saddles,
                         e->rk.unconverged, e->rk.unattained);
        else if (e->rk.n_minima > 1)
            dln_exp_note(e, "the rank-%d shallow problem has %d distinct local minima among %d certified restarts: it "
                         "has non-global local minima of its own for this loss and data", k, e->rk.n_minima,
                         e->rk.certified);
    } else if (!active) { /* the convex problem */
        double *R = calloc((size_t)d->dy * (size_t)d->dx, sizeof(double));
        if (!R) return dln_fail(e->err, DLN_ENOMEM, "out of host memory");
        int rc = dln_shallow_convex(e->be, e->obj, d, DLN_CONVEX_TOL, DLN_CONVEX_MAX_ITER, R, &e->cx, e->err);
        free(R);
        DLN_TRY(rc);
        e->convex_solved = 1;
    } /* else --shallow-restarts 0 with an active bound: no reference at all */
    if (e->convex_solved && !e->cx.converged && !e->cx.unattained)
        dln_exp_note(e, "the convex solve stopped at a relative gradient norm %.3g (tolerance %g) after %d Newton "
                     "steps", e->cx.grad_norm / e->cx.grad_norm0, DLN_CONVEX_TOL, e->cx.iterations);
    e->solve_seconds = dln_clock_seconds() - t0;
    if (e->o.command == DLN_EXPERIMENT_SOLVE) return DLN_OK;
    e->fit = (dln_fit){.objective = e->obj, .dx = d->dx, .dy = d->dy, .m = d->m, .X = d->X, .Y = d->Y};
    dln_reference_none(&e->ref, e->convex_solved ? e->cx.zero_value : dln_objective_zero_loss(e->obj, d->Y, d->dy, d->m));
    e->ref.input_norm = dln_spectral_norm(d->dx, d->m, d->X, 0, NULL, DLN_NORM_ITERS);
    e->ref.grad_scale = e->convex_solved ? e->cx.grad_norm0 : NAN;
    e->ref.rank_bound = k;
    e->ref.matrix = e->o.matrix ? &e->mx : NULL;
    if (!active && e->cx.unattained) {
        e->ref.kind = DLN_REFERENCE_UNATTAINED;
    } else if (!active) {
        e->ref.kind = DLN_REFERENCE_CONVEX;
        e->ref.optimum = e->ref.optimum_compressed = e->cx.value;
    } else if (e->rank_k_solved && e->rk.certified > 0) {
        e->ref.kind = DLN_REFERENCE_BEST_KNOWN;
        e->ref.optimum = e->ref.optimum_compressed = e->rk.best;
    }
    return DLN_OK;
}

int dln_exp_certify_wanted(const dln_experiment *e)
{
    if (e->o.certify >= 0) return e->o.certify;
    double data = 8.0 * (double)e->d.m * (double)(e->d.dx + 4 * e->d.dy);
    return (double)e->d.dx * e->d.dy <= CHEAP_PRODUCT && data <= CHEAP_DATA && e->members <= CHEAP_MEMBERS &&
           e->ref.kind != DLN_REFERENCE_UNATTAINED;
}

int dln_exp_certify_member(dln_experiment *e, long b, double *const *W)
{
    dln_member_certificate *c = &e->cert[b];
    const dln_data *d = &e->d;
    int k = dln_shape_narrowest(&e->s);
    size_t n = (size_t)d->dy * d->dx;
    double *R = malloc(sizeof(double) * n);
    if (!R) return dln_fail(e->err, DLN_ENOMEM, "out of host memory");
    int rc = dln_weights_product(&e->s, W, R, e->err);
    /* the member's seed for the Lanczos starts: a batch's member is its single run */
    if (!rc) rc = dln_shallow_check_product(e->be, e->obj, d, R, k, e->spec[b].seed, &c->check, e->err);
    free(R);
    DLN_TRY(rc);
    double match = fmax(e->o.train.tol, MATCH) * e->ref.zero_loss;
    c->done = 1;
    c->local_min = c->check.end.local_min && c->check.moved <= match;
    if (!c->local_min) c->verdict = "not a shallow local minimum";
    else if (isfinite(e->ref.optimum) && c->check.at.value <= e->ref.optimum + match) c->verdict = "global";
    else if (isfinite(e->ref.optimum)) c->verdict = "shallow local minimum above the best known";
    else c->verdict = "shallow local minimum";
    return DLN_OK;
}
