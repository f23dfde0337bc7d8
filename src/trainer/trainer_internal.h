/* trainer_internal.h: what the trainer's files share (internal to src/trainer/). The
 * network functions take a member: the slot of the network that holds the run. */
#ifndef DLN_TRAINER_INTERNAL_H
#define DLN_TRAINER_INTERNAL_H

#include "dln/diagnostics.h"
#include "dln/trainer.h"

/* One Armijo backtracking step from the current weights of a network of one member, whose
 * loss and squared gradient norm are given (line_search.c), the first trial min(2 lr, cap)
 * (*capped counts the steps held at the cap). On success *ok is set, *lr holds the accepted
 * step and the network stands at the new weights with their gradient; a zero gradient is no
 * decrease. */
int dln_line_search_step(dln_network *net, double loss, double grad_sumsq, double cap, double *lr, int *ok,
                         int *capped);

/* The observables' state (observables.c): what is measured and its scratch. */
typedef struct {
    unsigned what;
    const dln_reference *ref;
    const dln_shape *s;
    int sharpness_iters;
    double sharpness_rtol; /* > 0: Lanczos to this relative accuracy of lambda_max */
    int sharpness_k;       /* > 1: the top eigenvalues too, into top */
    double *top;
    double *R, *work, *sv; /* the product (dy, dx), a copy for the SVD, its values */
    double *RC, *mode;     /* R C, the mode strengths */
    double *norms;
    double **W;            /* the weights on the host, for balancedness */
    dln_network *flow;     /* DLN_OBSERVE_FLOW: the gradient flow from the start, on a network of its own */
    double flow_t, flow_rtol;
    double **Wf;           /* its weights at flow_t (host) */
} dln_obs_state;

/* The flow's start for DLN_OBSERVE_FLOW (what has it): the backend, the data and the starting weights. */
typedef struct {
    dln_backend *be;
    const dln_fit *fit;
    double *const *W;
    double rtol;
} dln_obs_flow_start;

int dln_obs_prepare(dln_obs_state *st, unsigned what, int sharpness_iters, const dln_reference *ref,
                    const dln_shape *s, const dln_obs_flow_start *flow, dln_error *err);
/* Fills obs's observables at the member's current weights (NULL / NaN for those not asked);
 * the sharpness also where sharpness is set; at the traced steps (traced: those observe_every
 * divides and the last) a matrix problem's metrics and the distance to the flow. */
int dln_obs_measure(dln_obs_state *st, dln_network *net, int member, int sharpness, int traced,
                    dln_observation *obs, dln_error *err);
void dln_obs_free(dln_obs_state *st);

/* The run's verdict from its result, its recent checked steps and the reference
 * (verdict.c). window holds the last n (step, loss, gap) checks, oldest first. */
typedef struct {
    long step;
    double loss, gap;
    double lr, grad_sumsq; /* the step size from this step and ||G||^2 here */
} dln_check_record;
void dln_judge(dln_train_result *res, const dln_check_record *window, int n, const dln_reference *ref,
               const dln_shape *s, double tol);

/* ---- the sharpness rule's tracker (tracker.c) ------------------------------------------- */

#define DLN_LR_UNSTABLE 4.0 /* lr lambda above this: the sharpness rule lowers lr to c / lambda */
#define DLN_RISE 2.0 /* the gap above this factor times the last decision step's: a rise */
/* Without a reference value there is no gap (run.c): a rise is the loss more than doubled
 * (0 bounds these losses below), or a stall, checked at a re-estimate at least
 * DLN_STALL_WINDOW steps after the last check: the loss fell by less than DLN_MIN_DECREASE of
 * the first-order decrease (t - s) lr ||G_s||^2 while ||G|| has not halved. A period-2 bounce
 * across the sharpest direction that does not decay is one; a descent at the rule's
 * lr lambda = 1.8 keeps about 1 - 1.8 / 2 = 0.1 of the first-order decrease along that
 * direction and all of it along flatter ones. */
#define DLN_STALL_WINDOW 100
#define DLN_MIN_DECREASE 0.05

typedef struct {
    int enabled;      /* the sharpness rule sets lr */
    int every;        /* the longest interval between re-estimates (0: never) */
    long interval;    /* the current interval: halved while lambda moves, doubled while it holds */
    long next_due;    /* the next decision step: a re-estimate, or a watch step (lr lambda > 2) */
    long next_estimate; /* the next re-estimate step */
    int guard;        /* a rise of the gap re-estimates at once and halves (not with momentum) */
    double factor;    /* c (1 - mu): the step is factor / max(lambda_max, floor) */
    double unstable;  /* lr lambda above this is lowered to factor / lambda: DLN_LR_UNSTABLE for plain
                         gradient descent, the heavy-ball edge 2 (1 + mu) with momentum */
    double floor;     /* lambda_max at the balanced factorisation of the first mode (0: unknown) */
    double watch;     /* lr lambda above this: every step a decision step (plain gradient descent) */
    int hold;         /* set by run.c: the step may not grow at this decision */
    const dln_shape *s;
    double **v;       /* warm start: the last top eigenvector, shaped as the weights */
    double lambda;    /* the last lambda_max (NaN: none) */
    long measured_at; /* the step it was measured at */
    double gap_at_decision; /* the gap at the last decision step (more than doubled since: halve) */
    int changes;      /* times lr changed */
} dln_tracker;

