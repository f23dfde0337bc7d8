/* cli.h: the `dln` program's shared pieces (internal to src/cli/): parsed options, the
 * problem and backend set-up both commands share, the summary fields, and the observers
 * that turn the trainer's reports into the JSONL trace and the progress line. The CLI is
 * a client of the public library API only (include/dln/); it alone names flags. */
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
    /* landscape: Hessian, saved data and solution, perturbation, observables (dyn.c) */
    cli_dyn dyn;
} cli_opts;

/* Parses argv for `command` ("train" or "solve"); prints help and returns -1 on --help. */
int cli_parse(const char *command, int argc, char **argv, cli_opts *o, dln_error *err);
void cli_opts_free(cli_opts *o);
void cli_print_help(const char *command);

int cli_solve(cli_opts *o, dln_error *err);
int cli_train(cli_opts *o, dln_error *err);

/* ---- batches (batch.c) ---------------------------------------------------------------- */

/* Members of the batch the lists describe (1: a single run). */
long cli_members(const cli_opts *o);
/* m = o with member b's seed, init, init scale, step size and momentum (a shallow copy:
 * m shares o's arrays and must not be freed). */
void cli_member_opts(const cli_opts *o, long b, cli_opts *m);
/* `dln train` with lists: every member trained in batches of at most --batch-size, one
 * summary line per member. */
int cli_train_batch(cli_opts *o, dln_error *err);

/* ---- pieces of `dln train` the batch shares (train.c) ----------------------------------- */

/* The output paths, checked before any work (batch: not the --save directory itself, which
 * holds the members' directories). */
int cli_check_outputs(const cli_opts *o, int batch, dln_error *err);
/* The starting weights: --load (which must still have the shape planned) or the initialiser. */
int cli_get_weights(const cli_opts *o, const dln_data *d, const dln_shape *s, double ***W, dln_error *err);
/* The run's fields of the summary (shape, init, optimiser, result). */
void cli_put_run(dln_json *j, const cli_opts *o, const dln_shape *s, const dln_train_result *r);
/* cli_stop_note's buffer: the library's note and the CLI's additions (--hessian's saddle note) */
#define CLI_NOTE_MAX (DLN_TRAIN_NOTE_MAX + 512)
/* Why the run stopped, with what to change when it diverged. */
void cli_stop_note(const dln_train_result *r, const dln_train_opts *t, char *buf, size_t n);
/* Balancedness where it is cheap, else NaN. */
double cli_balancedness(const dln_shape *s, double *const *W);

/* ---- set-up shared by the commands (setup.c) ---------------------------------------- */

/* The data from --x/--y or the synthetic problem, checked. */
int cli_get_data(const cli_opts *o, dln_data *d, dln_error *err);
/* The backend asked for, with its math mode; *note (or NULL) says what `auto` chose. */
int cli_get_backend(const cli_opts *o, dln_error *err, dln_backend **be, const char **note);
/* ---- checks before anything large is allocated (plan.c) ---------------------------------- */

/* The data sizes from the .npy headers or the synthetic options; 0 x 0 x 0 when a file is
 * not regular (a pipe: known once read). */
int cli_data_dims(const cli_opts *o, int *dx, int *dy, int *m, dln_error *err);
/* The network's shape from the options or from the --load files' headers. */
int cli_make_shape(const cli_opts *o, int dx, int dy, dln_shape *s, dln_error *err);
/* The library's memory estimate of the whole run (s NULL: solve only) against the limits. */
int cli_check_memory(const cli_opts *o, const dln_shape *s, int dx, int dy, int m, dln_backend *be,
                     dln_mem_estimate *est, dln_error *err);
/* The same for a batch of `members`: *batch = the most members, at most --batch-size, that
 * can train at once within the limits (refused when not even one can). */
int cli_check_batch_memory(const cli_opts *o, const dln_shape *s, int dx, int dy, int m, long members,
                           dln_backend *be, int *batch, dln_mem_estimate *est, dln_error *err);
/* The estimate's fields of the summary: memory_estimate (host bytes at the peak, what the
 * process held when checked included),
 * memory_backend (device bytes) and memory_phase. */
