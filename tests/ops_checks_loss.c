/* ops_checks_loss.c: the table's check of the loss operations (dln_loss_gradient_batched,
 * dln_loss_hessian_batched) for every loss, against the long-double references of
 * src/oracle/host_loss.c, on three members that are views (leading dimensions above their
 * rows) side by side in one parent, with a shared target; plus the stable forms at |z| up
 * to 1e300 against closed forms, and the refusals. Tolerances (relative, Frobenius over the
 * block; the values relative):
 *   gradient, Hessian action: fp64 1e-13 (a few roundings per entry: exp, log1p, pow or
 *     products by squaring, one division; softmax's p^T d over <= 7 terms); fp32 4e-7 (the
 *     result rounded once to fp32, 6e-8, on top of fp64 arithmetic from the stored inputs);
 *   values: 1e-13 in both dtypes (fp64 sums of nonnegative terms, column sums then their
 *     sum: (rows + cols) u = 5e-14 for these shapes; the inputs are the stored fp32 values);
 *   closed forms at |z| = 1e300: 1e-15 (a single rounding).
 * A planted bug shows here: the softmax Hessian's p^T d term dropped fails the Hessian check,
 * the lp value formed as pow(a, p) / p fails the closed form at |e| = 1.2e77 (overflow). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_checks.h"

#define MEMBERS 3

/* Fills the parent's host mirror with f (per entry), rounds to the dtype and uploads it. */
static void fill(oc_ctx *c, oc_mat *p, double (*f)(oc_ctx *c, int i, int j))
{
    for (int j = 0; j < p->m.cols; j++)
        for (int i = 0; i < p->m.rows; i++) {
            double v = f(c, i, j);
            p->h[i + (size_t)j * p->m.rows] = c->dtype == DLN_F32 ? (float)v : v;
        }
    OC_OK(c, dln_upload(c->be, &p->m, p->h, p->m.rows));
}

static double uniform01(oc_ctx *c, int i, int j)
{
    (void)i, (void)j;
    double u = dln_rng_uniform(&c->g);
    return u < 0.1 ? 0.0 : u > 0.9 ? 1.0 : u; /* exact labels too */
}

static double scaled_normal(oc_ctx *c, int i, int j)
{
    (void)i, (void)j;
    return 3.0 * dln_rng_normal(&c->g);
}

/* The target of one loss: Y (rows, cols) in parent P at (1, 0): labels in [0, 1], columns on
 * the simplex (one-hot in every third column), or any numbers. */
static void make_target(oc_ctx *c, const dln_loss *l, oc_mat *P, int rows, int cols)
{
    fill(c, P, l->kind == DLN_LOSS_LOGISTIC ? uniform01 : scaled_normal);
    int ld = P->m.rows;
    if (l->kind == DLN_LOSS_MASKED) { /* about a third of the entries unobserved */
        for (int j = 0; j < cols; j++)
            for (int i = 0; i < rows; i++)
                if (dln_rng_uniform(&c->g) < 0.35) P->h[1 + i + (size_t)j * ld] = NAN;
        OC_OK(c, dln_upload(c->be, &P->m, P->h, ld));
    }
    if (l->kind != DLN_LOSS_SOFTMAX) return;
    for (int j = 0; j < cols; j++) {
        double *y = P->h + 1 + (size_t)j * ld, s = 0.0;
        for (int i = 0; i < rows; i++) s += (y[i] = j % 3 == 0 ? (i == j % rows) : dln_rng_uniform(&c->g));
        for (int i = 0; i < rows; i++) y[i] = c->dtype == DLN_F32 ? (float)(y[i] / s) : y[i] / s;
    }
    OC_OK(c, dln_upload(c->be, &P->m, P->h, ld));
}

