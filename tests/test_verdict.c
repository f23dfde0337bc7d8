/* test_verdict.c: the verdict of a training run (dln_train_result.verdict) on every
 * backend, on problems whose critical points are known in closed form: X = I (3 x 3),
 * Y = diag(3, 2, 1), so L*_j = 1/2 sum_{i>j} sigma_i^2 = 7, 2.5, 0.5, 0 for j = 0..3, and a
 * width-2 network (k = 2) whose second hidden unit is dead (its row of W_1 and column of
 * W_2 are zero: gradient descent keeps it so). Started on the top mode it converges to the
 * rank-1 optimum 2.5 = L*_1 (a saddle of the full problem); started exactly on the second
 * mode it converges to 1/2 (9 + 1) = 5, a critical value on no rank path (a stationary
 * point that is not a minimum). Plus W = 0 at depth 3 (rank 0, gradient exactly 0), a
 * converged run, a run stopped early, a growing one and a diverged one. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

typedef struct {
    dln_error err;
    dln_backend *be;
    dln_data d;
    dln_shallow sh;
    dln_shape s;
} vd_case;

/* X = I_3, Y = diag(3, 2, 1); a network 3 -> hidden -> 3 of the given depth. */
static void vd_make(vd_case *c, dln_backend_kind kind, int depth, int hidden)
{
    c->be = ts_backend(kind, &c->err);
    double *X = calloc(9, sizeof(double)), *Y = calloc(9, sizeof(double));
    for (int i = 0; i < 3; i++) X[i + 3 * i] = 1.0, Y[i + 3 * i] = 3.0 - i;
    c->d = ts_data(3, 3, 3, X, Y);
    int dims[8] = {3};
    for (int i = 1; i < depth; i++) dims[i] = hidden;
    dims[depth] = 3;
    ts_shape(&c->s, depth, dims);
    cr_assert_eq(dln_shallow_solve(c->be, &c->d, dln_shape_narrowest(&c->s), 0, 1, &c->sh, &c->err), DLN_OK, "%s",
                 c->err.msg);
}

static void vd_free(vd_case *c)
{
    dln_shallow_free(&c->sh);
    dln_shape_free(&c->s);
    dln_data_free(&c->d);
    dln_backend_destroy(c->be);
}

static dln_train_result vd_train(vd_case *c, double **W, double lr, long steps, double tol)
{
    dln_train_opts o;
    dln_train_opts_default(&o);
    o.lr = lr, o.steps = steps, o.tol = tol, o.check_every = 1; /* the same checks on every backend */
    dln_train_result r;
    cr_assert_eq(ts_train(c->be, &c->d, &c->sh, &c->s, 1, &W, &o, &r, &c->err), DLN_OK, "%s", c->err.msg);
    return r;
}

/* Depth 2, width 2, unit 2 dead; unit 1 = a e_mode^T in W_1 and b e_mode in W_2. */
static double **dead_unit(const dln_shape *s, int mode, double a, double b)
{
    double **W;
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_weights_alloc(s, &W, &err), DLN_OK);
    W[0][0 + 2 * mode] = a; /* W_1 (2, 3): row 0 */
    W[1][mode + 3 * 0] = b; /* W_2 (3, 2): column 0 */
    return W;
}

TestOnBackends(verdict, rank_path_values)
{
    vd_case c;
    vd_make(&c, TS_KIND, 2, 2);
    const double want[] = {7.0, 2.5, 0.5, 0.0};
    cr_assert_eq(c.sh.n_ranks, 4);
    for (int j = 0; j < 4; j++) cr_expect_lt(fabs(c.sh.optimum_by_rank[j] - want[j]), 1e-13, "L*_%d = %.17g", j, c.sh.optimum_by_rank[j]);
    vd_free(&c);
}

