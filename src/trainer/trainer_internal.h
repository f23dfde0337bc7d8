/* trainer_internal.h: what the trainer's files share (internal to src/trainer/). */
#ifndef DLN_TRAINER_INTERNAL_H
#define DLN_TRAINER_INTERNAL_H

#include "dln/trainer.h"

/* One Armijo backtracking step from the current weights, whose squared residual and
 * gradient norms are given (line_search.c). On success *ok is set, *lr holds the accepted
 * step and the network stands at the new weights with their gradient. */
int dln_line_search_step(dln_network *net, double residual_sumsq, double grad_sumsq, double *lr, int *ok);

/* The observables' state (observables.c): what is measured and its scratch. */
typedef struct {
    unsigned what;
    const dln_shallow *sh;
    const dln_shape *s;
    int sharpness_iters;
    double *R, *work, *sv;           /* the product (dy, dx), a copy for the SVD, its values */
    double *RC, *mode, *tsv, *U, *VT; /* R C, the mode strengths, sigma(M), M's singular vectors */
    int n_modes;
    double *norms;
    double **W;                      /* the weights on the host, for balancedness */
} dln_obs_state;

int dln_obs_prepare(dln_obs_state *st, unsigned what, int sharpness_iters, const dln_shallow *sh,
                    const dln_shape *s, dln_error *err);
/* Fills obs's observables at the network's current weights (NULL / NaN for those not asked). */
int dln_obs_measure(dln_obs_state *st, dln_network *net, dln_observation *obs, dln_error *err);
void dln_obs_free(dln_obs_state *st);

/* The run's verdict from its result, its recent checked steps and the solution
 * (verdict.c). window holds the last n (step, loss, gap) checks, oldest first. */
typedef struct {
    long step;
    double loss, gap;
} dln_check_record;
void dln_judge(dln_train_result *res, const dln_check_record *window, int n, const dln_shallow *sh,
               const dln_shape *s, double tol);

#endif
