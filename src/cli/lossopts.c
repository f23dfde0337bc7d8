/* lossopts.c: the options of what is fitted and when to stop without a reference value:
 * --loss, --p, --delta, --grad-tol, --loss-tol (dln train and dln hessian), and of the
 * shallow reference and certificate: --shallow-restarts (train, solve), --certify (train). options.c splices
 * CLI_LOSS_OPTIONS into those tables and hands every code from CLI_LOSS_FIRST on to
 * cli_loss_option; cli_loss_check refuses a parameter of a loss not asked for and applies the
 * parameters' defaults. The losses themselves, and their checks of the data, are the
 * library's (dln/objective.h). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char *const cli_loss_help =
    "Loss (Z = W_H...W_1 X; docs/maths.md 4.1):\n"
    "  --loss NAME         square, lp, huber, logistic or softmax           (default square)\n"
    "                      square: 1/2 ||Z - Y||^2, timed against its optimum L* (closed form);\n"
    "                      lp: (1/p) sum |Z - Y|^p; huber: sum h(Z - Y), h(e) = e^2/2 for\n"
    "                      |e| <= delta, delta (|e| - delta/2) beyond; logistic: sum\n"
    "                      softplus(Z) - Y o Z, entries of Y in [0, 1] (synthetic data: 0/1\n"
    "                      labels); softmax: sum_j logsumexp(Z_:j) - Y_:j^T Z_:j, columns of Y\n"
    "                      nonnegative summing to 1 (synthetic data: one-hot labels). These\n"
    "                      train on the full data against the shallow problem's optimum by\n"
    "                      Newton's method (convex: no active rank bound) or the best value\n"
    "                      the rank-k restarts certified (best known); logistic or softmax on\n"
    "                      separable data have none (unattained: no gap, and --tol applies to\n"
    "                      ||G|| / ||G_0||)\n"
    "  --p P               lp's exponent, 2 <= P <= 64 (below 2 its Hessian is unbounded)\n"
    "                                                                        (default 4)\n"
    "  --delta D           huber's threshold, D > 0                          (default 1)\n"
    "  --grad-tol T        stop when ||G|| <= T ||G_0||, G_0 the first gradient (default 0:\n"
    "                      off; without a reference value, --tol's value)\n"
    "  --loss-tol T        stop when the loss changed by <= T |L| between checks (default 0: off)\n"
    "  --shallow-restarts N  another loss with an active rank bound (the narrowest layer, or\n"
    "                      solve's --rank, below min(dx, dy)): restarts of the rank-k shallow\n"
    "                      solver; its best certified value is the reference (0: none)  (default 20)\n"
    "  --certify, --no-certify  train, hessian: test whether each member's (the loaded) product\n"
    "                      is a local minimum of the shallow problem (docs/maths.md 2.2)\n"
    "                      (default: where cheap)\n\n";

void cli_loss_defaults(cli_opts *o)
{
    o->loss = "square";
    o->loss_p = 4.0;
    o->loss_delta = 1.0;
    o->shallow_restarts = DLN_SHALLOW_RESTARTS;
    o->certify = -1;
}

int cli_loss_option(int c, const char *a, cli_opts *o, dln_error *err)
{
    switch (c - CLI_LOSS_FIRST) {
    case 0: {
        static const char *const names[] = {"square", "lp", "huber", "logistic", "softmax"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (!strcmp(a, names[i])) return o->loss = names[i], DLN_OK;
        return dln_fail(err, DLN_EINPUT, "--loss: expected square, lp, huber, logistic or softmax, got '%s'", a);
    }
    case 1:
        o->loss_p_set = 1;
        DLN_TRY(cli_parse_double("p", a, -1e300, 1e300, &o->loss_p, err));
        if (!(o->loss_p >= 2 && o->loss_p <= 64))
            return dln_fail(err, DLN_EINPUT, "--p: expected a number in [2, 64], got '%s' (below 2 the lp loss's "
                            "Hessian is unbounded at a zero residual)", a);
        return DLN_OK;
    case 2:
        o->loss_delta_set = 1;
        DLN_TRY(cli_parse_double("delta", a, -1e300, 1e300, &o->loss_delta, err));
        if (!(o->loss_delta > 0)) return dln_fail(err, DLN_EINPUT, "--delta: expected a number > 0, got '%s'", a);
        return DLN_OK;
    case 3: return cli_parse_double("grad-tol", a, 0, 1e300, &o->train.grad_tol, err);
    case 4: return cli_parse_double("loss-tol", a, 0, 1e300, &o->train.loss_tol, err);
    case 5: {
        double n;
        o->shallow_restarts_set = 1;
        DLN_TRY(cli_parse_double("shallow-restarts", a, 0, 100000, &n, err));
        if (n != (int)n) return dln_fail(err, DLN_EINPUT, "--shallow-restarts: expected a whole number, got '%s'", a);
        o->shallow_restarts = (int)n;
        return DLN_OK;
    }
    case 6: return o->certify = 1, DLN_OK;
    case 7: return o->certify = 0, DLN_OK;
    default: return dln_fail(err, DLN_EINPUT, "internal: unknown option code %d", c);
    }
}

int cli_loss_check(cli_opts *o, dln_error *err)
{
    if (o->loss_p_set && strcmp(o->loss, "lp"))
        return dln_fail(err, DLN_EINPUT, "--p is the lp loss's exponent: give --loss lp (the loss is %s)", o->loss);
    if (o->loss_delta_set && strcmp(o->loss, "huber"))
        return dln_fail(err, DLN_EINPUT, "--delta is the huber loss's threshold: give --loss huber (the loss is %s)",
                        o->loss);
    if (o->shallow_restarts_set && !strcmp(o->loss, "square") && !o->matrix) /* a matrix problem's is not */
        return dln_fail(err, DLN_EINPUT, "--shallow-restarts is for the losses without a closed-form optimum (the "
                        "square loss's is exact)");
    return DLN_OK;
}

void cli_loss_params(const cli_opts *o, const char **name, dln_objective_params *p)
{
    memset(p, 0, sizeof *p);
    *name = o->loss;
    if (!strcmp(o->loss, "lp")) p->p = o->loss_p;
    if (!strcmp(o->loss, "huber")) p->delta = o->loss_delta;
}
