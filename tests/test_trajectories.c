/* test_trajectories.c: whole training runs on every backend against the host reference
 * (src/oracle), observed at every step: the line search (every loss below the one
 * before, each equal to the host's Armijo loop), loss trajectories over 1200 steps in
 * fp64 (full data, compressed, heavy ball), fp32 and tf32 with the bounds justified at
 * each test, the observer's contract, and the refusal of a network that does not fit. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_cases.h"

TestOnBackends(trajectories, line_search_never_increases_the_loss_and_matches_the_host)
{
    tr_case c;
    int dims[] = {8, 3, 5, 6};
    tr_case_make(&c, TS_KIND, 3, dims, 30, 3, 0.2, 0);
    double **W = tr_init(&c, DLN_INIT_GAUSSIAN);
    double **Wh = ts_copy_weights(&c.s, W);
    long steps = 300;
    dln_train_opts o = opts(0.0, steps, 0.0, DLN_DATA_FULL);
    o.line_search = 1;
    ts_trace tr = {0};
    o.observer = ts_record, o.observer_ctx = &tr;
    double *host = malloc(sizeof(double) * (size_t)(steps + 1));
    dln_train_result res = train(&c, W, &o);
    /* the same start (the sharpness rule's step) and bound (2 / lambda_max at the start) */
    cr_assert(res.lr_init > 0 && res.sharpness_init > 0, "lr_init %g, sharpness %g", res.lr_init, res.sharpness_init);
    double lr0 = res.lr_init;
    long made = ref_line_search_descent(&c.s, Wh, &c.d, &lr0, 2.0 / res.sharpness_init, steps, host);
    cr_expect_eq(tr.n, res.steps + 1, "one observation per step (steps 0..%ld), got %ld", res.steps, tr.n);
    cr_expect_eq(res.steps, made, "%s: %ld steps, the host loop %ld (seed %llu)", ts_backend_label(c.kind),
                 res.steps, made, SEED(&c));
    cr_expect_lt(tr.obs[tr.n - 1].loss, 0.9 * tr.obs[0].loss, "the line search made progress (seed %llu)", SEED(&c));
    cr_expect_gt(res.steps, 10);
    /* the same acceptances from the same losses over the first MATCHED steps: per-step
     * rounding (~1e-16) only, so 1e-9 (an Armijo test decided differently by rounding would
     * show as a 2x step and an O(1e-3) loss difference). Later the steps sit at the bound
     * 2 / lambda_max(start) while the sharpness has risen past it (the edge of stability),
     * where the top mode amplifies rounding by |1 - lr lambda| >= 1 a step and the two
     * loops part (seen from step ~70 on some seeds): there every step must still decrease. */
    const long MATCHED = 40;
    for (long t = 0; t < tr.n && t <= made; t++) {
        cr_expect_eq(tr.obs[t].step, t, "observation %ld is of step %ld", t, tr.obs[t].step);
        if (t > 0)
            cr_expect_leq(tr.obs[t].loss, tr.obs[t - 1].loss, "step %ld: loss %.17g after %.17g (seed %llu)", t,
                          tr.obs[t].loss, tr.obs[t - 1].loss, SEED(&c));
        if (t <= MATCHED)
            cr_expect_lt(ts_rel(tr.obs[t].loss, host[t]), 1e-9, "%s step %ld: loss %.17g, host %.17g (seed %llu)",
                         ts_backend_label(c.kind), t, tr.obs[t].loss, host[t], SEED(&c));
    }
    cr_expect(tr.obs[tr.n - 1].final, "the last observation is the final state");
    cr_expect_eq(tr.obs[tr.n - 1].loss, res.loss, "the final observation is the result");
    cr_expect_lt(ts_rel(res.loss, ref_loss(&c.s, W, &c.d)), 1e-10);
    free(host);
    ts_trace_free(&tr);
    dln_weights_free(3, W), dln_weights_free(3, Wh);
    tr_case_free(&c);
}

/* The loss after each of `steps` plain (or heavy-ball) steps with the auto lr, observed
 * on the backend, against the host reference loop in fp64 from the same weights. */
