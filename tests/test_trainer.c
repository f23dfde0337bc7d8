/* test_trainer.c: dln_train on every backend. Trajectories of plain gradient descent
 * and heavy-ball momentum against the host reference loop (src/oracle); compressed
 * (C, M) and full (X, Y) runs following the same trajectory, also with rank-deficient X;
 * the reported loss against the host loss of the returned weights; convergence to the
 * shallow optimum L* from every init scheme; divergence and its stop reason; the step
 * count with and without a tolerance; the check interval not changing the trajectory
 * (unmeasured steps, captured as their own graph where there are graphs); and the
 * refusals of inconsistent inputs. The line search and long trajectories in every
 * precision are in test_trajectories.c. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_cases.h"

static void check_against_host(dln_backend_kind kind, double mu)
{
    tr_case c;
    int dims[] = {6, 4, 3, 5};
    tr_case_make(&c, kind, 3, dims, 20, 3, 0.2, 0);
    dln_rng g;
    dln_rng_seed(&g, c.seed, 21);
    double **W = ts_rand_weights(&g, &c.s, 1.0), **Wh = ts_copy_weights(&c.s, W), **W0 = ts_copy_weights(&c.s, W);
    /* a stable step from the library's rule, times (1 - mu) for the heavy ball */
    double lr = ts_auto_lr(&c.s, W, &c.sh, &c.d) * (1.0 - mu);
    dln_train_opts o = opts(lr, 200, 0.0, DLN_DATA_FULL);
    o.momentum = mu;
    dln_train_result res = train(&c, W, &o);
    ref_descent(&c.s, Wh, &c.d, lr, mu, 200);
    /* the same updates in the same order; GEMM blocking and FMA contraction differ by
     * ulps, and a stable descent does not amplify them: 1e-10 */
    double e = ts_rel_weights(&c.s, W, Wh);
    cr_expect_lt(e, 1e-10, "%s mu=%g: weights after 200 steps differ from the host loop by %.3e (seed %llu)",
                 ts_backend_label(kind), mu, e, SEED(&c));
    cr_expect_eq(res.steps, 200);
    cr_expect_eq(res.lr, lr, "the given step size is used as is");
    cr_expect_eq(res.compressed, 0);
    cr_expect_gt(ts_rel_weights(&c.s, W, W0), 1e-3, "the weights moved (seed %llu)", SEED(&c));
    cr_expect_lt(res.loss, res.loss_init, "the loss decreased");
    dln_weights_free(3, W), dln_weights_free(3, Wh), dln_weights_free(3, W0);
    tr_case_free(&c);
}

TestOnBackends(trainer, plain_descent_matches_host_loop) { check_against_host(TS_KIND, 0.0); }

TestOnBackends(trainer, heavy_ball_matches_host_loop) { check_against_host(TS_KIND, 0.9); }

/* ---- compressed and full data ---------------------------------------------------------- */

static void check_compressed(dln_backend_kind kind, int rx)
{
    tr_case c;
    int dims[] = {7, 5, 3, 6};
    tr_case_make(&c, kind, 3, dims, 40, 3, 0.3, rx);
    cr_assert_eq(c.sh.r, rx > 0 ? rx : 7, "rank of X (seed %llu)", SEED(&c));
    dln_rng g;
    dln_rng_seed(&g, c.seed, 22);
    double **Wf = ts_rand_weights(&g, &c.s, 1.0), **Wc = ts_copy_weights(&c.s, Wf);
    double lr = ts_auto_lr(&c.s, Wf, &c.sh, &c.d);
    dln_train_opts of = opts(lr, 2000, 0.0, DLN_DATA_FULL), oc = opts(lr, 2000, 0.0, DLN_DATA_COMPRESSED);
    dln_train_result rf = train(&c, Wf, &of), rc = train(&c, Wc, &oc);
    cr_expect_eq(rf.compressed, 0);
    cr_expect_eq(rc.compressed, 1);
    /* exact in exact arithmetic; per-step rounding differences of ~1e-16 are not
     * amplified by a stable descent, so 2000 steps stay far below 1e-10 */
    double e = ts_rel_weights(&c.s, Wc, Wf);
    cr_expect_lt(e, 1e-10, "rank(X)=%d: compressed vs full weights differ by %.3e (seed %llu)", c.sh.r, e,
                 SEED(&c));
    cr_expect_lt(ts_rel(rc.loss, rf.loss), 1e-10, "losses %.17g vs %.17g (seed %llu)", rc.loss, rf.loss, SEED(&c));
    cr_expect_lt(fabs(rc.gap - rf.gap) / c.sh.y_half, 1e-10, "gaps %.17g vs %.17g", rc.gap, rf.gap);
    cr_expect_lt(ts_rel(rc.loss_init, rf.loss_init), 1e-10, "initial losses");
    // (d) the reported loss is the loss of the returned weights
    double hf = ref_loss(&c.s, Wf, &c.d), hc = ref_loss(&c.s, Wc, &c.d);
    cr_expect_lt(ts_rel(rf.loss, hf), 1e-10, "full: res.loss %.17g vs host %.17g (seed %llu)", rf.loss, hf,
                 SEED(&c));
    cr_expect_lt(ts_rel(rc.loss, hc), 1e-10, "compressed: res.loss %.17g vs host %.17g (seed %llu)", rc.loss, hc,
                 SEED(&c));
    cr_expect_lt(fabs(rf.gap - (hf - c.sh.optimum)) / c.sh.y_half, 1e-12, "gap = loss - L*");
    cr_expect_lt(fabs(rf.rel_gap - rf.gap / c.sh.y_half), 1e-15, "rel_gap = gap / (1/2 ||Y||^2)");
    cr_expect_eq(rf.optimum, c.sh.optimum);
    dln_weights_free(3, Wf), dln_weights_free(3, Wc);
    tr_case_free(&c);
}

