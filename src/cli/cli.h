/* cli.h: the `dln` program's shared pieces (internal to src/cli/): the parsed options, the
 * run of a command as the library's experiment, the --log file, and the observers that
 * turn the trainer's reports into the JSONL trace and the progress line. The CLI is a
 * client of the public library API only (include/dln/); it parses and prints, and it alone
 * names flags. */
#ifndef DLN_CLI_H
#define DLN_CLI_H

#include <getopt.h>
#include <stdio.h>
#include <sys/types.h>

#include "dln/dln.h"

/* The options of the loss-landscape tools, parsed by dynopts.c. */
typedef struct {
    int hessian;                 /* train --hessian: the Hessian's extremes at the final point */
    int hessian_iters;           /* Lanczos steps (capped at the parameter count) */
    const char *direction_dir;   /* --save-direction: the eigenvector of lambda_min, W1..WH.npy */
    const char *solution_dir;    /* --save-solution: R*.npy */
    const char *data_dir;        /* --save-data: X.npy, Y.npy */
    double perturb;              /* --perturb S */
    int perturb_set;
    const char *perturb_dir;     /* --perturb-dir: the direction (else a seeded random one) */
    int observe;                 /* --observe: observables on the --log trace */
    int sharpness_every;         /* --sharpness-every K: lambda_max on the trace every K steps */
    double flow, flow_rtol;      /* --flow T, --flow-rtol R (0: not given) */
    double sharpness_rtol;       /* --sharpness-rtol R (0: not given) */
    int sharpness_k;             /* --sharpness-k K (0: not given) */
    int compare_flow;            /* --compare-flow */
} cli_dyn;
#define CLI_MAX_MEMBERS (1L << 20) /* members of one batch at most (the product of the lists) */

typedef struct {
    /* problem */
    const char *x_path, *y_path;
    int dx, dy, samples, teacher_rank;
    double noise;
    uint64_t seed, data_seed;
    int data_seed_set, synth_set;
    /* network */
    int depth, width, depth_set, width_set;
    int *widths, n_widths, widths_set;
    const char *load_dir, *save_dir;
    dln_init_kind init;
    double init_scale;
    int init_scale_set;
    /* solver */
    int rank;
    double rank_tol;
    dln_solver_route solver;
    /* trainer */
    dln_train_opts train;
    int log_every;
    const char *log_path;
    int quiet;
    /* a batch (src/cli/batch.c): lists of values, the members their product in the order
     * init, init scale, lr, momentum, seed (the seed varying fastest); one value each
     * otherwise, also held in the single-run fields above */
    uint64_t *seeds;
    int n_seeds, seeds_set, seed_set;
    dln_init_kind *inits;
    double *scales, *lrs, *moms;
    dln_lr_rule *lr_rules;
    int n_inits, n_scales, n_lrs, n_moms;
    int batch_size; /* --batch-size: members trained at once (0: all that fit) */
    int threads;    /* --threads: host threads over a batch's members (0: one per CPU) */
    /* execution */
    dln_backend_kind backend;
    dln_dtype dtype;
    dln_math_mode math;
    const char *precision;
    /* landscape: Hessian, saved data and solution, perturbation, observables (dynopts.c) */
    cli_dyn dyn;
    /* the loss and its parameters (lossopts.c) */
    const char *loss;
    double loss_p, loss_delta;
    int loss_p_set, loss_delta_set;
    int shallow_restarts, shallow_restarts_set; /* --shallow-restarts */
    int certify;                                /* --certify 1, --no-certify 0, else -1 */
    int noise_set;                              /* --noise given */
    /* matrix completion and sensing (matrixopts.c) */
    dln_matrix_kind matrix;                     /* the problem (0: none), set by cli_matrix_check */
    const char *entries_path, *sensing_path, *b_path, *test_path;
    dln_matrix_kind matrix_synth_kind;          /* --complete, --sense */
    int n_matrix_synth, matrix_synth_set, shape_set;
    int rows, cols, target_rank, observed;
    int nuclear;                                /* --nuclear 1, --no-nuclear 0, else -1 */
} cli_opts;

