/* dln/experiment.h: one experiment from its description to its summaries: what `dln train`,
 * `dln solve` and `dln hessian` run and what the Python package calls, so that both front
 * ends only parse and print. The library plans it (the memory it needs, how many members
 * fit at once), gets the data (.npy files, arrays or a synthetic problem), makes the
 * starting weights (initialised, loaded from files or given, and perturbed), solves the
 * shallow problem, trains the members (the product of the option lists) in batches, measures
 * the Hessian at the end, builds every summary once (a JSON record both front ends print or
 * return), and saves what it is asked to (the weights, the eigenvector of lambda_min, the
 * shallow solution, the data) only when told to commit, each output kept whole or not
 * written at all. It never prints: its notes are kept for the front end.
 *
 * Use: dln_experiment_create, dln_experiment_prepare (every check, the backend, the plan,
 * the data, the weights), dln_experiment_run (solve, train, Hessian, the outputs staged),
 * then the summaries, then dln_experiment_commit; dln_experiment_destroy at the end (what was
 * staged and not committed is removed). A failure names the input or output it concerns
 * (dln_experiment_failed_part), for a front end to name it its way. */
#ifndef DLN_EXPERIMENT_H
#define DLN_EXPERIMENT_H

#include "dln/json.h"
#include "dln/memory.h"
#include "dln/solver.h"
#include "dln/trainer.h"

typedef struct dln_experiment dln_experiment;

typedef enum { DLN_EXPERIMENT_TRAIN = 0, DLN_EXPERIMENT_SOLVE = 1, DLN_EXPERIMENT_HESSIAN = 2 } dln_experiment_command;

/* The input or output a failure concerns (DLN_PART_NONE: the run itself). */
typedef enum {
    DLN_PART_NONE = 0,
    DLN_PART_BACKEND,       /* the backend asked for */
    DLN_PART_PRECISION,     /* the math mode on that backend */
    DLN_PART_LOAD,          /* load_dir: the starting weights */
    DLN_PART_SAVE,          /* save_dir: the final weights */
    DLN_PART_DIRECTION,     /* direction_dir: the eigenvector of lambda_min */
    DLN_PART_SOLUTION,      /* solution_dir: R* */
    DLN_PART_DATA_OUT,      /* data_dir: X and Y */
    DLN_PART_PERTURB_DIR,   /* perturb_dir: the perturbation's direction */
    DLN_PART_HESSIAN_ITERS, /* hessian_iters: the Lanczos basis */
    DLN_PART_LOSS,          /* loss and loss_params */
    DLN_PART_TARGET,        /* the target Y, which the loss does not take */
} dln_experiment_part;

/* The trace: every checked step of every member (member: its index in the experiment), on
 * the calling thread, in member order at each step; a non-zero return stops that member. */
typedef int (*dln_experiment_observer_fn)(void *ctx, long member, const dln_observation *obs);

