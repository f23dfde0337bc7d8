/* step_size.c: the automatic step sizes (docs/maths.md section 5), stated once here.
 * The sharpness rule (the default): lr = DLN_LR_FACTOR (1 - mu) / lambda_max of the Hessian
 * at the weights, lambda_max by Lanczos on exact Hessian-vector products, measured and
 * re-estimated by tracker.c. The curvature bound (DLN_LR_ARORA, and the stand-in where
 * lambda_max is not positive):
 *   lr = 1 / (sigma_1(X)^2 sum_i prod_{j != i} a_j^2),
 *   a_j = max(1.1 ||W_j||_2, (1.1 rho)^(1/H)),  rho = ||M S_r^{-1}||_2 = ||R_ls||_2,
 * every norm estimated by DLN_NORM_ITERS steps of power iteration (from below, hence the
 * factor 1.1), the sum evaluated in log space. sigma_1(X) and rho come from the reference
 * (its input_norm and lstsq_norm: the solver estimates rho the same way, on M S_r^-2 M^T
 * from a fixed start, so it does not depend on the signs the SVD gave the columns of M). */
#include <math.h>
#include <stdlib.h>

#include "dln/diagnostics.h"
#include "dln/trainer.h"

#define MARGIN 1.1 /* power iteration estimates norms from below */

double dln_auto_lr(const dln_shape *s, double *const *W, const dln_reference *ref)
{
    int H = s->depth;
    double rho = ref->lstsq_norm > 0 ? MARGIN * ref->lstsq_norm : 0.0;
    double target = rho > 0 ? pow(rho, 1.0 / H) : 0.0;
    double *loga = malloc(sizeof(double) * (size_t)H), total = 0.0;
    if (!loga) return NAN;
    for (int j = 0; j < H; j++) {
        // W_j is (d_{j+1}, d_j): iterate on W_j^T W_j from the input side, as the norm of W_j^T
        double a = MARGIN * dln_spectral_norm(s->dims[j + 1], s->dims[j], W[j], 1, NULL, DLN_NORM_ITERS);
        if (a < target) a = target;
        if (a <= 0) a = 1e-300;
        loga[j] = 2.0 * log(a);
        total += loga[j];
    }
    double sum = 0.0;
    for (int i = 0; i < H; i++) sum += exp(total - loga[i]);
    free(loga);
    double L = ref->input_norm * ref->input_norm * sum;
    return L > 0 && isfinite(L) ? 1.0 / L : NAN;
}
