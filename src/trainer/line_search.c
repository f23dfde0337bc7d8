/* line_search.c: backtracking (Armijo, c = 1/2) on plain gradient descent. From the
 * current weights W with loss L and gradient G, try W - lr G from lr = 2 x the last
 * accepted step, but no more than the bound 2 / lambda_max of the Hessian at the start
 * (the stability limit of gradient descent on the quadratic model), halving until
 * L(W - lr G) <= L - lr/2 ||G||^2, at most MAX_TRIALS tries (59 halvings). A
 * zero gradient stops the search: the weights are a critical point. */
#include <math.h>

#include "trainer/trainer_internal.h"

#define MAX_TRIALS 60

int dln_line_search_step(dln_network *net, double loss, double grad_sumsq, double cap, double *lr, int *ok,
                         int *capped)
{
    double try_lr = 2.0 * *lr;
    *ok = 0;
    if (!(grad_sumsq > 0)) return DLN_OK; /* stationary: no step can satisfy the test strictly */
    if (try_lr >= cap) try_lr = cap, ++*capped;
    for (int h = 0; h < MAX_TRIALS; h++, try_lr *= 0.5) {
        double trial;
        DLN_TRY(dln_network_try(net, try_lr, &trial));
        if (isfinite(trial) && trial <= loss - 0.5 * try_lr * grad_sumsq) {
            *lr = try_lr;
            *ok = 1;
            return dln_network_accept(net);
        }
    }
    return DLN_OK;
}
