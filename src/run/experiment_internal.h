/* experiment_internal.h: what the files of the run API share (internal to src/run/): the
 * experiment's state, its members' options, and the steps experiment.c strings together:
 * the plan (plan.c), the data and starting weights (start.c), the outputs (outputs.c), the
 * Hessian (landscape.c) and the summaries (summary.c). */
#ifndef DLN_EXPERIMENT_INTERNAL_H
#define DLN_EXPERIMENT_INTERNAL_H

#include "dln/dln.h"
#include "dln/experiment.h"

#define DLN_EXPERIMENT_NOTES 8
#define DLN_EXPERIMENT_NOTE_MAX 512
#define DLN_DEFAULT_HESSIAN_ITERS 100 /* Lanczos steps of the Hessian at the end: enough for both ends on the
                                         networks of the tests and the sweeps (a few thousand parameters) */
#define DLN_MAX_MEMBERS (1L << 20)    /* members of one experiment at most (the product of the lists) */

/* One member's values of the lists. */
typedef struct {
    dln_init_kind init;
    double init_scale;
    uint64_t seed;
    double lr;
    dln_lr_rule lr_rule;
    double momentum;
} dln_member_spec;

/* A member's product checked against the shallow problem (reference.c). */
typedef struct {
    int done;
    dln_product_check check; /* at R, the local minimum reached from it, f(R) - f(there) */
    int local_min;       /* end certified, and moved within the run's match tolerance */
    const char *verdict; /* global / shallow local minimum above the best known / not a shallow local minimum */
} dln_member_certificate;

/* The Hessian's extremes at a set of weights, and the loss and gradient norm there. */
typedef struct {
    dln_lanczos_result r;
    double **vmin;  /* the unit eigenvector of lambda_min, weight-shaped (when asked), owned */
    double loss;
    double grad_norm;
    double seconds;
    long params;
} dln_hessian_report;

struct dln_experiment {
    dln_experiment_opts o;       /* lists and widths pointing at the owned copies below */
    dln_error *err;
    dln_experiment_part part;    /* what the last failure concerns */
    int *widths;
    dln_init_kind *inits;
    double *scales, *lrs, *moms;
    dln_lr_rule *lr_rules;
    uint64_t *seeds;
    long members;
    dln_backend *be;
    dln_objective *obj;          /* the loss (NULL: the square loss) */
    const char *backend_note;    /* what `auto` chose (static text), or NULL: the last note */
    dln_data d;                  /* X, Y owned unless they are the caller's arrays */
    int data_borrowed;
    dln_shape s;
    dln_mem_estimate est;
    int batch;                   /* members trained at once */
    double **start;              /* the shared starting weights (loaded, given, or a single run's), or NULL */
    dln_shallow sh;
    int solved;
    dln_convex_result cx;        /* another loss: the convex problem's solve (no rank bound) */
    int convex_solved;
    dln_rank_k_result rk;        /* another loss with an active rank bound: the restarts */
    int rank_k_solved;
    int other_rank;              /* the rank bound the other loss's reference was made for */
    dln_member_certificate *cert; /* [member], where certified */
    dln_matrix_data mx;          /* a matrix problem's observations (o.matrix), owned */
    dln_matrix_metrics *mxm;     /* [member] the final product's metrics (a matrix problem) */
    dln_nuclear_result nn;       /* the nuclear-norm baseline */
    double nn_test_error, nn_effective_rank;
    int nuclear_solved;
    double solve_seconds, seconds; /* the solve; the whole solve command */
    dln_fit fit;
    dln_reference ref;
    dln_member_spec *spec;       /* [member] */
    dln_train_result *res;       /* [member] */
    double *bal0, *bal;          /* [member] balancedness at the start and the end (NaN: not cheap) */
    double ***W;                 /* [member] final weights (keep_weights), else NULL */
    dln_staged_weights **staged; /* [member] the --save sets staged */
    int made_save_dir;           /* this experiment created save_dir (a batch's parent directory) */
    dln_hessian_report h;        /* the Hessian at the end (a single run) or at the loaded weights */
    int have_h;
    dln_staged_weights *direction;
    char notes[DLN_EXPERIMENT_NOTES][DLN_EXPERIMENT_NOTE_MAX];
    int n_notes;
    int prepared, ran, committed;
};

