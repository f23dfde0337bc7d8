/* dln/trainer.h: full-batch gradient descent on deep linear networks, timed against a
 * reference value (dln/problem.h): one run, or `count` runs of one shape on the same data
 * trained together as the members of one network (dln/network.h), each exactly the run it
 * would be alone. The trainer never prints: it reports each checked step and the final
 * state to an observer (a callback), and returns a result saying why each run stopped. The
 * JSONL trace and the progress line of the command-line program, the Python package, the
 * benchmarks and the tests are such observers. */
#ifndef DLN_TRAINER_H
#define DLN_TRAINER_H

#include "dln/model.h"
#include "dln/network.h"
#include "dln/problem.h"

typedef enum { DLN_DATA_AUTO = 0, DLN_DATA_FULL = 1, DLN_DATA_COMPRESSED = 2 } dln_data_mode;

/* Observables computed at every checked step when asked for (an OR of these in
 * dln_train_opts.observe), each at the cost stated (docs/maths.md section 8). */
enum {
    DLN_OBSERVE_SPECTRUM = 1,  /* singular values of R = W_H...W_1, effective rank: H - 1 GEMMs, host SVD of R */
    DLN_OBSERVE_MODES = 2,     /* strength u_i^T R C v_i of each target mode M = U S V^T (compressed pair) */
    DLN_OBSERVE_NORMS = 4,     /* ||W_i||_F: H reductions */
    DLN_OBSERVE_BALANCE = 8,   /* balancedness: the weights to the host, O(sum d_j^2 (d_{j-1} + d_{j+1})) */
    DLN_OBSERVE_SHARPNESS = 16, /* lambda_max of the Hessian: Lanczos, sharpness_iters Hessian-vector products
                                  (also every sharpness_every steps without being asked here) */
    DLN_OBSERVE_FLOW = 32      /* ||W - W_flow(t)||: the gradient flow from the same start integrated (on a
                                  network of its own, rtol flow_rtol or 1e-8) to the step's flow time t = the
                                  sum of the steps; at the steps observe_every divides and the last only */
};

/* What an observer receives: the state at a checked step (step t = after t updates).
 * The arrays belong to the trainer and are valid during the call only; an observable not
 * asked for has a NULL array (count 0) or NaN. */
typedef struct {
    long step;
    double loss, gap, rel_gap, grad_norm; /* gap, rel_gap: NaN without a reference value */
    double lr;      /* step size of the next update (the last accepted one with line search) */
    double time;    /* the sum of the step sizes of the updates so far: the gradient-flow time */
    double seconds; /* since the training loop started */
    int final;      /* the last observation of the run: the state the result reports */
    const double *product_sv; /* sigma_i(W_H...W_1), descending */
    int n_product_sv;
    double effective_rank;    /* exp(entropy of sigma_i / sum sigma) (Roy and Vetterli 2007) */
    /* a matrix problem (the reference's matrix, dln/matrix.h), at the steps observe_every
     * divides and at the last check (the effective rank above too): NaN elsewhere */
    double nuclear_norm, test_error;
    const double *mode_strength, *target_sv; /* u_i^T R C v_i and sigma_i(M), i < n_modes */
    int n_modes;
    const double *layer_norms; /* ||W_i||_F, i < n_layers */
    int n_layers;
    double balancedness;
    double sharpness; /* lambda_max of the Hessian: gradient descent on a quadratic is stable for lr < 2 / it */
    double sharpness_est; /* the step-size rule's latest estimate of lambda_max (NaN: none made) */
    double flow_distance; /* DLN_OBSERVE_FLOW: ||W - W_flow(time)||_F over all layers (NaN elsewhere) */
    double flow_weight_norm; /* ||W_flow(time)||_F, its scale */
    const double *sharpness_top; /* where the sharpness was measured with sharpness_k > 1: the top
                                    eigenvalues of the Hessian, descending (n_sharpness_top of them) */
    int n_sharpness_top;
} dln_observation;

/* Called at every checked step and once more, with final set, at the end (a step may be
 * reported twice: as a check and as the final state). A non-zero return stops the run
 * (DLN_STOP_OBSERVER); the final observation's return value is ignored. */
typedef int (*dln_observer_fn)(void *ctx, const dln_observation *obs);

/* How the step size is chosen when lr <= 0 (docs/maths.md section 5). */
typedef enum {
    DLN_LR_SHARPNESS = 0, /* c / lambda_max of the Hessian, measured at the start and re-estimated */
    DLN_LR_ARORA = 1,     /* the curvature bound of dln_auto_lr, once, at the start */
} dln_lr_rule;