TestOnBackends(verdict, a_dead_unit_converges_to_the_rank_1_saddle)
{
    vd_case c;
    vd_make(&c, TS_KIND, 2, 2);
    double **W = dead_unit(&c.s, 0, 0.3, 0.2);
    dln_train_result r = vd_train(&c, W, 0.05, 20000, 1e-6);
    cr_expect_eq(r.verdict, DLN_VERDICT_CRITICAL, "verdict %s, loss %.17g, grad_rel %.3e", dln_verdict_name(r.verdict),
                 r.loss, r.grad_rel);
    cr_expect_eq(r.verdict_rank, 1, "rank %d", r.verdict_rank);
    cr_expect_lt(fabs(r.loss - 2.5), 1e-9, "loss %.17g", r.loss);
    cr_expect_eq(W[0][1 + 2 * 1], 0.0, "the dead unit stayed dead");
    dln_weights_free(2, W);
    vd_free(&c);
}

TestOnBackends(verdict, the_second_mode_is_stationary_but_not_a_minimum)
{
    vd_case c;
    vd_make(&c, TS_KIND, 2, 2);
    double **W = dead_unit(&c.s, 1, 0.3, 0.2);
    dln_train_result r = vd_train(&c, W, 0.05, 20000, 1e-6);
    cr_expect_eq(r.verdict, DLN_VERDICT_STATIONARY, "verdict %s, loss %.17g, grad_rel %.3e",
                 dln_verdict_name(r.verdict), r.loss, r.grad_rel);
    cr_expect_lt(fabs(r.loss - 5.0), 1e-9, "loss %.17g", r.loss);
    dln_weights_free(2, W);
    vd_free(&c);
}

TestOnBackends(verdict, zero_weights_at_depth_3_are_the_rank_0_critical_point)
{
    vd_case c;
    vd_make(&c, TS_KIND, 3, 2);
    double **W;
    cr_assert_eq(dln_weights_alloc(&c.s, &W, &c.err), DLN_OK);
    dln_train_result r = vd_train(&c, W, 0.05, 50, 1e-6);
    cr_expect_eq(r.grad_norm, 0.0, "the gradient at W = 0 is exactly 0");
    cr_expect_eq(r.verdict, DLN_VERDICT_CRITICAL, "verdict %s", dln_verdict_name(r.verdict));
    cr_expect_eq(r.verdict_rank, 0);
    dln_weights_free(3, W);
    vd_free(&c);
}

TestOnBackends(verdict, global_decreasing_oscillating_diverged)
{
    vd_case c;
    vd_make(&c, TS_KIND, 2, 3); /* width 3: k = 3, L* = 0 */
    dln_rng g;
    dln_rng_seed(&g, ts_seed(), 61);
    double **W0 = ts_rand_weights(&g, &c.s, 0.5), **W = ts_copy_weights(&c.s, W0);
    dln_train_result r = vd_train(&c, W, 0.05, 100000, 1e-8);
    cr_expect_eq(r.verdict, DLN_VERDICT_GLOBAL, "verdict %s, rel_gap %.3e", dln_verdict_name(r.verdict), r.rel_gap);
    dln_weights_free(2, W);
    W = ts_copy_weights(&c.s, W0);
    r = vd_train(&c, W, 0.01, 200, 1e-8); /* far from done after 200 small steps */
    /* a start whose third mode is small sits on the rank-2 plateau after 200 steps, which the
     * stalled-run rule calls critical (seen once in ten emulated-suite runs on 2026-11-24); any
     * other start is still decreasing, with an estimate of the steps to tol */
    if (r.verdict == DLN_VERDICT_CRITICAL) {
        cr_expect(r.verdict_rank >= 1 && r.verdict_rank < 3, "critical at rank %d", r.verdict_rank);
    } else {
        cr_expect_eq(r.verdict, DLN_VERDICT_DECREASING, "verdict %s", dln_verdict_name(r.verdict));
        cr_expect(r.steps_to_tol > 0 && isfinite(r.steps_to_tol), "steps to tol %g", r.steps_to_tol);
    }
    dln_weights_free(2, W);
    W = ts_copy_weights(&c.s, W0);
    r = vd_train(&c, W, 10.0, 1000, 1e-8);
    cr_expect_eq(r.verdict, DLN_VERDICT_DIVERGED, "verdict %s", dln_verdict_name(r.verdict));
    dln_weights_free(2, W), dln_weights_free(2, W0);
    vd_free(&c);
}

