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

/* ---- one run's bookkeeping, shared by the single and the batched loop (run.c) ---------- */

#define DLN_WINDOW 64 /* checked steps kept for the verdict */

typedef struct {
    const dln_train_opts *o;
    const dln_shallow *sh;
    const dln_shape *s;
    int compressed, check_every;
    dln_train_result *res;
    dln_observation obs;       /* the last checked state */
    dln_check_record win[DLN_WINDOW];
    long checks;               /* checks seen (the window holds the last DLN_WINDOW) */
    double blowup;
    int stopped;
} dln_run;

/* Validates the options against data, solution and shape, fills the run and the first
 * fields of res (compressed, lr: the given or the automatic step size), and the check
 * interval (the backend's default when 0). */
int dln_run_begin(dln_run *r, dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s,
                  double *const *W, const dln_train_opts *o, dln_train_result *res, dln_error *err);
/* Whether step t is read: every check_every, every observe_every, the last, every step of
 * a line search. */
int dln_run_is_check(const dln_run *r, long t);
/* At checked step t with the squared norms st: records the state, and stops the run
 * (r->stopped, res->stop) on divergence, convergence, the step limit, or the observer's
 * request (asked only when the run goes on; observables filled by measure, if given). */
int dln_run_check(dln_run *r, long t, const dln_network_stats *st, double lr, double seconds, dln_obs_state *ost,
                  dln_network *net, dln_error *err);
/* The result at the end (steps t, the last state, the verdict) and the final observation. */
void dln_run_finish(dln_run *r, long t, double lr, double seconds, int ok);

#endif
