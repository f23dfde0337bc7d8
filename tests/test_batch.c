/* test_batch.c: a batch of runs (dln_train_batch) against the same runs made one by one
 * (dln_train), on every backend: members that differ in seed, init, init scale, step size
 * (the sharpness rule, re-estimated every 200 steps as alone, and given, one diverging),
 * momentum, tolerance (some stop early) and step limit.
 * Every member's summary, trace (losses and the sharpness an observer is told) and final
 * weights must equal its single run: bit for bit
 * on the CPU (the batched operations are loops of the single ones), to 1e-10 relative
 * elsewhere (one fp64 rounding order against another, over <= 3000 stable steps). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_cases.h"

#define MEMBERS 7

typedef struct {
    dln_init_kind init;
    double scale, lr, mu, tol;
    long steps;
} member_cfg;

/* Seeds 11.., mixed configurations: two converge early, one diverges, one hits its limit. */
static const member_cfg cfgs[MEMBERS] = {
    {DLN_INIT_ORTHOGONAL, 1.0, 0.0, 0.0, 1e-6, 3000}, {DLN_INIT_GAUSSIAN, 1.0, 0.0, 0.0, 1e-4, 3000},
    {DLN_INIT_BALANCED, 0.5, 0.0, 0.9, 1e-6, 3000},   {DLN_INIT_IDENTITY, 1.0, 0.0, 0.5, 1e-5, 2000},
    {DLN_INIT_ORTHOGONAL, 1.0, 50.0, 0.0, 1e-6, 3000}, {DLN_INIT_GAUSSIAN, 0.7, 0.0, 0.0, 0.0, 500},
    {DLN_INIT_ORTHOGONAL, 2.0, 0.0, 0.0, 1e-6, 1},
};

static double **member_weights(tr_case *c, int b)
{
    double **W = NULL;
    cr_assert_eq(dln_init_weights(&c->s, cfgs[b].init, cfgs[b].scale, 11 + (uint64_t)b, &W, &c->err), DLN_OK);
    return W;
}

static dln_train_opts member_opts(int b, ts_trace *tr)
{
    dln_train_opts o = opts(cfgs[b].lr, cfgs[b].steps, cfgs[b].tol, DLN_DATA_AUTO);
    o.momentum = cfgs[b].mu;
    o.check_every = 1;
    o.observer = ts_record, o.observer_ctx = tr;
    if (cfgs[b].mu > 0 && cfgs[b].lr == 0) o.lr = 0.0; /* auto for heavy ball too */
    return o;
}

/* a and b agree: exactly when exact, else to tol relative (NaN equal to NaN). */
static int same(double a, double b, int exact, double tol)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return exact ? a == b : fabs(a - b) <= tol * fmax(fabs(a), fabs(b));
}

