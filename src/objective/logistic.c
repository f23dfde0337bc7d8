/* logistic.c: the logistic loss L(Z) = sum softplus(Z) - Y o Z, independent binary labels per
 * output (entries of Y in [0, 1], soft labels allowed): gradient sigmoid(Z) - Y, Hessian
 * sigmoid(Z) sigmoid(-Z) <= 1/4 entrywise. On separable data its infimum is 0, approached
 * as the weights grow without bound: no minimiser. The work is dln/ops.h's loss operations
 * (loss_state.c); no exact compression. */
#include <math.h>

#include "objective/objective.h"

static int logistic_target(const double *Y, int rows, int n, dln_error *err)
{
    for (size_t e = 0; e < (size_t)rows * (size_t)n; e++)
        if (!(Y[e] >= 0.0 && Y[e] <= 1.0))
            return dln_fail(err, DLN_EINPUT, "the logistic loss needs labels in [0, 1]: Y has %g at (%zu, %zu)", Y[e],
                            e % (size_t)rows, e / (size_t)rows);
    return DLN_OK;
}

static double logistic_zero_loss(const dln_objective *o, const double *Y, int rows, int n)
{
    (void)o, (void)Y;
    return (double)rows * (double)n * log(2.0); /* softplus(0) = log 2 per entry */
}

const dln_objective_ops dln_objective_logistic = {
    .name = "logistic",
    .flags = DLN_OBJECTIVE_INPUT | DLN_OBJECTIVE_UNIT_CURVATURE,
    .value_scale = 1.0,
    .labels = DLN_LABELS_BINARY,
    .loss = DLN_LOSS_LOGISTIC,
    .check_target = logistic_target,
    DLN_LOSS_STATE_OPS,
    .zero_loss = logistic_zero_loss,
};