typedef struct {
    dln_experiment_command command;
    /* the data: .npy files (x_path and y_path), arrays (X (dx, m) and Y (dy, m), host fp64
     * column-major, borrowed), or else the synthetic problem `synth` */
    const char *x_path, *y_path;
    const double *X, *Y;
    int dx, dy, m;
    dln_synth_opts synth;     /* (its labels: the loss's, whatever is set here) */
    /* what is fitted: the loss by name (NULL or "square": the square loss, whose shallow
     * optimum is known in closed form; the others have no reference value: a run stops on
     * grad_tol, or where that is 0 on the gradient norm falling to train.tol of its start) */
    const char *loss;
    dln_objective_params loss_params;
    /* the network: depth and hidden widths (widths NULL: every hidden layer `width`); the
     * weights in load_dir instead (depth and widths from the files); or given starting
     * weights (host, W[i] (d_{i+1}, d_i), shaped by depth and widths) */
    int depth, width;
    const int *widths;
    const char *load_dir;
    double *const *weights;
    /* the members: the product of the lists (init outermost, then init scale, step size,
     * momentum, seed innermost); a list of length 0 takes the single value */
    dln_init_kind init;
    double init_scale;
    uint64_t seed;
    const dln_init_kind *inits;
    int n_inits;
    const double *scales;
    int n_scales;
    const double *lrs;        /* each with its rule in lr_rules (used where lrs[k] <= 0) */
    const dln_lr_rule *lr_rules;
    int n_lrs;
    const double *moms;
    int n_moms;
    const uint64_t *seeds;
    int n_seeds;
    dln_train_opts train;     /* every member's options (lr, lr_rule, momentum: the single values); its
                                 observer is the experiment's */
    int batch_size;           /* members trained at once at most (0: as many as memory allows) */
    int threads;              /* a batch's members over this many host threads (0: one per CPU) */
    /* the shallow solver */
    int rank;                 /* solve: the rank bound (0: none, or the narrowest layer of depth and
                                 width(s) when rank_from_shape is set) */
    int rank_from_shape;
    double rank_tol;
    dln_solver_route route;
    /* execution: the precision is train.dtype with this math mode */
    dln_backend_kind backend;
    dln_math_mode math;
    /* the landscape */
    int hessian;              /* train: the Hessian's extremes at the final weights (a single run) */
    int hessian_iters;        /* Lanczos steps of hessian (0: 100) and of the traced sharpness (0: 20) */
    int observe;              /* the observables on the trace (a single run) */
    int perturb_set;          /* start from W + perturb v, v a unit direction (perturb_dir's, or a random
                                 one from the seed); needs load_dir or weights */
    double perturb;
    const char *perturb_dir;
    /* outputs, written by dln_experiment_commit only */
    const char *save_dir;       /* the final weights: DIR/W<k>.npy, or DIR/<member>/ for a batch */
    const char *direction_dir;  /* with hessian: the eigenvector of lambda_min */
    const char *solution_dir;   /* R* as DIR/R.npy */
    const char *data_dir;       /* the synthetic X and Y as DIR/X.npy, DIR/Y.npy */
    int keep_weights;           /* keep every member's final weights (dln_experiment_weights) */
    /* the trace */
    dln_experiment_observer_fn observer;
    void *observer_ctx;
    int observe_every;          /* also check every this many steps (0: none) */
    /* the shallow reference and the certificate (docs/maths.md 2.1, 2.2) */
    int shallow_restarts;       /* a loss other than the square with an active rank bound: the rank-k
                                   solver's restarts (0: none, no best-known value); default 20 */
    int certify;                /* train: each member's product certified as a shallow local minimum or
                                   not (1), not (0), or where cheap (-1, the default) */
    /* matrix completion and sensing (dln/matrix.h): the product itself is the unknown (rows,
     * cols) matrix (X = I, no other data), the loss "completion" or "sensing" (loss must be
     * NULL or "square"). The observations from files (entries_path; or sensing_path and
     * b_path), or arrays (entries (n_entries, 3); or sensing_A (n_measurements, rows cols) in
     * C order and sensing_b), or else the synthetic problem matrix_synth (its kind and sizes;
     * rows, cols from it); the held-out entries from test_path or test_entries (n_test, 3)
     * (the synthetic problem's: its unobserved entries). Arrays column-major, borrowed. */
    dln_matrix_kind matrix;     /* 0: not a matrix problem */
    int rows, cols;
    const char *entries_path, *sensing_path, *b_path, *test_path;
    const double *entries;
    int n_entries;
    const double *sensing_A, *sensing_b;
    int n_measurements;
    const double *test_entries;
    int n_test;
    dln_matrix_synth_opts matrix_synth;
    int nuclear;                /* the nuclear-norm baseline (dln_nuclear_min) in the summaries: 1, 0, or
                                   -1 (the default): where rows x cols <= 65536 */
    int compare_flow;           /* train: each member's distance to the gradient flow from its start at the
                                   traced steps' flow times (DLN_OBSERVE_FLOW) on the trace */
} dln_experiment_opts;

/* The defaults of `dln train` (the default experiment: a synthetic 32 x 32 problem of 256
 * samples, teacher rank 8, noise 0.1, depth 4, width 4, orthogonal init of scale 1, seed 1,
 * the sharpness rule, 10000 steps, tol 1e-6). */
void dln_experiment_opts_default(dln_experiment_opts *o);

/* The experiment (o and its lists copied; arrays, paths and weights borrowed: they must
 * outlive it). Failures are recorded in *err, which must outlive it too. */
int dln_experiment_create(const dln_experiment_opts *o, dln_error *err, dln_experiment **out);
/* Removes what was staged and not committed; frees everything. */
void dln_experiment_destroy(dln_experiment *e);