TestOnBackends(trainer, compressed_and_full_follow_the_same_trajectory) { check_compressed(TS_KIND, 0); }

TestOnBackends(trainer, compressed_and_full_agree_with_rank_deficient_x) { check_compressed(TS_KIND, 4); }

/* ---- convergence ----------------------------------------------------------------------- */

TestOnBackends(trainer, converges_to_shallow_optimum_from_every_init)
{
    tr_case c;
    int dims[] = {12, 4, 4, 12};
    tr_case_make(&c, TS_KIND, 3, dims, 60, 4, 0.1, 0);
    cr_assert(c.sh.hypotheses, "X and Y have full row rank");
    cr_assert(c.sh.constrained, "d_p = 4 < 12: the rank bound is active");
    dln_init_kind kinds[] = {DLN_INIT_GAUSSIAN, DLN_INIT_ORTHOGONAL, DLN_INIT_IDENTITY, DLN_INIT_BALANCED};
    for (int i = 0; i < 4; i++) {
        double **W;
        cr_assert_eq(dln_init_weights(&c.s, kinds[i], dln_init_default_scale(kinds[i]), c.seed, &W, &c.err),
                     DLN_OK);
        /* plain descent with the auto lr for every scheme (no line search): gaussian
         * init sits on plateaus, measured up to ~8e4 steps over 200 seeds, the others
         * ~1e3; a cap of 2e6 steps (~2 us each here) leaves a 25x margin */
        dln_train_opts o = opts(0.0, 2000000, 1e-6, DLN_DATA_AUTO);
        dln_train_result res = train(&c, W, &o);
        const char *name = dln_init_name(kinds[i]);
        cr_expect_eq(res.converged, 1, "%s %s: not converged after %ld steps, rel_gap %.3e, stop %d (seed %llu)",
                     ts_backend_label(c.kind), name, res.steps, res.rel_gap, (int)res.stop, SEED(&c));
        cr_expect_leq(res.rel_gap, 1e-6, "%s: rel_gap %.3e (seed %llu)", name, res.rel_gap, SEED(&c));
        cr_expect_lt(res.steps, 2000000, "%s: stopped on tol before the step limit", name);
        cr_expect_eq(res.diverged, 0);
        cr_expect_eq(res.compressed, 1, "auto picks the compressed data when r = 12 < m = 60");
        /* independently: the host loss of the returned weights is within tol of L*
         * (plus rounding of the two losses, ~1e-14 of 1/2||Y||^2) */
        double L = ref_loss(&c.s, W, &c.d);
        cr_expect_leq((L - c.sh.optimum) / c.sh.y_half, 1e-6 + 1e-12, "%s: host gap (seed %llu)", name, SEED(&c));
        cr_expect_geq((L - c.sh.optimum) / c.sh.y_half, -1e-12, "%s: below L* (seed %llu)", name, SEED(&c));
        dln_weights_free(3, W);
    }
    tr_case_free(&c);
}