static void one_loss(oc_ctx *c, const dln_loss *l, const char *name)
{
    const int rows = 7, cols = 40, ldz = rows + 2, span = ldz * cols;
    double tol = oc_tol(c, 1e-13, 4e-7);
    oc_mat P = oc_rand(c, ldz, cols * MEMBERS + 1), T = oc_rand(c, rows + 3, cols);
    oc_mat D = oc_rand(c, ldz, cols * MEMBERS + 1);
    for (size_t e = 0; e < (size_t)ldz * (cols * MEMBERS + 1); e++) /* |z| up to ~15 */
        P.h[e] = c->dtype == DLN_F32 ? (float)(3.0 * P.h[e]) : 3.0 * P.h[e];
    OC_OK(c, dln_upload(c->be, &P.m, P.h, ldz));
    make_target(c, l, &T, rows, cols);
    dln_mat Z = dln_mat_view(&P.m, 1, 0, rows, cols), Y = dln_mat_view(&T.m, 1, 0, rows, cols);
    dln_mat Dv = dln_mat_view(&D.m, 1, 0, rows, cols), out;
    OC_OK(c, dln_mat_alloc(c->be, &out, MEMBERS + 2, 1, DLN_F64));
    /* the Hessian first (it reads the prediction), then the gradient in place */
    OC_OK(c, dln_loss_hessian_batched(c->be, l, &Y, 0, &Z, (size_t)span, &Dv, (size_t)span, MEMBERS));
    OC_OK(c, dln_loss_gradient_batched(c->be, l, &Y, 0, &Z, (size_t)span, MEMBERS, &out, 1));
    double *wantG = ts_copy(P.h, (size_t)ldz * (cols * MEMBERS + 1));
    double *wantH = ts_copy(D.h, (size_t)ldz * (cols * MEMBERS + 1)), v[MEMBERS + 2];
    OC_OK(c, dln_download(c->be, &out, v, MEMBERS + 2));
    for (int b = 0; b < MEMBERS; b++) {
        size_t at = 1 + (size_t)b * span;
        ref_loss_hessian(l, rows, cols, P.h + at, ldz, T.h + 1, rows + 3, D.h + at, ldz, wantH + at, ldz);
        double want = ref_loss_gradient(l, rows, cols, P.h + at, ldz, T.h + 1, rows + 3, wantG + at, ldz);
        cr_assert(ts_rel(v[1 + b], want) <= 1e-13, "%s: %s member %d: value %.17g, reference %.17g (seed %llu)",
                  c->label, name, b, v[1 + b], want, (unsigned long long)c->seed);
    }
    if (c->dtype == DLN_F32)
        for (size_t e = 0; e < (size_t)ldz * (cols * MEMBERS + 1); e++) wantG[e] = (float)wantG[e], wantH[e] = (float)wantH[e];
    oc_expect(c, &P, wantG, 1, 0, rows, cols * MEMBERS, tol, name);
    oc_expect(c, &D, wantH, 1, 0, rows, cols * MEMBERS, tol, name);
    /* a member alone gives the bits it gives in the batch; the value again the same bits */
    OC_OK(c, dln_upload(c->be, &P.m, P.h, ldz));
    dln_mat Z2 = dln_mat_view(&P.m, 1, 2 * cols, rows, cols);
    OC_OK(c, dln_loss_gradient_batched(c->be, l, &Y, 0, &Z2, 0, 1, &out, 0));
    double alone[MEMBERS + 2], *again = oc_get(c, &P.m), *before = NULL;
    OC_OK(c, dln_download(c->be, &out, alone, MEMBERS + 2));
    cr_assert(memcmp(&alone[0], &v[3], sizeof(double)) == 0, "%s: %s: member 2 alone %.17g, in the batch %.17g",
              c->label, name, alone[0], v[3]);
    OC_OK(c, dln_upload(c->be, &P.m, P.h, ldz));
    OC_OK(c, dln_loss_gradient_batched(c->be, l, &Y, 0, &Z, (size_t)span, MEMBERS, NULL, 0)); /* no value asked */
    before = oc_get(c, &P.m);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            size_t e = 1 + i + (size_t)(2 * cols + j) * ldz;
            cr_assert(memcmp(&again[e], &before[e], sizeof(double)) == 0, "%s: %s: member 2's gradient alone differs",
                      c->label, name);
        }
    free(again), free(before), free(wantG), free(wantH);
    dln_mat_free(c->be, &out);
    oc_free(c, &P), oc_free(c, &T), oc_free(c, &D);
}

/* Values and gradients at |z| = 1e300 (and lp at |e| = 1.2e77, where |e|^4 overflows but
 * |e|^4 / 4 does not) against closed forms: fp64 only. */