void cli_put_memory(dln_json *j, const dln_mem_estimate *est);
/* The summary fields of the problem and of the shallow solution. */
void cli_put_problem(dln_json *j, const cli_opts *o, const dln_data *d, const dln_backend *be);
void cli_put_shallow(dln_json *j, const dln_shallow *sh);
/* Closes the summary and prints it whole on stdout (the backend note first, on stderr). */
int cli_emit(dln_json *j, const cli_opts *o, const char *note, dln_error *err);

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
/* The dln_observer_fn: a trace line at every log_every-th step and at the final state;
 * the progress line at most every 0.25 s, cleared at the end. Never asks to stop. */
int cli_observe(void *ctx, const dln_observation *obs);

/* ---- the loss-landscape tools: dynopts.c, dyn.c, hessian.c ------------------ */

/* Option codes from CLI_DYN_FIRST on belong to dynopts.c. */
enum { CLI_DYN_FIRST = 512 };
/* The options of `dln train` and `dln solve` that dynopts.c handles, spliced into options.c's
 * tables (the list ends without a terminator). */
#define CLI_DYN_TRAIN_OPTIONS                                                                  \
    {"hessian", 0, 0, CLI_DYN_FIRST}, {"hessian-iters", 1, 0, CLI_DYN_FIRST + 1},              \
        {"save-direction", 1, 0, CLI_DYN_FIRST + 2}, {"save-solution", 1, 0, CLI_DYN_FIRST + 3}, \
        {"save-data", 1, 0, CLI_DYN_FIRST + 4}, {"perturb", 1, 0, CLI_DYN_FIRST + 5},           \
        {"perturb-dir", 1, 0, CLI_DYN_FIRST + 6}, {"observe", 0, 0, CLI_DYN_FIRST + 7}
#define CLI_DYN_SOLVE_OPTIONS {"save-solution", 1, 0, CLI_DYN_FIRST + 3}, {"save-data", 1, 0, CLI_DYN_FIRST + 4}
/* The option table of `dln hessian`. */
extern const struct option cli_hessian_options[];
extern const char *const cli_dyn_train_help, *const cli_dyn_solve_help;
void cli_hessian_help(const char *problem_help, const char *exec_help);
void cli_dyn_defaults(cli_dyn *d);
int cli_dyn_option(int c, const char *a, cli_opts *o, dln_error *err);
/* The combinations of the landscape options, checked after every option is read. */
int cli_dyn_check(const char *command, cli_opts *o, dln_error *err);

/* `dln hessian`. */
int cli_hessian(cli_opts *o, dln_error *err);

/* The Hessian's extremes at W (host) on the compressed pair when sh holds it, else on d. */
typedef struct {
    dln_lanczos_result r;
    double **vmin;  /* the unit eigenvector of lambda_min, weight-shaped (when asked), owned */
    double loss;    /* at W, on the data */
    double grad_norm;
    double seconds;
    long params;
} cli_hessian_result;
int cli_hessian_at(dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s, double *const *W,
                   int iters, uint64_t seed, int want_vmin, cli_hessian_result *out, dln_error *err);
void cli_hessian_result_free(const dln_shape *s, cli_hessian_result *h);
/* When wanted: refuses (DLN_EINPUT) a Lanczos basis larger than half the host's memory. */
int cli_hessian_check(const cli_opts *o, const dln_shape *s, int wanted, dln_error *err);
/* The Hessian fields of a summary (with "saddle" when the run's verdict is a critical point). */
void cli_put_hessian(dln_json *j, const cli_hessian_result *h, int verdict);

/* Output directories (dyn.c): checked before any work, written after the summary. */
int cli_dyn_check_outputs(const cli_opts *o, dln_error *err);
/* --save-data and --save-solution, each into a staging sibling, then moved in file by file. */
int cli_save_data(const cli_opts *o, const dln_data *d, dln_error *err);
int cli_save_solution(const cli_opts *o, const dln_shallow *sh, dln_error *err);
/* --perturb: W += S v, v the --perturb-dir direction or a seeded random one (unit norm). */
int cli_perturb(const cli_opts *o, const dln_shape *s, double **W, dln_error *err);
/* "hypotheses false" on stderr, once per run (not with --quiet). */
void cli_note_hypotheses(const cli_opts *o, const dln_shallow *sh);
/* optimum_by_rank: L*_j for j = 0..n_ranks-1. */
void cli_put_rank_path(dln_json *j, const dln_shallow *sh);
/* The observables of a trace line (--observe): the arrays present in obs. */
void cli_put_observables(dln_json *j, const dln_observation *obs);

#endif