TestOnBackends(trainer, huge_step_diverges_with_a_note)
{
    tr_case c;
    int dims[] = {6, 5, 4};
    tr_case_make(&c, TS_KIND, 2, dims, 30, 3, 0.1, 0);
    double **W = tr_init(&c, DLN_INIT_GAUSSIAN);
    double lr = 1e3 * ts_auto_lr(&c.s, W, &c.sh, &c.d);
    dln_train_opts o = opts(lr, 1000, 1e-6, DLN_DATA_AUTO);
    dln_train_result res = train(&c, W, &o);
    cr_expect_eq(res.diverged, 1, "lr %g: not diverged (seed %llu)", lr, SEED(&c));
    cr_expect_eq(res.converged, 0);
    cr_expect_lt(res.steps, 1000, "stopped early");
    cr_expect_eq(res.stop, DLN_STOP_DIVERGED, "stop reason %d", (int)res.stop);
    cr_expect(!isfinite(res.loss) || res.loss > 1e6 * res.loss_init, "loss %g from %g: not a blow-up", res.loss,
              res.loss_init);
    char why[256];
    dln_train_describe(&res, &o, why, sizeof why);
    cr_expect(strncmp(why, "diverged at step", 16) == 0, "description: %s", why);
    dln_weights_free(2, W);
    tr_case_free(&c);
}

TestOnBackends(trainer, step_counting)
{
    tr_case c;
    int dims[] = {5, 8, 4};
    tr_case_make(&c, TS_KIND, 2, dims, 25, 2, 0.1, 0);
    double **W = tr_init(&c, DLN_INIT_ORTHOGONAL);
    double **W2 = ts_copy_weights(&c.s, W);
    long N = 137;
    dln_train_opts o = opts(0.0, N, 0.0, DLN_DATA_AUTO);
    o.check_every = 10; /* N is not a multiple: the last step is still checked */
    dln_train_result res = train(&c, W, &o);
    cr_expect_eq(res.steps, N, "tol 0: exactly %ld steps, got %ld", N, res.steps);
    cr_expect_eq(res.converged, 0);
    cr_expect_lt(ts_rel(res.loss, ref_loss(&c.s, W, &c.d)), 1e-10, "loss read at the last step");
    dln_train_opts o2 = opts(0.0, 100000, 1e-4, DLN_DATA_AUTO);
    dln_train_result res2 = train(&c, W2, &o2);
    cr_expect_eq(res2.converged, 1, "stop %d (seed %llu)", (int)res2.stop, SEED(&c));
    cr_expect_lt(res2.steps, 100000);
    cr_expect_gt(res2.steps, 0);
    cr_expect_leq(res2.rel_gap, 1e-4);
    dln_train_opts o0 = opts(0.0, 0, 0.0, DLN_DATA_AUTO);
    dln_train_result res0 = train(&c, W2, &o0);
    cr_expect_eq(res0.steps, 0, "steps 0: no update");
    dln_weights_free(2, W), dln_weights_free(2, W2);
    tr_case_free(&c);
}

/* Reading the loss less often (unmeasured updates in between) must not change the
 * trajectory: the same weights, bit for bit, and a converged run stops at the first
 * checked step whose rel_gap is under tol. */
