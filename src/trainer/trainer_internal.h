/* trainer_internal.h: what the trainer's files share (internal to src/trainer/). */
#ifndef DLN_TRAINER_INTERNAL_H
#define DLN_TRAINER_INTERNAL_H

#include "dln/trainer.h"

/* One Armijo backtracking step from the current weights, whose squared residual and
 * gradient norms are given (line_search.c). On success *ok is set, *lr holds the accepted
 * step and the network stands at the new weights with their gradient. */
int dln_line_search_step(dln_network *net, double residual_sumsq, double grad_sumsq, double *lr, int *ok);

#endif
