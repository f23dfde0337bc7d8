/* dln/trainer.h: full-batch gradient descent on the deep linear network, timed against
 * the shallow optimum. The trainer never prints: it reports each checked step and the
 * final state to an observer (a callback), and returns a result saying why it stopped.
 * The JSONL trace and the progress line of the command-line program, the benchmarks and
 * the tests are such observers. */
#ifndef DLN_TRAINER_H
#define DLN_TRAINER_H

#include "dln/model.h"
#include "dln/network.h"
#include "dln/solver.h"

typedef enum { DLN_DATA_AUTO = 0, DLN_DATA_FULL = 1, DLN_DATA_COMPRESSED = 2 } dln_data_mode;

/* What an observer receives: the state at a checked step (step t = after t updates). */
typedef struct {
    long step;
    double loss, gap, rel_gap, grad_norm;
    double lr;      /* step size of the next update (the last accepted one with line search) */
    double seconds; /* since the training loop started */
    int final;      /* the last observation of the run: the state the result reports */
} dln_observation;

/* Called at every checked step and once more, with final set, at the end (a step may be
 * reported twice: as a check and as the final state). A non-zero return stops the run
 * (DLN_STOP_OBSERVER); the final observation's return value is ignored. */
typedef int (*dln_observer_fn)(void *ctx, const dln_observation *obs);

typedef struct {
    double lr;         /* <= 0: automatic (dln_auto_lr) */
    double momentum;   /* heavy ball, 0 = plain gradient descent */
    int line_search;   /* backtracking (Armijo) instead of a fixed lr; needs momentum 0 */
    long steps;        /* maximum number of updates */
    double tol;        /* stop when rel_gap <= tol; 0 disables */
    int check_every;   /* read the loss every this many steps; 0: 1, or 50 where reading a
                          result waits for a device (DLN_CAP_ASYNC) */
    int observe_every; /* also check every this many steps (0: no extra checks) */
    dln_observer_fn observer;
    void *observer_ctx;
    dln_data_mode data_mode;
    dln_dtype dtype;
} dln_train_opts;

void dln_train_opts_default(dln_train_opts *o);

typedef enum {
    DLN_STOP_CONVERGED = 0,   /* rel_gap <= tol */
    DLN_STOP_STEP_LIMIT = 1,  /* made `steps` updates */
    DLN_STOP_DIVERGED = 2,    /* a non-finite loss, or one above 1e6 max(initial loss, 1/2 ||Y||^2) */
    DLN_STOP_NO_DECREASE = 3, /* the line search found no decrease: the gradient is at rounding level */
    DLN_STOP_OBSERVER = 4,    /* the observer asked to stop */
} dln_stop_reason;

typedef struct {
    double loss, optimum, gap, rel_gap, grad_norm;
    double loss_init;
    double lr;           /* step size used (the last accepted one with line search) */
    double seconds;      /* wall time of the training loop */
    long steps;          /* updates made */
    int converged, diverged, compressed;
    dln_stop_reason stop;
} dln_train_result;

/* One line saying why the run stopped, in the library's terms (no advice). */
void dln_train_describe(const dln_train_result *r, const dln_train_opts *o, char *buf, size_t n);

/* The automatic step size used when lr <= 0 (docs/maths.md, "Step size"). */
double dln_auto_lr(const dln_shape *s, double *const *W, const dln_shallow *sh);

/* Trains from W (host, in/out: the final weights on return) on the data or on their
 * exact compression (sh must then hold C and M). */
int dln_train(dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s, double **W,
              const dln_train_opts *o, dln_train_result *res, dln_error *err);

#endif