/* Depth 1 on X = I: the Hessian is the identity, so lr = 2.5 multiplies the error by -1.5
 * each step: the loss grows 2.25-fold per step, 1.7e4-fold in 12 steps, below the 1e6
 * blow-up: not decreasing, not diverged. */
TestOnBackends(verdict, a_step_above_stability_is_oscillating)
{
    vd_case c;
    vd_make(&c, TS_KIND, 1, 0);
    double **W;
    cr_assert_eq(dln_weights_alloc(&c.s, &W, &c.err), DLN_OK);
    dln_train_result r = vd_train(&c, W, 2.5, 12, 1e-8);
    cr_expect_eq(r.verdict, DLN_VERDICT_OSCILLATING, "verdict %s, loss %g from %g", dln_verdict_name(r.verdict),
                 r.loss, r.loss_init);
    cr_expect_lt(fabs(r.loss / r.loss_init - pow(2.25, 12)), 1e-6 * pow(2.25, 12), "growth %g", r.loss / r.loss_init);
    dln_weights_free(1, W);
    vd_free(&c);
}

/* Depth 1 on X = I (the Hessian is the identity, lambda_max = 1): lr = 1.98 multiplies the
 * error by -0.98 a step, so the loss falls monotonically by 0.9604 a step, but a sound step
 * of that size would lower it by lr ||G||^2 = 3.96 L: 1% of that is bouncing across the
 * valley (oscillating, with lambda_max measured at the end: exactly 1); lr = 0.3 keeps 85%
 * (decreasing). */
TestOnBackends(verdict, a_bouncing_step_is_oscillating_though_the_loss_falls)
{
    vd_case c;
    vd_make(&c, TS_KIND, 1, 0);
    double **W;
    cr_assert_eq(dln_weights_alloc(&c.s, &W, &c.err), DLN_OK);
    dln_train_result r = vd_train(&c, W, 1.98, 300, 1e-14);
    cr_expect_lt(r.loss, r.loss_init * 1e-3, "the loss fell: %g from %g", r.loss, r.loss_init);
    cr_expect_eq(r.verdict, DLN_VERDICT_OSCILLATING, "verdict %s", dln_verdict_name(r.verdict));
    cr_expect_lt(fabs(r.sharpness - 1.0), 1e-9, "lambda_max measured at the end: %.17g", r.sharpness);
    dln_weights_free(1, W);
    cr_assert_eq(dln_weights_alloc(&c.s, &W, &c.err), DLN_OK);
    r = vd_train(&c, W, 0.3, 30, 1e-14);
    cr_expect_eq(r.verdict, DLN_VERDICT_DECREASING, "verdict %s", dln_verdict_name(r.verdict));
    cr_expect(isnan(r.sharpness), "not measured for a decreasing run: %g", r.sharpness);
    dln_weights_free(1, W);
    vd_free(&c);
}

/* The note of an oscillating run says whose step it was: the sharpness rule holds lr lambda
 * between 1.8 and 4 on purpose (the edge of stability), so its runs are not told their step
 * is too large; a given step above 2 / lambda_max is; above 4 the rule would have cut the
 * step, so a rule run there is described as a given step is. */