static void compare_with_host(dln_backend_kind kind, dln_dtype dt, dln_math_mode math, dln_data_mode mode,
                              double mu, double bound, const char *what)
{
    tr_case c;
    int dims[] = {24, 12, 6, 12, 16};
    tr_case_make(&c, kind, 4, dims, 300, 16, 0.3, 0);
    if (math == DLN_MATH_TF32 && !dln_backend_supports(c.be, DLN_CAP_TF32)) {
        tr_case_free(&c);
        cr_skip_test("%s: no TF32 on this backend", ts_backend_label(kind));
    }
    cr_assert_eq(dln_backend_set_math(c.be, math), DLN_OK, "%s", c.err.msg);
    double **W = tr_init(&c, DLN_INIT_ORTHOGONAL);
    double **Wh = ts_copy_weights(&c.s, W);
    long steps = 1200;
    /* the step size as the trainer picks it, times (1 - mu) for the heavy ball */
    double lr = ts_auto_lr(&c.s, W, &c.sh, &c.d) * (1.0 - mu);
    dln_train_opts o = opts(lr, steps, 0.0, mode);
    o.dtype = dt, o.momentum = mu, o.check_every = 1;
    ts_trace tr = {0};
    o.observer = ts_record, o.observer_ctx = &tr;
    train(&c, W, &o);
    cr_assert_eq(tr.n, steps + 1, "%s: %ld observations", what, tr.n);
    double worst = 0.0;
    /* host trajectory: one step at a time, with the heavy ball's velocity kept */
    double **G = ts_copy_weights(&c.s, Wh), **V = ts_copy_weights(&c.s, Wh);
    for (int i = 0; i < c.s.depth; i++) memset(V[i], 0, sizeof(double) * (size_t)c.s.dims[i + 1] * c.s.dims[i]);
    for (long t = 0; t <= steps; t++) {
        double L = ref_loss(&c.s, Wh, &c.d);
        worst = fmax(worst, ts_rel(tr.obs[t].loss, L));
        ref_gradient(&c.s, Wh, &c.d, G);
        for (int i = 0; i < c.s.depth; i++)
            for (size_t e = 0; e < (size_t)c.s.dims[i + 1] * c.s.dims[i]; e++) {
                V[i][e] = mu * V[i][e] + G[i][e];
                Wh[i][e] -= lr * V[i][e];
            }
    }
    cr_expect_lt(worst, bound, "%s %s: worst relative loss difference %.3e over %ld steps (seed %llu)",
                 ts_backend_label(kind), what, worst, steps, SEED(&c));
    cr_log_info("%s %s: worst relative loss difference %.3e over %ld steps", ts_backend_label(kind), what, worst,
                steps);
    ts_trace_free(&tr);
    dln_weights_free(c.s.depth, W), dln_weights_free(c.s.depth, Wh);
    dln_weights_free(c.s.depth, G), dln_weights_free(c.s.depth, V);
    tr_case_free(&c);
}

/* fp64: each GEMM rounds differently from the host's (blocking order) by ~1e-16
 * relative; gradient descent at a stable step does not amplify that, so 1e-9 is generous. */
TestOnBackends(trajectories, fp64_full_data)
{
    compare_with_host(TS_KIND, DLN_F64, DLN_MATH_DEFAULT, DLN_DATA_FULL, 0.0, 1e-9, "fp64 full");
}
TestOnBackends(trajectories, fp64_compressed)
{
    compare_with_host(TS_KIND, DLN_F64, DLN_MATH_DEFAULT, DLN_DATA_COMPRESSED, 0.0, 1e-9, "fp64 compressed");
}
TestOnBackends(trajectories, fp64_heavy_ball)
{
    compare_with_host(TS_KIND, DLN_F64, DLN_MATH_DEFAULT, DLN_DATA_FULL, 0.9, 1e-9, "fp64 heavy ball");
}
/* fp32 against the fp64 host: unit roundoff 6e-8, GEMM inner dimension <= 300 gives a
 * per-step relative error <= ~300 * 6e-8 = 2e-5 in the worst case, typically
 * sqrt(300) * 6e-8 ~ 1e-6, and the contracting dynamics keep it from compounding: 1e-4. */
TestOnBackends(trajectories, fp32)
{
    compare_with_host(TS_KIND, DLN_F32, DLN_MATH_DEFAULT, DLN_DATA_FULL, 0.0, 1e-4, "fp32");
}
/* tf32 against the fp64 host: TF32 keeps 10 mantissa bits (unit roundoff 4.9e-4);
 * products of inner dimension 300 accumulate in fp32, so each GEMM is accurate to
 * ~sqrt(300) * 4.9e-4 ~ 1e-2 at worst per entry, and the loss (a sum of squares of
 * residuals) to ~1e-2 relative: 2e-2 is the stated bound. */
TestOnBackends(trajectories, tf32)
{
    compare_with_host(TS_KIND, DLN_F32, DLN_MATH_TF32, DLN_DATA_FULL, 0.0, 2e-2, "tf32");
}

TestOnBackends(trajectories, refuses_a_network_that_does_not_fit)
{
    tr_case c;
    int dims[] = {8, 4, 8};
    tr_case_make(&c, TS_KIND, 2, dims, 40, 4, 0.1, 0);
    if (!dln_backend_supports(c.be, DLN_CAP_DEVICE_MEMORY)) {
        tr_case_free(&c);
        cr_skip_test("%s: host memory is checked by the program, not by dln_train", ts_backend_label(TS_KIND));
    }
    /* hidden width 2^24 x depth 3: 2 (8 + 2^24) 2^24 8 bytes ~ 4.5 TB of weights alone;
     * the weights are never materialised on the host: only dln_train's refusal is tested */
    int hidden[] = {1 << 24, 1 << 24};
    dln_shape s;
    cr_assert_eq(dln_shape_make(3, 8, 8, hidden, 2, &s, &c.err), DLN_OK);
    double *fake[3] = {NULL, NULL, NULL}, **fakep = fake;
    dln_train_opts o = opts(1e-3, 10, 0.0, DLN_DATA_AUTO);
    dln_train_result r;
    int rc = ts_train(c.be, &c.d, &c.sh, &s, 1, &fakep, &o, &r, &c.err);
    cr_expect_eq(rc, DLN_EINPUT, "expected a refusal, got %d: %s", rc, c.err.msg);
    cr_expect(ts_says(c.err.msg, "bytes"), "the message should give bytes: %s", c.err.msg);
    dln_shape_free(&s);
    tr_case_free(&c);
}
