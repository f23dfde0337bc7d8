/* test_shallow_convex.c: the shallow problem without a rank bound for any convex loss
 * (dln_shallow_convex, src/solver/convex.c), on every backend. Checked against independent
 * computations: for the square loss, the closed-form least-squares value (dln_shallow_solve);
 * for lp, Huber, logistic and softmax, the long-double host oracle's gradient of L(R X) at the
 * returned R (src/oracle: dL/dZ in long double, products summed in long double) and its loss
 * along random directions around R (a convex function's minimum: no direction lowers it).
 * Separable logistic data are reported as unattained; bad arguments are refused. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convex_cases.h"

TestOnBackends(shallow_convex, the_square_loss_reaches_least_squares)
{
    convex_case c;
    case_make(&c, TS_KIND, NULL, NULL, 6, 4, 50, 0);
    double *R = calloc(4 * 6, sizeof(double));
    dln_convex_result res;
    OK(&c, dln_shallow_convex(c.be, NULL, &c.d, 1e-12, 50, R, &res, &c.err));
    dln_shallow sh;
    OK(&c, dln_shallow_solve(c.be, &c.d, 4, 0.0, 0, &sh, &c.err));
    cr_expect(res.converged, "%s: not converged: |g| %g of %g after %d steps", c.label, res.grad_norm, res.grad_norm0,
              res.iterations);
    /* a quadratic: each step's conjugate gradients stop at a residual eta |g|, eta =
     * min(1/2, sqrt(|g| / |g_0|)), so |g| falls superlinearly: 7 steps to 1e-12 here; a
     * Newton step gone wrong (gradient descent) would take hundreds */
    cr_expect(res.iterations <= 15, "%s: %d Newton steps on a quadratic", c.label, res.iterations);
    cr_expect(fabs(res.value - sh.lstsq) <= 1e-10 * sh.lstsq, "%s: %.17g vs least squares %.17g (seed %llu)", c.label,
              res.value, sh.lstsq, (unsigned long long)c.seed);
    cr_expect(fabs(res.zero_value - sh.y_half) <= 1e-12 * sh.y_half, "%s: L(0) %.17g vs 1/2 |Y|^2 %.17g", c.label,
              res.zero_value, sh.y_half);
    dln_shallow_free(&sh);
    free(R);
    case_free(&c);
}

TestOnBackends(shallow_convex, every_loss_reaches_a_point_the_oracle_certifies)
{
    static const struct {
        convex_spec s;
        int labels;
    } cases[] = {
        {{"lp", {NULL, 0, 4.0, 0, NULL}, {DLN_LOSS_LP, 4.0}}, 0},
        {{"huber", {NULL, 0, 0, 0.5, NULL}, {DLN_LOSS_HUBER, 0.5}}, 0},
        {{"logistic", {NULL, 0, 0, 0, NULL}, {DLN_LOSS_LOGISTIC, 0}}, 1},
        {{"softmax", {NULL, 0, 0, 0, NULL}, {DLN_LOSS_SOFTMAX, 0}}, 2},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const convex_spec *s = &cases[k].s;
        convex_case c;
        int dx = 4, dy = 3, m = 300;
        case_make(&c, TS_KIND, s->name, &s->p, dx, dy, m, cases[k].labels);
        size_t n = (size_t)dx * dy;
        double *R = calloc(n, sizeof(double)), *G = malloc(sizeof(double) * n), *G0 = malloc(sizeof(double) * n);
        double *zero = calloc(n, sizeof(double)), *Rt = malloc(sizeof(double) * n);
        dln_convex_result res;
        OK(&c, dln_shallow_convex(c.be, c.obj, &c.d, 1e-12, 100, R, &res, &c.err));
        cr_expect(res.converged && !res.unattained, "%s: converged %d unattained %d: |g| %g of %g after %d steps "
                  "(seed %llu)", c.label, res.converged, res.unattained, res.grad_norm, res.grad_norm0, res.iterations,
                  (unsigned long long)c.seed);
        /* the oracle's gradient at R: the solver stops at 1e-12 of its own; the two differ by
         * the rounding of dL/dZ X^T over m = 300 columns (~1e-14 of the terms' size): 1e-9 */
        double L = oracle(&c, &s->l, R, G), L0 = oracle(&c, &s->l, zero, G0);
        cr_expect(norm(G, n) <= 1e-9 * norm(G0, n), "%s: the oracle's |dL/dR| %g at R, %g at 0 (seed %llu)", c.label,
                  norm(G, n), norm(G0, n), (unsigned long long)c.seed);
        cr_expect(fabs(res.value - L) <= 1e-12 * fabs(L), "%s: value %.17g, oracle %.17g", c.label, res.value, L);
        cr_expect(fabs(res.zero_value - L0) <= 1e-12 * fabs(L0), "%s: L(0) %.17g, oracle %.17g", c.label,
                  res.zero_value, L0);
        /* no direction lowers the loss (steps 1e-3 |R| along 20 random directions) */
        double scale = 1e-3 * norm(R, n) / sqrt((double)n);
        for (int t = 0; t < 20; t++) {
            for (size_t e = 0; e < n; e++) Rt[e] = R[e] + scale * dln_rng_normal(&c.g);
            double Lt = oracle(&c, &s->l, Rt, NULL);
            cr_expect(Lt >= L * (1 - 1e-14), "%s: a direction lowers the loss: %.17g < %.17g", c.label, Lt, L);
        }
        free(R), free(G), free(G0), free(zero), free(Rt);
        case_free(&c);
    }
}

TestOnBackends(shallow_convex, separable_logistic_data_are_unattained)
{
    convex_case c;
    dln_objective_params p = {0};
    case_make(&c, TS_KIND, "logistic", &p, 3, 2, 40, 3); /* 0/1 labels of a noiseless teacher's sign */
    double *R = calloc(6, sizeof(double));
    dln_convex_result res;
    OK(&c, dln_shallow_convex(c.be, c.obj, &c.d, 1e-12, 200, R, &res, &c.err));
    cr_expect(res.unattainable && res.unattained, "%s: separable data: unattained %d (loss %g of %g, %d steps)",
              c.label, res.unattained, res.value, res.zero_value, res.iterations);
    cr_expect(res.value <= 1e-10 * res.zero_value, "%s: loss %g", c.label, res.value);
    free(R);
    case_free(&c);
}

TestOnBackends(shallow_convex, bad_arguments_are_refused)
{
    convex_case c;
    case_make(&c, TS_KIND, NULL, NULL, 3, 2, 10, 0);
    double R[6] = {0};
    dln_convex_result res;
    cr_expect_eq(dln_shallow_convex(c.be, NULL, &c.d, 0.0, 10, R, &res, &c.err), DLN_EINPUT);
    cr_expect_eq(dln_shallow_convex(c.be, NULL, &c.d, 1e-12, 0, R, &res, &c.err), DLN_EINPUT);
    cr_expect_eq(dln_shallow_convex(c.be, NULL, &c.d, 1e-12, 10, NULL, &res, &c.err), DLN_EINPUT);
    case_free(&c);
}