/* ---- members.c ------------------------------------------------------------------------- */
/* Copies o's lists into e and counts the members (DLN_EINPUT past DLN_MAX_MEMBERS). */
int dln_exp_copy_lists(dln_experiment *e, const dln_experiment_opts *o);
void dln_exp_free_lists(dln_experiment *e);
/* Member b's values: b = ((((init n_scales + scale) n_lrs + lr) n_moms + mom) n_seeds + seed). */
dln_member_spec dln_exp_member(const dln_experiment *e, long b);
/* The options member b trains with. */
dln_train_opts dln_exp_member_opts(const dln_experiment *e, const dln_member_spec *m);
/* A note for the front end (printf format). */
void dln_exp_note(dln_experiment *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records the failure's part (when rc is a failure) and returns rc. */
int dln_exp_at(dln_experiment *e, dln_experiment_part part, int rc);

/* ---- plan.c ---------------------------------------------------------------------------- */
/* The data sizes from the .npy headers, the arrays or the synthetic options; 0 x 0 x 0 when
 * a file is not regular (a pipe: known once read). */
int dln_exp_data_dims(dln_experiment *e, int *dx, int *dy, int *m);
/* The network's shape from the options or from the load_dir files' headers. */
int dln_exp_make_shape(dln_experiment *e, int dx, int dy);
/* The memory estimate of the whole run against the limits; for a batch, e->batch = the most
 * members, at most batch_size, that fit (refused when not even one does). */
int dln_exp_check_memory(dln_experiment *e, int dx, int dy, int m);

/* ---- start.c --------------------------------------------------------------------------- */
int dln_exp_get_data(dln_experiment *e);
/* The shared starting weights of a run of one or of every member (load_dir, given weights,
 * perturbed), or none where every member initialises its own. */
int dln_exp_start_weights(dln_experiment *e);
/* Member m's starting weights: a copy of the shared ones, or its initialiser's. */
int dln_exp_member_weights(dln_experiment *e, const dln_member_spec *m, double ***W);

/* ---- matrix.c: completion and sensing ------------------------------------------------ */
/* The nuclear-norm baseline where wanted (o.nuclear; a note where it is not defined). */
int dln_exp_nuclear_baseline(dln_experiment *e);
/* Member b's final product measured (e->mxm[b]); nothing for other problems. */
int dln_exp_measure_member(dln_experiment *e, long b, double *const *W);
/* The summary fields: the problem, the baseline, a member's metrics. */
void dln_exp_put_matrix_problem(dln_json *j, const dln_experiment *e);
void dln_exp_put_matrix_baseline(dln_json *j, const dln_experiment *e);
void dln_exp_put_matrix_member(dln_json *j, const dln_experiment *e, long b);

/* ---- outputs.c ------------------------------------------------------------------------- */
/* Every output directory checked before any work (nothing written). */
int dln_exp_check_outputs(dln_experiment *e);
/* Member b's final weights staged (save_dir, or save_dir/<b> in a batch). */
int dln_exp_stage_weights(dln_experiment *e, long b, double *const *W);
/* A batch's parent directory made (recorded: removed again when nothing is committed). */
int dln_exp_make_save_dir(dln_experiment *e);
int dln_exp_commit_outputs(dln_experiment *e);
void dln_exp_abort_outputs(dln_experiment *e);

/* ---- landscape.c ----------------------------------------------------------------------- */
/* Refuses a Lanczos basis larger than half the host's memory. */
int dln_exp_check_hessian(dln_experiment *e);
/* The Hessian's extremes at W on the fit (the compression where kept), e->h filled. */
int dln_exp_hessian_at(dln_experiment *e, double *const *W, int want_vmin);
void dln_exp_hessian_free(dln_experiment *e);

/* ---- reference.c ----------------------------------------------------------------------- */
/* k < min(dx, dy): the rank bound constrains the shallow problem. */
int dln_exp_rank_bound_active(const dln_experiment *e, int k);
/* A loss other than the square: the convex optimum, with an active bound k the rank-k
 * restarts; for train, the fit and the reference from them. */
int dln_exp_other_reference(dln_experiment *e, int k);
/* Whether members are certified (asked, or cheap). */
int dln_exp_certify_wanted(const dln_experiment *e);
/* Member b's product (W, host) certified into e->cert[b]. */
int dln_exp_certify_member(dln_experiment *e, long b, double *const *W);

/* ---- summary.c ------------------------------------------------------------------------- */
/* Why member b stopped (the library's note, and the Hessian's saddle kind with it). */
void dln_exp_member_note(const dln_experiment *e, long b, char *buf, size_t n);

#endif