typedef struct {
    double lr;         /* > 0: this step size; <= 0: chosen by lr_rule */
    dln_lr_rule lr_rule;
    int reestimate_every; /* DLN_LR_SHARPNESS: the longest interval between re-estimates (from step 1,
                             sooner while lambda moves), each a checked step (0: 200; < 0: never) */
    double momentum;   /* heavy ball, 0 = plain gradient descent */
    int line_search;   /* backtracking (Armijo) instead of a fixed lr; needs momentum 0 */
    long steps;        /* maximum number of updates */
    double tol;        /* stop when rel_gap <= tol; 0 disables (and so does a reference without a value) */
    double grad_tol;   /* stop when ||G|| <= grad_tol ||G_0||, the gradient at the start; 0 disables */
    double loss_tol;   /* stop when |L_t - L_s| <= loss_tol |L_t| between checked steps s < t; 0 disables */
    int check_every;   /* read the loss every this many steps; 0: 1, or 50 where reading a
                          result waits for a device (DLN_CAP_ASYNC) */
    int observe_every; /* also check every this many steps (0: no extra checks) */
    dln_observer_fn observer;
    void *observer_ctx;
    unsigned observe;    /* DLN_OBSERVE_* computed at every checked step (0: none) */
    int sharpness_every; /* also check every this many steps and measure lambda_max there (0: never) */
    int sharpness_iters; /* Lanczos steps for the sharpness (0: 20) */
    dln_data_mode data_mode;
    dln_dtype dtype;
    /* > 0: follow the gradient flow dW/dt = -grad L(W) to this time instead of taking
     * gradient-descent steps (docs/maths.md section 10): a step is one accepted Dormand-Prince
     * 5(4) step of the member's own adaptive size, `time` is flow time, and the run also stops
     * at it (DLN_STOP_FLOW_END); lr, lr_rule, momentum and line_search do not apply */
    double flow;
    double flow_rtol;  /* the flow's relative tolerance per step (0: 1e-8) */
    double sharpness_rtol; /* > 0: the traced sharpness's Lanczos runs until lambda_max's residual bound is at
                              most this relative tolerance (at most max(sharpness_iters, 1000) products) */
    int sharpness_k;   /* > 1: also the top sharpness_k eigenvalues of the Hessian where lambda_max is traced
                          (each to sharpness_rtol where that is set) */
} dln_train_opts;

void dln_train_opts_default(dln_train_opts *o);

typedef enum {
    DLN_STOP_CONVERGED = 0,   /* rel_gap <= tol */
    DLN_STOP_STEP_LIMIT = 1,  /* made `steps` updates */
    DLN_STOP_DIVERGED = 2,    /* a non-finite loss, or one above 1e6 max(initial loss, 1/2 ||Y||^2) */
    DLN_STOP_NO_DECREASE = 3, /* the line search found no decrease: the gradient is at rounding level */
    DLN_STOP_OBSERVER = 4,    /* the observer asked to stop */
    DLN_STOP_GRAD_TOL = 5,    /* ||G|| <= grad_tol ||G_0|| */
    DLN_STOP_LOSS_TOL = 6,    /* the loss changed by at most loss_tol |L| between checks */
    DLN_STOP_FLOW_END = 7,    /* the gradient flow reached its end time */
} dln_stop_reason;

/* Where a run ended (docs/maths.md section 8 gives the rules). */
typedef enum {
    DLN_VERDICT_GLOBAL = 0,      /* rel_gap <= tol: the shallow optimum, as the theorem says */
    DLN_VERDICT_CRITICAL = 1,    /* the loss is L*_j of a rank j < k and the gradient is small: a saddle */
    DLN_VERDICT_STATIONARY = 2,  /* the gradient is at rounding level above L*: not a minimum */
    DLN_VERDICT_DECREASING = 3,  /* still going down: more steps (an estimate is given) */
    DLN_VERDICT_OSCILLATING = 4, /* the loss stopped decreasing: the step is too large */
    DLN_VERDICT_DIVERGED = 5,
    DLN_VERDICT_STOPPED = 6,     /* the observer stopped the run */
    DLN_VERDICT_TOLERANCE = 7,   /* no reference value: the gradient or loss-change tolerance was met */
    DLN_VERDICT_SEPARABLE = 8,   /* the loss's infimum 0 is not attained (separable data): it decreases forever */
} dln_verdict;

const char *dln_verdict_name(dln_verdict v);