/* Parses argv for `command` ("train" or "solve"); prints help and returns -1 on --help. */
int cli_parse(const char *command, int argc, char **argv, cli_opts *o, dln_error *err);
void cli_opts_free(cli_opts *o);
void cli_print_help(const char *command);

/* `dln train`, `dln solve` or `dln hessian` (command) as one experiment of the library:
 * run, printed, committed (run.c). */
int cli_run(const char *command, cli_opts *o, dln_error *err);
/* Members of the batch the lists describe (1: a single run). */
long cli_members(const cli_opts *o);

/* A number of option `opt` (without its dashes) in [lo, hi], decimal only (options.c). */
int cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out, dln_error *err);

/* ---- the loss options (lossopts.c) ------------------------------------------------------ */

/* Option codes from CLI_LOSS_FIRST on belong to lossopts.c. */
enum { CLI_LOSS_FIRST = 640 };
#define CLI_LOSS_OPTIONS                                                                        \
    {"loss", 1, 0, CLI_LOSS_FIRST}, {"p", 1, 0, CLI_LOSS_FIRST + 1}, {"delta", 1, 0, CLI_LOSS_FIRST + 2}, \
        {"grad-tol", 1, 0, CLI_LOSS_FIRST + 3}, {"loss-tol", 1, 0, CLI_LOSS_FIRST + 4}
/* the shallow reference's restarts (train, solve) and the certificate (train) */
#define CLI_SHALLOW_OPTIONS {"shallow-restarts", 1, 0, CLI_LOSS_FIRST + 5}
#define CLI_CERTIFY_OPTIONS {"certify", 0, 0, CLI_LOSS_FIRST + 6}, {"no-certify", 0, 0, CLI_LOSS_FIRST + 7}
extern const char *const cli_loss_help;
void cli_loss_defaults(cli_opts *o);
int cli_loss_option(int c, const char *a, cli_opts *o, dln_error *err);
/* --p and --delta only with their loss. */
int cli_loss_check(cli_opts *o, dln_error *err);
/* The experiment's loss name and parameters (the defaults of --p and --delta applied). */
void cli_loss_params(const cli_opts *o, const char **name, dln_objective_params *p);

/* ---- matrix completion and sensing (matrixopts.c) ------------------------------------- */

enum { CLI_MATRIX_FIRST = 768 };
#define CLI_MATRIX_OPTIONS                                                                                  \
    {"entries", 1, 0, CLI_MATRIX_FIRST}, {"sensing", 1, 0, CLI_MATRIX_FIRST + 1}, {"b", 1, 0, CLI_MATRIX_FIRST + 2}, \
        {"test-entries", 1, 0, CLI_MATRIX_FIRST + 3}, {"complete", 0, 0, CLI_MATRIX_FIRST + 4},              \
        {"sense", 0, 0, CLI_MATRIX_FIRST + 5}, {"rows", 1, 0, CLI_MATRIX_FIRST + 6},                         \
        {"cols", 1, 0, CLI_MATRIX_FIRST + 7}, {"target-rank", 1, 0, CLI_MATRIX_FIRST + 8},                   \
        {"observed", 1, 0, CLI_MATRIX_FIRST + 9}, {"nuclear", 0, 0, CLI_MATRIX_FIRST + 10},                  \
        {"no-nuclear", 0, 0, CLI_MATRIX_FIRST + 11}
extern const char *const cli_matrix_help;
void cli_matrix_defaults(cli_opts *o);
int cli_matrix_option(int c, const char *a, cli_opts *o, dln_error *err);
/* The problem chosen (o->matrix), and what does not go with it refused. */
int cli_matrix_check(cli_opts *o, dln_error *err);
/* The experiment's matrix options. */
void cli_matrix_opts(const cli_opts *o, dln_experiment_opts *x);

/* ---- output files that never harm a user's file (outfile.c) ---------------------------- */

typedef enum { CLI_OUT_NONE = 0, CLI_OUT_NEW, CLI_OUT_REPLACE, CLI_OUT_DIRECT } cli_out_mode;