TestOnBackends(trainer, check_interval_does_not_change_the_trajectory)
{
    tr_case c;
    int dims[] = {6, 5, 3, 7};
    tr_case_make(&c, TS_KIND, 3, dims, 40, 2, 0.1, 0);
    double **W = tr_init(&c, DLN_INIT_ORTHOGONAL);
    double **W13 = ts_copy_weights(&c.s, W), **Wm = ts_copy_weights(&c.s, W), **Wm13 = ts_copy_weights(&c.s, W);
    dln_train_opts o = opts(0.0, 200, 0.0, DLN_DATA_FULL);
    o.check_every = 1;
    dln_train_result every = train(&c, W, &o);
    o.check_every = 13;
    dln_train_result sparse = train(&c, W13, &o);
    cr_expect_eq(ts_rel_weights(&c.s, W, W13), 0.0, "weights differ (seed %llu)", SEED(&c));
    cr_expect_eq(every.loss, sparse.loss, "final loss %.17g vs %.17g", every.loss, sparse.loss);
    cr_expect_eq(every.grad_norm, sparse.grad_norm, "final gradient norm");
    dln_train_opts om = opts(0.0, 200, 0.0, DLN_DATA_FULL);
    om.momentum = 0.8, om.check_every = 1;
    train(&c, Wm, &om);
    om.check_every = 13;
    train(&c, Wm13, &om);
    cr_expect_eq(ts_rel_weights(&c.s, Wm, Wm13), 0.0, "momentum weights differ (seed %llu)", SEED(&c));
    dln_weights_free(3, W13);
    W13 = ts_copy_weights(&c.s, Wm); /* any start; both runs below begin from it */
    double **Wb = ts_copy_weights(&c.s, Wm), **Wp = ts_copy_weights(&c.s, Wm);
    /* a tolerance this start surely reaches: the rel_gap after 700 steps of a probe run */
    ts_trace tr = {0};
    dln_train_opts probe = opts(0.0, 700, 0.0, DLN_DATA_FULL);
    probe.check_every = 1, probe.observer = ts_record, probe.observer_ctx = &tr;
    train(&c, Wp, &probe);
    double tol = tr.obs[tr.n - 1].rel_gap;
    cr_assert(tol > 0 && tr.obs[tr.n - 1].step == 700, "probe ended at step %ld, rel_gap %g", tr.obs[tr.n - 1].step, tol);
    ts_trace_free(&tr);
    dln_weights_free(3, Wp);
    dln_train_opts ot = opts(0.0, 100000, tol, DLN_DATA_FULL);
    ot.check_every = 1;
    dln_train_result r1 = train(&c, W13, &ot);
    ot.check_every = 13;
    dln_train_result r13 = train(&c, Wb, &ot);
    cr_expect_eq(r1.converged, 1, "stop %d (seed %llu)", (int)r1.stop, SEED(&c));
    cr_expect_eq(r13.converged, 1, "stop %d (seed %llu)", (int)r13.stop, SEED(&c));
    cr_expect_eq(r13.steps % 13, 0, "stopped at %ld, not a checked step", r13.steps);
    cr_expect(r13.steps >= r1.steps && r13.steps < r1.steps + 13, "steps %ld with every step checked, %ld with 13",
              r1.steps, r13.steps);
    dln_weights_free(3, W), dln_weights_free(3, W13), dln_weights_free(3, Wm), dln_weights_free(3, Wm13);
    dln_weights_free(3, Wb);
    tr_case_free(&c);
}

TestOnBackends(trainer, refuses_inconsistent_inputs)
{
    tr_case c;
    int dims[] = {6, 4, 5};
    tr_case_make(&c, TS_KIND, 2, dims, 20, 2, 0.1, 0);
    dln_rng g;
    dln_rng_seed(&g, c.seed, 23);
    dln_train_result res;
    dln_train_opts o = opts(0.0, 10, 0.0, DLN_DATA_AUTO);
    int bad_in[] = {7, 4, 5}, bad_out[] = {6, 4, 4};
    int *bad[] = {bad_in, bad_out};
    for (int b = 0; b < 2; b++) {
        dln_shape s;
        ts_shape(&s, 2, bad[b]);
        double **W = ts_rand_weights(&g, &s, 1.0);
        dln_error_clear(&c.err);
        cr_expect_eq(ts_train(c.be, &c.d, &c.sh, &s, 1, &W, &o, &res, &c.err), DLN_EINPUT,
                     "network %d -> %d on %d -> %d", s.dims[0], s.dims[2], c.d.dx, c.d.dy);
        cr_expect_neq(c.err.msg[0], '\0', "a message says why");
        dln_weights_free(2, W);
        dln_shape_free(&s);
    }
    double **W = ts_rand_weights(&g, &c.s, 1.0);
    dln_train_opts om = o;
    om.line_search = 1, om.momentum = 0.9;
    dln_error_clear(&c.err);
    cr_expect_eq(ts_train(c.be, &c.d, &c.sh, &c.s, 1, &W, &om, &res, &c.err), DLN_EINPUT, "line search + momentum");
    dln_shallow bare;
    dln_error_clear(&c.err);
    cr_assert_eq(dln_shallow_solve(c.be, &c.d, 4, 0.0, 0, &bare, &c.err), DLN_OK);
    dln_train_opts oc = opts(0.0, 10, 0.0, DLN_DATA_COMPRESSED);
    cr_expect_eq(ts_train(c.be, &c.d, &bare, &c.s, 1, &W, &oc, &res, &c.err), DLN_EINPUT, "compressed without C, M");
    dln_shallow_free(&bare);
    dln_weights_free(2, W);
    tr_case_free(&c);
}