static void extremes(oc_ctx *c)
{
    const double big = 1e300;
    struct {
        dln_loss l;
        int rows;
        double z[3], y[3], value, g[3];
    } cases[] = {
        {{DLN_LOSS_LOGISTIC, 0}, 1, {big}, {1}, 0.0, {0}},
        {{DLN_LOSS_LOGISTIC, 0}, 1, {-big}, {0}, 0.0, {0}},
        {{DLN_LOSS_LOGISTIC, 0}, 1, {big}, {0}, big, {1}},
        {{DLN_LOSS_LOGISTIC, 0}, 1, {-big}, {0.25}, 0.25 * big, {-0.25}},
        {{DLN_LOSS_SOFTMAX, 0}, 3, {big, -big, 0}, {1, 0, 0}, 0.0, {0, 0, 0}},
        {{DLN_LOSS_SOFTMAX, 0}, 3, {big, -big, 0}, {0, 0.5, 0.5}, 0.5 * 2 * big + 0.5 * big, {1, -0.5, -0.5}},
        {{DLN_LOSS_HUBER, 2}, 1, {big}, {0}, 2 * (big - 1), {2}},
        {{DLN_LOSS_LP, 4}, 1, {1.2e77}, {0}, 0.25 * 1.2e77 * (1.2e77 * 1.2e77 * 1.2e77), {1.2e77 * 1.2e77 * 1.2e77}},
    };
    dln_mat Z, Y, out;
    OC_OK(c, dln_mat_alloc(c->be, &Z, 3, 1, DLN_F64));
    OC_OK(c, dln_mat_alloc(c->be, &Y, 3, 1, DLN_F64));
    OC_OK(c, dln_mat_alloc(c->be, &out, 1, 1, DLN_F64));
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        dln_mat z = dln_mat_view(&Z, 0, 0, cases[k].rows, 1), y = dln_mat_view(&Y, 0, 0, cases[k].rows, 1);
        double g[3], v;
        OC_OK(c, dln_upload(c->be, &z, cases[k].z, 3));
        OC_OK(c, dln_upload(c->be, &y, cases[k].y, 3));
        OC_OK(c, dln_loss_gradient_batched(c->be, &cases[k].l, &y, 0, &z, 0, 1, &out, 0));
        OC_OK(c, dln_download(c->be, &z, g, 3));
        OC_OK(c, dln_download(c->be, &out, &v, 1));
        cr_assert(isfinite(v) && fabs(v - cases[k].value) <= 1e-15 * fabs(cases[k].value),
                  "%s: extreme case %zu: value %.17g, closed form %.17g", c->label, k, v, cases[k].value);
        for (int i = 0; i < cases[k].rows; i++)
            cr_assert(fabs(g[i] - cases[k].g[i]) <= 1e-15 * fmax(1.0, fabs(cases[k].g[i])),
                      "%s: extreme case %zu: gradient[%d] %.17g, closed form %.17g", c->label, k, i, g[i],
                      cases[k].g[i]);
    }
    dln_mat_free(c->be, &Z), dln_mat_free(c->be, &Y), dln_mat_free(c->be, &out);
}

/* One member long enough that the CPU backend evaluates it in pieces of columns (5 x 20000
 * entries: 64 pieces of 313 columns, src/backends/cpu/loss_cpu.c), alone and with the pieces
 * on two threads: the gradient against the oracle (the one_loss tolerance), the value to
 * 1e-11 (fp64 sums of 1e5 nonnegative terms in another order than the oracle's: n u = 1e-11
 * at worst), and the same bits on one and two threads. */
static void long_member(oc_ctx *c, const dln_loss *l, const char *name)
{
    const int rows = 5, cols = 20000;
    oc_mat Z = oc_rand(c, rows, cols), T = oc_rand(c, rows + 1, cols);
    make_target(c, l, &T, rows, cols);
    dln_mat y = dln_mat_view(&T.m, 1, 0, rows, cols), out;
    OC_OK(c, dln_mat_alloc(c->be, &out, 1, 1, DLN_F64));
    double *want = malloc(sizeof(double) * (size_t)rows * cols), v[2], *got[2];
    double ref = ref_loss_gradient(l, rows, cols, Z.h, rows, T.h + 1, rows + 1, want, rows);
    if (c->dtype == DLN_F32)
        for (size_t e = 0; e < (size_t)rows * cols; e++) want[e] = (float)want[e];
    for (int t = 0; t < 2; t++) {
        OC_OK(c, dln_backend_set_threads(c->be, t + 1));
        OC_OK(c, dln_upload(c->be, &Z.m, Z.h, rows));
        OC_OK(c, dln_loss_gradient_batched(c->be, l, &y, 0, &Z.m, 0, 1, &out, 0));
        OC_OK(c, dln_download(c->be, &out, &v[t], 1));
        got[t] = oc_get(c, &Z.m);
        cr_expect(ts_rel(v[t], ref) <= 1e-11, "%s: %s, %d thread(s): value %.17g, reference %.17g (seed %llu)",
                  c->label, name, t + 1, v[t], ref, (unsigned long long)c->seed);
    }
    OC_OK(c, dln_backend_set_threads(c->be, 1));
    cr_expect(v[0] == v[1] && memcmp(got[0], got[1], sizeof(double) * (size_t)rows * cols) == 0,
              "%s: %s: one and two threads differ", c->label, name);
    oc_expect(c, &Z, want, 0, 0, rows, cols, oc_tol(c, 1e-13, 4e-7), name); /* Z holds the two-thread gradient */
    free(want), free(got[0]), free(got[1]);
    dln_mat_free(c->be, &out);
    oc_free(c, &Z), oc_free(c, &T);
}