typedef struct {
    const char *path;          /* as the user gave it */
    char target[4096];         /* the file written (symbolic links followed) */
    char tmp[4096 + 32];       /* the temporary sibling (CLI_OUT_REPLACE) */
    int fd;
    cli_out_mode mode;         /* NONE: closed (committed or discarded) */
    dev_t dev;                 /* the inode this run created (NEW, REPLACE) */
    ino_t ino;
    int write_errno;           /* first failed write, 0 if none */
    long long offset;          /* bytes written (NEW, REPLACE: the file's size) */
    int newline_due;           /* the last line's newline is written with the next line or at commit */
} cli_outfile;

/* Opens path for writing by the rules in outfile.c; messages start with "<flag> <path>". */
int cli_outfile_open(cli_outfile *o, const char *path, const char *flag, dln_error *err);
/* Writes the text, a line ending in a newline, so that a SIGKILL cannot cut it (outfile.c
 * says how); a failure is kept for commit to report. */
int cli_outfile_write(cli_outfile *o, const char *text, size_t n);
/* Success: closes, and puts a replacing file in place. On failure nothing is left. */
int cli_outfile_commit(cli_outfile *o, const char *flag, dln_error *err);
/* Failure: closes and removes what this run created, if it is still there. */
void cli_outfile_abort(cli_outfile *o);

/* ---- observers of a training run (observers.c) --------------------------------------- */

typedef struct {
    cli_outfile *log;   /* JSONL trace, or NULL */
    int log_every;
    long last_logged;   /* step of the last trace line (-1: none) */
    long member;        /* a batch member's index, written in every trace line (-1: a single run) */
    int progress;       /* live line on stderr */
    long steps;         /* the step limit, for the progress line */
    double last_progress;
    dln_json line;
} cli_observer;

void cli_observer_init(cli_observer *ob, cli_outfile *log, int log_every, int progress, long steps);
void cli_observer_free(cli_observer *ob);
/* The experiment's observer (ctx: the members' observers, indexed by member): a trace line
 * at every log_every-th step and at the final state; the progress line at most every
 * 0.25 s, cleared at the end. Never asks to stop. */
int cli_observe(void *ctx, long member, const dln_observation *obs);

/* ---- the loss-landscape options (dynopts.c) --------------------------------------------- */

/* Option codes from CLI_DYN_FIRST on belong to dynopts.c. */
enum { CLI_DYN_FIRST = 512 };
/* The options of `dln train` and `dln solve` that dynopts.c handles, spliced into options.c's
 * tables (the list ends without a terminator). */
#define CLI_DYN_TRAIN_OPTIONS                                                                  \
    {"hessian", 0, 0, CLI_DYN_FIRST}, {"hessian-iters", 1, 0, CLI_DYN_FIRST + 1},              \
        {"save-direction", 1, 0, CLI_DYN_FIRST + 2}, {"save-solution", 1, 0, CLI_DYN_FIRST + 3}, \
        {"save-data", 1, 0, CLI_DYN_FIRST + 4}, {"perturb", 1, 0, CLI_DYN_FIRST + 5},           \
        {"perturb-dir", 1, 0, CLI_DYN_FIRST + 6}, {"observe", 0, 0, CLI_DYN_FIRST + 7},         \
        {"sharpness-every", 1, 0, CLI_DYN_FIRST + 8}, {"flow", 1, 0, CLI_DYN_FIRST + 9},          \
        {"flow-rtol", 1, 0, CLI_DYN_FIRST + 10}, {"sharpness-rtol", 1, 0, CLI_DYN_FIRST + 11},       \
        {"compare-flow", 0, 0, CLI_DYN_FIRST + 12}, {"sharpness-k", 1, 0, CLI_DYN_FIRST + 13}
#define CLI_DYN_SOLVE_OPTIONS {"save-solution", 1, 0, CLI_DYN_FIRST + 3}, {"save-data", 1, 0, CLI_DYN_FIRST + 4}
extern const char *const cli_dyn_train_help, *const cli_dyn_solve_help;
void cli_hessian_help(const char *problem_help, const char *exec_help);
void cli_dyn_defaults(cli_dyn *d);
int cli_dyn_option(int c, const char *a, cli_opts *o, dln_error *err);
/* The combinations of the landscape options, checked after every option is read. */
int cli_dyn_check(const char *command, cli_opts *o, dln_error *err);

#endif