Test(verdict, the_oscillating_note_names_the_rules_step)
{
    dln_train_result r;
    memset(&r, 0, sizeof r);
    r.stop = DLN_STOP_STEP_LIMIT, r.verdict = DLN_VERDICT_OSCILLATING, r.lr = 0.01, r.sharpness = 205.0;
    dln_train_opts o;
    dln_train_opts_default(&o);
    char buf[512];
    dln_train_describe(&r, &o, buf, sizeof buf); /* lr <= 0: the sharpness rule's */
    cr_expect(strstr(buf, "sharpness rule") && strstr(buf, "2.05"), "%s", buf);
    cr_expect(!strstr(buf, "too large"), "%s", buf);
    o.lr = 0.01; /* the same step, given */
    dln_train_describe(&r, &o, buf, sizeof buf);
    cr_expect(strstr(buf, "too large") && !strstr(buf, "sharpness rule"), "%s", buf);
    o.lr = 0.0, o.lr_rule = DLN_LR_ARORA; /* the other rule makes no such choice */
    dln_train_describe(&r, &o, buf, sizeof buf);
    cr_expect(strstr(buf, "too large") && !strstr(buf, "sharpness rule"), "%s", buf);
    o.lr_rule = DLN_LR_SHARPNESS, r.sharpness = 500.0; /* lr lambda 5 > 4 */
    dln_train_describe(&r, &o, buf, sizeof buf);
    cr_expect(strstr(buf, "too large") && !strstr(buf, "sharpness rule"), "%s", buf);
}

/* Every form of the note, with the widest numbers %ld and %.3g / %g can print (LONG_MIN,
 * -1.23e-300, INT_MIN), fits in DLN_TRAIN_NOTE_MAX bytes with its NUL: a caller that sizes
 * its buffer by it is never cut short (the CLI's batch once used 256 bytes and cut the
 * sharpness rule's oscillation note, so its lines differed from the package's). Planted:
 * DLN_TRAIN_NOTE_MAX 256 fails on that note. */
Test(verdict, every_note_fits_in_the_documented_bound)
{
    const double wide = -1.23456789e-300;
    const double sharp[] = {NAN, wide, 1.0 / 0.01 * 1.9, 1.0 / 0.01 * 3.0, 1.0 / 0.01 * 5.0};
    const double lrs[] = {0.0, 0.01};
    int forms = 0;
    for (int stop = DLN_STOP_CONVERGED; stop <= DLN_STOP_OBSERVER + 1; stop++)
        for (int verdict = DLN_VERDICT_GLOBAL; verdict <= DLN_VERDICT_STOPPED + 1; verdict++)
            for (size_t si = 0; si < sizeof sharp / sizeof *sharp; si++)
                for (size_t li = 0; li < 2; li++)
                    for (int rule = DLN_LR_SHARPNESS; rule <= DLN_LR_ARORA; rule++)
                        for (int skipped = 0; skipped < 2; skipped++)
                            for (int finite_tol = 0; finite_tol < 2; finite_tol++) {
                                dln_train_result r;
                                memset(&r, 0, sizeof r);
                                r.stop = (dln_stop_reason)stop, r.verdict = (dln_verdict)verdict;
                                /* lr lambda_max: NaN, -1.23e-300 (the widest %.3g), 1.9, 3, 5 */
                                r.lr = sharp[si] == wide ? wide : 0.01;
                                r.sharpness = sharp[si] == wide ? 1.0 : sharp[si];
                                r.steps = LONG_MIN, r.loss = wide, r.rel_gap = wide;
                                r.steps_to_tol = finite_tol ? wide : NAN;
                                r.verdict_rank = INT_MIN;
                                r.verdict_skipped = skipped ? INT_MIN : 0, r.verdict_added = INT_MIN;
                                dln_train_opts o;
                                dln_train_opts_default(&o);
                                o.steps = LONG_MIN, o.tol = wide, o.lr = lrs[li], o.lr_rule = (dln_lr_rule)rule;
                                char big[4096];
                                memset(big, 0, sizeof big);
                                dln_train_describe(&r, &o, big, sizeof big);
                                size_t len = strlen(big);
                                cr_assert(len > 10, "stop %d verdict %d: an empty note '%s'", stop, verdict, big);
                                cr_assert(len < DLN_TRAIN_NOTE_MAX, "stop %d verdict %d: %zu bytes > %d: %s", stop,
                                          verdict, len + 1, DLN_TRAIN_NOTE_MAX, big);
                                char fit[DLN_TRAIN_NOTE_MAX];
                                dln_train_describe(&r, &o, fit, sizeof fit);
                                cr_assert_str_eq(fit, big);
                                forms++;
                            }
    cr_expect_gt(forms, 1000);
}