void oc_loss(oc_ctx *c)
{
    const struct {
        dln_loss l;
        const char *name;
    } losses[] = {
        {{DLN_LOSS_LP, 4}, "lp p=4"},       {{DLN_LOSS_LP, 2.5}, "lp p=2.5"}, {{DLN_LOSS_LP, 2}, "lp p=2"},
        {{DLN_LOSS_LP, 3}, "lp p=3"},       {{DLN_LOSS_LP, 8}, "lp p=8"},     {{DLN_LOSS_LP, 9}, "lp p=9"},
        {{DLN_LOSS_HUBER, 0.7}, "huber"}, {{DLN_LOSS_LOGISTIC, 0}, "logistic"}, {{DLN_LOSS_SOFTMAX, 0}, "softmax"},
        {{DLN_LOSS_MASKED, 0}, "masked"},
    };
    for (size_t k = 0; k < sizeof losses / sizeof losses[0]; k++) one_loss(c, &losses[k].l, losses[k].name);
    const int long_ones[] = {0, 6, 7, 8, 9}; /* lp p=4, huber, logistic, softmax, masked */
    for (int k = 0; k < 5; k++) long_member(c, &losses[long_ones[k]].l, losses[long_ones[k]].name);
    if (c->dtype == DLN_F64) extremes(c);
    /* refusals: a parameter out of range, an unknown loss, shapes that differ, a short result column */
    oc_mat A = oc_rand(c, 4, 5), B = oc_rand(c, 4, 6);
    dln_mat out;
    OC_OK(c, dln_mat_alloc(c->be, &out, 1, 1, DLN_F64));
    dln_loss lp1 = {DLN_LOSS_LP, 1.5}, hub0 = {DLN_LOSS_HUBER, 0}, bad = {(dln_loss_kind)9, 0}, lg = {DLN_LOSS_LOGISTIC, 0};
    oc_expect_refused(c, dln_loss_gradient_batched(c->be, &lp1, &A.m, 0, &B.m, 0, 1, NULL, 0), "loss_gradient_batched",
                      "p = 1.5");
    oc_expect_refused(c, dln_loss_gradient_batched(c->be, &hub0, &A.m, 0, &B.m, 0, 1, NULL, 0),
                      "loss_gradient_batched", "delta = 0");
    oc_expect_refused(c, dln_loss_gradient_batched(c->be, &bad, &A.m, 0, &B.m, 0, 1, NULL, 0), "loss_gradient_batched",
                      "an unknown loss");
    oc_expect_refused(c, dln_loss_gradient_batched(c->be, &lg, &A.m, 0, &B.m, 0, 1, NULL, 0), "loss_gradient_batched",
                      "a 4 x 5 target for a 4 x 6 prediction");
    oc_expect_refused(c, dln_loss_gradient_batched(c->be, &lg, &A.m, 0, &A.m, 0, 1, NULL, 0), "loss_gradient_batched",
                      "the target as the prediction");
    dln_mat A2 = dln_mat_view(&B.m, 0, 0, 4, 5);
    oc_expect_refused(c, dln_loss_gradient_batched(c->be, &lg, &A.m, 0, &A2, 0, 2, &out, 0), "loss_gradient_batched",
                      "two results into a column of one");
    oc_expect_refused(c, dln_loss_hessian_batched(c->be, &lg, &A.m, 0, &A2, 0, &A2, 0, 1), "loss_hessian_batched",
                      "the direction as the prediction");
    dln_mat_free(c->be, &out);
    oc_free(c, &A), oc_free(c, &B);
}