/* The rule's floor: lambda_max at the balanced factorisation of the reference's first mode
 * (0 where unknown), measured on the network's member, which holds W again afterwards. It
 * depends on the data and the shape only, so a batch computes it once. */
int dln_tracker_floor(dln_network *net, int member, const dln_shape *s, const dln_reference *ref, double *const *W,
                      double *floor, dln_error *err);
/* The start: lambda_max at the member's weights by Lanczos from a random start (the rule's
 * lr when enabled, the line search's bound 2 / lambda_max otherwise); floor: from
 * dln_tracker_floor, or NULL to compute it here. */
int dln_tracker_start(dln_tracker *k, dln_network *net, int member, const dln_shape *s, const dln_reference *ref,
                      double *const *W, int enabled, int every, double momentum, const double *floor, double *lr,
                      dln_error *err);
/* Whether step t is a decision step (the rule on): a re-estimate step, or a watch step
 * (every step while lr lambda > 2) where only a rise of the gap re-estimates. */
int dln_tracker_due(const dln_tracker *k, long t);
/* Whether the decision at step t measures lambda_max (needs the member's weights). */
int dln_tracker_estimates(const dln_tracker *k, long t, int rose);
/* Before the update into step t + 1, at a decision step: at a re-estimate (or a rise),
 * lambda_max measured again and *lr adjusted (tracker.c); the next decision step set. */
int dln_tracker_step(dln_tracker *k, dln_network *net, int member, long t, int rose, double *lr, dln_error *err);
/* At the end (step t): lambda_max at the final weights, unless just measured there. */
int dln_tracker_final(dln_tracker *k, dln_network *net, int member, long t, dln_error *err);
void dln_tracker_free(dln_tracker *k);

/* ---- one run's bookkeeping (run.c) ---------------------------------------------------- */

#define DLN_WINDOW 64 /* checked steps kept for the verdict */

typedef struct {
    const dln_train_opts *o;
    const dln_reference *ref;
    const dln_shape *s;
    int compressed, check_every;
    double offset, optimum; /* loss = the network's loss + offset; gap = the network's loss - optimum */
    dln_train_result *res;
    dln_observation obs;       /* the last checked state */
    dln_check_record win[DLN_WINDOW];
    long checks;               /* checks seen (the window holds the last DLN_WINDOW) */
    double blowup;
    double grad0;              /* ||G|| at the start (the gradient tolerance's scale) */
    double decided_loss; /* the loss at the last decision step (or the start) */
    double stall_loss, stall_gsq; /* without a reference value: the loss and ||G||^2 at the last stall check */
    double rise_from;             /* and the loss where the last rise started, until the loss is below it (NaN) */
    long stall_at;
    int stopped;
    int rose;                  /* the loss rose at the last check (above the check before) */
    dln_tracker tracker;
    dln_obs_state ost;         /* the observables asked for */
} dln_run;

/* Validates the options against fit, reference and shape, fills the run and the first
 * fields of res (compressed; lr when given or by the curvature bound), and the check
 * interval (the backend's default when 0). */
int dln_run_begin(dln_run *r, dln_backend *be, const dln_fit *fit, const dln_reference *ref, const dln_shape *s,
                  double *const *W, const dln_train_opts *o, dln_train_result *res, dln_error *err);
/* With the member at the starting weights W: the sharpness rule's step size (and the line
 * search's bound), the tracker started (floor as dln_tracker_start's). */
int dln_run_start(dln_run *r, dln_network *net, int member, double *const *W, const double *floor, dln_error *err);
/* Whether step t is read: every check_every, every observe_every and sharpness_every, the
 * last, every step of a line search, every decision step of the rule. */
int dln_run_is_check(const dln_run *r, long t);
/* At checked step t with the member's stats: records the state, measures the observables
 * asked for (on the member), and stops the run (r->stopped, res->stop) on divergence,
 * convergence, a tolerance, the step limit, or the observer's request (asked only when the
 * run goes on). */
int dln_run_check(dln_run *r, long t, const dln_network_stats *st, double lr, double time, double seconds,
                  dln_network *net, int member, dln_error *err);
/* The result at the end (steps t, the last state, the verdict) and the final observation. */
void dln_run_finish(dln_run *r, long t, double lr, double time, double seconds, int ok);
/* Frees what the run holds (the tracker's and the observables' buffers). */
void dln_run_free(dln_run *r);

#endif