/* The outputs checked (nothing written), the backend made, the run planned against the
 * memory this process may use, the data read or made, the starting weights made. */
int dln_experiment_prepare(dln_experiment *e);
/* The shallow problem solved; for train, every member trained (the observer called), the
 * Hessian at the end, the outputs staged and the summaries made; for hessian, the Hessian at
 * the loaded weights. */
int dln_experiment_run(dln_experiment *e);
/* The staged outputs put in place: the weights, the direction, the solution, the data. */
int dln_experiment_commit(dln_experiment *e);

/* The part of the last failure (DLN_PART_NONE when it concerns no named input or output). */
dln_experiment_part dln_experiment_failed_part(const dln_experiment *e);
/* Members of the experiment (the product of the lists; 1 without lists). */
long dln_experiment_members(const dln_experiment *e);
/* The notes (what the library chose, or what a reader should know), in order: n of them. */
int dln_experiment_notes(const dln_experiment *e);
const char *dln_experiment_note(const dln_experiment *e, int i);

enum {
    DLN_SUMMARY_SPECTRA = 1,  /* also the singular values of X and of the compressed target M */
    DLN_SUMMARY_MEMBER = 2,   /* a `member` field (a batch's lines carry it) */
    DLN_SUMMARY_LITERALS = 4, /* the text functions: non-finite numbers as NaN / Infinity, not null */
};
/* Member's summary (after dln_experiment_run): the whole JSON object and a newline,
 * appended to j (whose literals flag says how non-finite numbers are written). */
int dln_experiment_summary(const dln_experiment *e, long member, unsigned flags, dln_json *j);
/* The same as text into buf (n bytes with the NUL, cut where short): the length it needs
 * without the NUL, -1 on failure (for callers without a dln_json, such as Python). */
long dln_experiment_summary_text(const dln_experiment *e, long member, unsigned flags, char *buf, size_t n);
/* Member's training result (after dln_experiment_run of train), or NULL. */
const dln_train_result *dln_experiment_result(const dln_experiment *e, long member);
/* Member's final weights into W (host, shaped as the network; needs keep_weights). */
int dln_experiment_weights(const dln_experiment *e, long member, double **W);
/* The network's shape (after dln_experiment_prepare, train and hessian). */
const dln_shape *dln_experiment_shape(const dln_experiment *e);

/* ---- derivatives at given weights (derivatives.c) ------------------------------------- */

/* The objective's loss (NULL: the square loss) of shape s at the weights W on X (d_0, m) and
 * Y (d_H, m), host fp64, computed on the backend; its gradient into G (shaped as W) when G is
 * not NULL. */
int dln_loss_at(dln_backend *be, const dln_objective *obj, const dln_shape *s, const double *X, const double *Y, int m,
                double *const *W, double *loss, double **G, dln_error *err);
/* The exact Hessian-vector product HV = H V of that loss at W along V (both shaped as W). */
int dln_hvp_at(dln_backend *be, const dln_objective *obj, const dln_shape *s, const double *X, const double *Y, int m,
               double *const *W, double *const *V, double **HV, dln_error *err);

/* The gradient flow of that loss from W to time T (dln_flow_integrate on a network of one
 * member): W replaced by the weights at T, the integrator's statistics in st. */
int dln_flow_at(dln_backend *be, const dln_objective *obj, const dln_shape *s, const double *X, const double *Y, int m,
                double **W, double T, double rtol, long max_tries, dln_flow_stats *st, dln_error *err);

/* Whether an observation goes on the trace: every `every` steps, at the final state, and
 * wherever lambda_max was measured (sharpness_every); never twice for one step (last: the
 * step of the member's last line, -1 for none). */
int dln_trace_due(const dln_observation *obs, int every, long last);
/* A trace line: the fields of an observation (member >= 0 adds a `member` field), appended
 * to j as one JSON object and a newline; the observables present in obs are included. */
void dln_trace_line(dln_json *j, long member, const dln_observation *obs);
/* The same as text (flags: DLN_SUMMARY_LITERALS), as dln_experiment_summary_text. */
long dln_trace_text(long member, const dln_observation *obs, unsigned flags, char *buf, size_t n);

#endif
