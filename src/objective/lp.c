/* lp.c: the lp loss L(Z) = (1/p) sum |Z - Y|^p, p >= 2 (Arora, Cohen & Hazan 2018 compare
 * depth's effect under l2 and l4): gradient sign(E) |E|^(p-1), Hessian (p - 1) |E|^(p-2)
 * entrywise, E = Z - Y. Below p = 2 that Hessian is unbounded at a zero residual (no
 * sharpness, no step-size rule), so such p are refused. The work is dln/ops.h's loss
 * operations (loss_state.c); no exact compression. */
#include <math.h>

#include "objective/objective.h"

static int lp_check(const dln_objective_params *p, double *param, dln_error *err)
{
    DLN_TRY(dln_objective_no_param("lp", p, "p", err));
    if (!(p->p >= 2) || !isfinite(p->p) || p->p > 64)
        return dln_fail(err, DLN_EINPUT, "the lp loss needs 2 <= p <= 64 (got %g): below 2 its Hessian is unbounded "
                        "at a zero residual", p->p);
    *param = p->p;
    return DLN_OK;
}

static double lp_zero_loss(const dln_objective *o, const double *Y, int rows, int n)
{
    double s = 0.0, q = o->loss.param;
    for (size_t e = 0; e < (size_t)rows * (size_t)n; e++) s += (fabs(Y[e]) / q) * pow(fabs(Y[e]), q - 1.0);
    return s;
}

const dln_objective_ops dln_objective_lp = {
    .name = "lp",
    .flags = DLN_OBJECTIVE_INPUT,
    .value_scale = 1.0,
    .loss = DLN_LOSS_LP,
    .check = lp_check,
    DLN_LOSS_STATE_OPS,
    .zero_loss = lp_zero_loss,
};