TestOnBackends(batch, every_member_is_its_single_run)
{
    tr_case c;
    int dims[] = {8, 4, 3, 6};
    tr_case_make(&c, TS_KIND, 3, dims, 60, 3, 0.2, 0);
    int exact = TS_KIND == DLN_BACKEND_CPU;
    double tol = 1e-10;
    double **Wb[MEMBERS];
    dln_train_opts ob[MEMBERS];
    dln_train_result rb[MEMBERS];
    ts_trace tb[MEMBERS];
    memset(tb, 0, sizeof tb);
    for (int b = 0; b < MEMBERS; b++) Wb[b] = member_weights(&c, b), ob[b] = member_opts(b, &tb[b]);
    cr_assert_eq(ts_train(c.be, &c.d, &c.sh, &c.s, MEMBERS, Wb, ob, rb, &c.err), DLN_OK, "%s", c.err.msg);
    int stopped_early = 0, diverged = 0;
    for (int b = 0; b < MEMBERS; b++) {
        ts_trace ts = {0};
        double **W = member_weights(&c, b);
        dln_train_opts o = member_opts(b, &ts);
        dln_train_result r = train(&c, W, &o);
        const char *who = ts_backend_label(TS_KIND);
        cr_expect_eq(rb[b].steps, r.steps, "%s member %d: %ld steps, alone %ld", who, b, rb[b].steps, r.steps);
        cr_expect_eq(rb[b].stop, r.stop, "%s member %d: stop %d, alone %d", who, b, (int)rb[b].stop, (int)r.stop);
        cr_expect_eq(rb[b].verdict, r.verdict, "%s member %d: verdict %s, alone %s", who, b,
                     dln_verdict_name(rb[b].verdict), dln_verdict_name(r.verdict));
        cr_expect(same(rb[b].lr, r.lr, exact, tol), "%s member %d: lr %.17g vs %.17g", who, b, rb[b].lr, r.lr);
        cr_expect(same(rb[b].lr_init, r.lr_init, exact, tol), "member %d: lr_init", b);
        cr_expect(same(rb[b].sharpness, r.sharpness, exact, 1e-8), "member %d: sharpness %.17g vs %.17g", b,
                  rb[b].sharpness, r.sharpness);
        cr_expect_eq(rb[b].lr_changes, r.lr_changes, "member %d: %d step-size changes, alone %d", b, rb[b].lr_changes,
                     r.lr_changes);
        cr_expect(same(rb[b].loss, r.loss, exact, tol), "%s member %d: loss %.17g vs %.17g", who, b, rb[b].loss, r.loss);
        cr_expect(same(rb[b].grad_norm, r.grad_norm, exact, tol), "member %d: grad_norm", b);
        cr_expect(same(rb[b].loss_init, r.loss_init, exact, tol), "member %d: loss_init", b);
        cr_expect_eq(tb[b].n, ts.n, "%s member %d: %ld observations, alone %ld", who, b, tb[b].n, ts.n);
        for (long k = 0; k < tb[b].n && k < ts.n; k++) {
            const dln_observation *x = &tb[b].obs[k], *y = &ts.obs[k];
            cr_assert(x->step == y->step && same(x->loss, y->loss, exact, tol),
                      "%s member %d observation %ld: step %ld loss %.17g, alone step %ld loss %.17g", who, b, k,
                      x->step, x->loss, y->step, y->loss);
            /* what an observer is told of the sharpness (the CLI's trace writes it) */
            cr_assert(same(x->sharpness, y->sharpness, exact, 1e-8) && same(x->sharpness_est, y->sharpness_est, exact, 1e-8),
                      "%s member %d observation %ld: sharpness %g (rule's %g), alone %g (%g)", who, b, k, x->sharpness,
                      x->sharpness_est, y->sharpness, y->sharpness_est);
        }
        if (!r.diverged) {
            double e = ts_rel_weights(&c.s, Wb[b], W);
            cr_expect(exact ? e == 0.0 : e <= tol, "%s member %d: final weights differ by %.3e", who, b, e);
        }
        cr_log_info("member %d: stop %d steps %ld diverged %d lr %g", b, (int)r.stop, r.steps, r.diverged, r.lr);
        stopped_early += r.converged, diverged += r.diverged;
        ts_trace_free(&ts), ts_trace_free(&tb[b]);
        dln_weights_free(3, W), dln_weights_free(3, Wb[b]);
    }
    cr_expect_geq(stopped_early, 2, "members converging early: %d", stopped_early);
    cr_expect_eq(diverged, 1, "one member diverges");
    tr_case_free(&c);
}

TestOnBackends(batch, refuses_what_a_batch_cannot_share)
{
    tr_case c;
    int dims[] = {5, 3, 4};
    tr_case_make(&c, TS_KIND, 2, dims, 20, 2, 0.1, 0);
    double **W[2] = {tr_init(&c, DLN_INIT_ORTHOGONAL), tr_init(&c, DLN_INIT_GAUSSIAN)};
    dln_train_opts o[2] = {opts(0.0, 10, 0.0, DLN_DATA_AUTO), opts(0.0, 10, 0.0, DLN_DATA_FULL)};
    dln_train_result r[2];
    cr_expect_eq(ts_train(c.be, &c.d, &c.sh, &c.s, 2, W, o, r, &c.err), DLN_EINPUT, "mixed data modes");
    dln_error_clear(&c.err);
    o[1] = opts(0.0, 10, 0.0, DLN_DATA_AUTO);
    o[1].line_search = 1;
    cr_expect_eq(ts_train(c.be, &c.d, &c.sh, &c.s, 2, W, o, r, &c.err), DLN_EINPUT, "a line search");
    dln_weights_free(2, W[0]), dln_weights_free(2, W[1]);
    tr_case_free(&c);
}