typedef struct {
    double loss, optimum, gap, rel_gap, grad_norm; /* optimum, gap, rel_gap: NaN without a reference value */
    double loss_init;
    double time;         /* the gradient-flow time of the final weights: the sum of the step sizes */
    double lr;           /* step size used (the last accepted one with line search) */
    double lr_init;      /* the first step size */
    double sharpness_init; /* lambda_max of the Hessian at the start (NaN: not measured) */
    double sharpness;    /* lambda_max at the final weights (NaN: not measured) */
    int lr_changes;      /* times the sharpness rule changed the step size */
    int lr_capped;       /* line search steps held at the upper bound 2 / sharpness */
    double seconds;      /* wall time of the training loop */
    long steps;          /* updates made */
    int converged, diverged, compressed;
    dln_stop_reason stop;
    dln_verdict verdict;
    int verdict_rank;      /* the rank j of a DLN_VERDICT_CRITICAL (else -1) */
    double grad_rel;       /* grad_norm / the reference's grad_scale (sigma_1(X) ||Y||): the gradient on the
                              data's scale (NaN: no scale known) */
    double steps_to_tol;   /* DLN_VERDICT_DECREASING: steps still needed at the recent rate (NaN: unknown) */
    int verdict_skipped, verdict_added; /* DLN_VERDICT_STATIONARY off the rank path: the loss is that of
                                           the top verdict_rank modes with mode verdict_skipped (1-based)
                                           left out and verdict_added learnt instead (else 0) */
    long flow_rejected, flow_evaluations; /* the flow: rejected steps, gradient evaluations */
} dln_train_result;

/* One line saying why the run stopped, in the library's terms (no advice). It never needs more
 * than DLN_TRAIN_NOTE_MAX bytes with its NUL (tests/test_verdict.c checks every form of it with
 * the widest numbers); a smaller buf truncates it. */
#define DLN_TRAIN_NOTE_MAX 512
void dln_train_describe(const dln_train_result *r, const dln_train_opts *o, char *buf, size_t n);

/* The curvature-bound step size (DLN_LR_ARORA; docs/maths.md section 5) from the
 * reference's input_norm and lstsq_norm (NaN where the input norm is unknown). */
double dln_auto_lr(const dln_shape *s, double *const *W, const dln_reference *ref);
/* The sharpness rule's factor c: lr = c (1 - mu) / lambda, lambda the larger of lambda_max
 * of the Hessian at the weights and at the balanced factorisation of the first mode a small
 * start learns (the reference's first_mode), measured at the start and re-estimated during the
 * run (docs/maths.md section 5). c < 2: gradient descent on the local quadratic is stable;
 * 1.8 keeps 10% from the edge (chosen on bench/lr_quality: 1.0 took up to 1.8x the steps
 * of the best fixed step on well-conditioned problems). Where lambda is not positive the
 * curvature bound (DLN_LR_ARORA) stands in. */
#define DLN_LR_FACTOR 1.8

/* Trains count runs of shape s on the fit's data, or on their exact compression (the data
 * mode's choice; the fit must then hold C and M), measured against ref: member b starts from
 * W[b] (host, in/out: the final weights on return) with options o[b] and gets res[b], each
 * exactly what it gets alone (bit for bit on the CPU: a run of one is the same loop). The
 * members share the data mode, precision and check schedule; the line search is for a
 * count of one. */
int dln_train(dln_backend *be, const dln_fit *fit, const dln_reference *ref, const dln_shape *s, int count,
              double ***W, const dln_train_opts *o, dln_train_result *res, dln_error *err);

/* ---- the gradient flow (src/trainer/flow.c; docs/maths.md section 10) --------------------- */

/* One member's step control: its time, step, tolerances and counts (flow.c). */
typedef struct {
    double T, t, h, rtol, atol;
    long accepted, rejected, evaluations;
    double last_h;
} dln_flow_ctl;
#define DLN_FLOW_RTOL 1e-8 /* the flow's tolerance where none is given */
/* The control of the member in slot of net (its weights' norm read there), whose squared
 * gradient norm is grad_sumsq, for a time T at tolerance rtol (0: DLN_FLOW_RTOL). */
int dln_flow_ctl_start(dln_flow_ctl *c, dln_network *net, int slot, double T, double rtol, double grad_sumsq,
                       dln_error *err);
/* The step to try now (0 once at T). */
double dln_flow_ctl_h(const dln_flow_ctl *c);
/* The try of step h with the squared norms of the error estimate, the start and the point
 * reached: whether it is accepted (the time advanced), and the next step chosen. */
int dln_flow_ctl_judge(dln_flow_ctl *c, double h, double err_sq, double w0_sq, double w1_sq);

typedef struct {
    double t;              /* the flow time reached (T at the end) */
    long accepted, rejected; /* Dormand-Prince steps */
    long evaluations;      /* gradient evaluations (6 per try, 1 at the start) */
    double last_h;         /* the last accepted step */
    double loss, grad_norm; /* at the end */
    int reached;
} dln_flow_stats;

/* Every member of net from its current weights along dW/dt = -grad L(W) for a time T[b], each
 * with its own adaptive step, to relative tolerance rtol (per step, in the Frobenius norm over
 * the layers); the weights at T left on the network, each member's statistics in st[b].
 * DLN_ERUNTIME when max_tries steps (accepted or not) do not reach every end. */
int dln_flow_integrate(dln_network *net, const double *T, double rtol, long max_tries, dln_flow_stats *st,
                       dln_error *err);

#endif
