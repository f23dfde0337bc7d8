/* softmax.c: the softmax cross-entropy L(Z) = sum_j logsumexp(Z_:j) - Y_:j^T Z_:j, one sample
 * per column, each column of Y a distribution over the rows (one-hot or soft labels):
 * gradient softmax(Z_:j) - Y_:j, Hessian diag(p) - p p^T per column (p = softmax(Z_:j)),
 * whose largest eigenvalue is at most 1/2. The work is dln/ops.h's loss operations
 * (loss_state.c); no exact compression. */
#include <float.h>
#include <math.h>

#include "objective/objective.h"

/* Nonnegative columns summing to 1 within rows x FLT_EPSILON: labels normalised in fp32 keep
 * each entry to half an ulp and their sum to about rows ulps of 1. */
static int softmax_target(const double *Y, int rows, int n, dln_error *err)
{
    for (int j = 0; j < n; j++) {
        double s = 0.0;
        for (int i = 0; i < rows; i++) {
            double y = Y[i + (size_t)j * rows];
            if (!(y >= 0.0))
                return dln_fail(err, DLN_EINPUT, "the softmax loss needs nonnegative labels: Y has %g at (%d, %d)", y,
                                i, j);
            s += y;
        }
        if (!(fabs(s - 1.0) <= rows * (double)FLT_EPSILON))
            return dln_fail(err, DLN_EINPUT, "the softmax loss needs every column of Y to sum to 1: column %d sums "
                            "to %.17g", j, s);
    }
    return DLN_OK;
}

static double softmax_zero_loss(const dln_objective *o, const double *Y, int rows, int n)
{
    (void)o, (void)Y;
    return (double)n * log((double)rows); /* logsumexp(0) = log(rows) per column, Y^T 0 = 0 */
}

const dln_objective_ops dln_objective_softmax = {
    .name = "softmax",
    .flags = DLN_OBJECTIVE_INPUT | DLN_OBJECTIVE_UNIT_CURVATURE,
    .value_scale = 1.0,
    .labels = DLN_LABELS_CLASSES,
    .loss = DLN_LOSS_SOFTMAX,
    .check_target = softmax_target,
    DLN_LOSS_STATE_OPS,
    .zero_loss = softmax_zero_loss,
};
