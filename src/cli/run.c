/* run.c: `dln train`, `dln solve` and `dln hessian` as one experiment of the library
 * (dln/experiment.h): the parsed options handed over as the experiment's, the --log file
 * checked and opened (the program's own output), the experiment prepared and run with the
 * program's observers (the trace, the progress line), then the notes and the summaries
 * printed, and only then the log and the experiment's outputs committed, so that a run that
 * fails at any point, printing included, leaves the user's files as they were. A library
 * failure is given the flag of the input or output it concerns; a diverged run gets the
 * program's advice on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

long cli_members(const cli_opts *o)
{
    long n = 1;
    int c[] = {o->n_seeds, o->n_inits, o->n_scales, o->n_lrs, o->n_moms};
    for (int i = 0; i < 5; i++) n *= c[i] > 1 ? c[i] : 1;
    return n;
}

/* The experiment the options describe. */
static void experiment_opts(const char *command, const cli_opts *o, dln_experiment_opts *x)
{
    dln_experiment_opts_default(x);
    x->command = !strcmp(command, "solve")     ? DLN_EXPERIMENT_SOLVE
                 : !strcmp(command, "hessian") ? DLN_EXPERIMENT_HESSIAN
                                               : DLN_EXPERIMENT_TRAIN;
    x->x_path = o->x_path, x->y_path = o->y_path;
    x->synth = (dln_synth_opts){o->dx, o->dy, o->samples, o->teacher_rank, o->noise, o->data_seed, DLN_LABELS_VALUES};
    x->depth = o->depth, x->width = o->width, x->widths = o->widths_set ? o->widths : NULL;
    x->load_dir = o->load_dir;
    x->init = o->init, x->init_scale = o->init_scale, x->seed = o->seed;
    x->inits = o->inits, x->n_inits = o->n_inits, x->scales = o->scales, x->n_scales = o->n_scales;
    x->lrs = o->lrs, x->lr_rules = o->lr_rules, x->n_lrs = o->n_lrs, x->moms = o->moms, x->n_moms = o->n_moms;
    x->seeds = o->seeds, x->n_seeds = o->n_seeds;
    x->train = o->train;
    x->train.dtype = o->dtype;
    x->batch_size = o->batch_size, x->threads = o->threads;
    x->rank = o->rank, x->rank_from_shape = o->depth_set || o->width_set || o->widths_set;
    x->rank_tol = o->rank_tol, x->route = o->solver;
    x->backend = o->backend, x->math = o->math;
    x->hessian = o->dyn.hessian, x->hessian_iters = o->dyn.hessian_iters, x->observe = o->dyn.observe;
    x->perturb_set = o->dyn.perturb_set, x->perturb = o->dyn.perturb, x->perturb_dir = o->dyn.perturb_dir;
    x->save_dir = o->save_dir, x->direction_dir = o->dyn.direction_dir, x->solution_dir = o->dyn.solution_dir;
    x->data_dir = o->dyn.data_dir;
    cli_loss_params(o, &x->loss, &x->loss_params);
    x->shallow_restarts = o->shallow_restarts, x->certify = o->certify;
    cli_matrix_opts(o, x);
    x->compare_flow = o->dyn.compare_flow;
}

/* The last component of path, trailing slashes aside, in b. */
static const char *base_of(const char *path, char b[4096])
{
    snprintf(b, 4096, "%s", path);
    size_t n = strlen(b);
    while (n > 1 && b[n - 1] == '/') b[--n] = '\0';
    const char *slash = strrchr(b, '/');
    return slash ? slash + 1 : b;
}

/* The real path of the directory holding path (malloc'd), or NULL. */
static char *parent_of(const char *path)
{
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    size_t n = strlen(d);
    while (n > 1 && d[n - 1] == '/') d[--n] = '\0';
    char *slash = strrchr(d, '/');
    if (!slash) snprintf(d, sizeof d, ".");
    else if (slash == d) d[1] = '\0';
    else *slash = '\0';
    return realpath(d, NULL);
}

/* The --log file, before any work: not a data file of this run, not inside (or equal to)
 * the --save directory (which holds weights only). Whether it can be written is found when
 * it is opened, before training. */
static int check_log(const cli_opts *o, dln_error *err)
{
    if (!o->log_path) return DLN_OK;
    struct stat ls, ds;
    const char *inputs[] = {o->x_path, o->y_path};
    for (int i = 0; i < 2 && stat(o->log_path, &ls) == 0 && S_ISREG(ls.st_mode); i++)
        if (inputs[i] && stat(inputs[i], &ds) == 0 && ds.st_dev == ls.st_dev && ds.st_ino == ls.st_ino)
            return dln_fail(err, DLN_EINPUT, "--log %s: is the %s data file; the trace would replace it", o->log_path,
                            i ? "--y" : "--x");
    if (!o->save_dir) return DLN_OK;
    char *lp = parent_of(o->log_path), *sd = realpath(o->save_dir, NULL), *sp = parent_of(o->save_dir);
    int inside = lp && sd && !strcmp(lp, sd);
    char b1[4096], b2[4096];
    int same = lp && sp && !strcmp(lp, sp) && !strcmp(base_of(o->log_path, b1), base_of(o->save_dir, b2));
    free(lp), free(sd), free(sp);
    if (inside || same)
        return dln_fail(err, DLN_EINPUT, "--log %s: %s the --save directory %s, which holds weights only", o->log_path,
                        inside ? "lies inside" : "is", o->save_dir);
    return DLN_OK;
}

/* The flag of the input or output a library failure concerns, put in front of its message. */
static int name_part(const cli_opts *o, dln_experiment *e, int rc, dln_error *err)
{
    static const char *const flags[] = {
        [DLN_PART_BACKEND] = "--backend ",          [DLN_PART_PRECISION] = "--precision: ",
        [DLN_PART_LOAD] = "--load ",                [DLN_PART_SAVE] = "--save ",
        [DLN_PART_DIRECTION] = "--save-direction ", [DLN_PART_SOLUTION] = "--save-solution ",
        [DLN_PART_DATA_OUT] = "--save-data ",       [DLN_PART_PERTURB_DIR] = "--perturb-dir ",
        [DLN_PART_HESSIAN_ITERS] = "--hessian-iters: ", [DLN_PART_LOSS] = "--loss: ",
    };
    dln_experiment_part p = dln_experiment_failed_part(e);
    char target[4200];
    if (rc && p == DLN_PART_TARGET && o->y_path) { /* synthetic data: the labels are the loss's, never refused */
        snprintf(target, sizeof target, "--y %s: ", o->y_path);
        dln_error_prefix(err, target);
    }
    if (rc && p > DLN_PART_NONE && p <= DLN_PART_LOSS) dln_error_prefix(err, flags[p]);
    return rc;
}

/* A diverged member's line on stderr, with what to change. */
static void divergence_advice(const cli_opts *o, dln_experiment *e, long b, long members)
{
    const dln_train_result *r = dln_experiment_result(e, b);
    if (!r || !r->diverged) return;
    char who[64] = "";
    if (members > 1) snprintf(who, sizeof who, "member %ld: ", b);
    fprintf(stderr, "dln: %sdiverged at step %ld (loss %g): lower --lr (it was %g), or use --line-search%s\n", who,
            r->steps, r->loss, r->lr, o->save_dir ? " (weights not saved)" : "");
}

/* The notes (unless --quiet), then every summary, on stdout in one go. */
static int emit(const cli_opts *o, dln_experiment *e, long members, dln_error *err)
{
    dln_json j;
    dln_json_init(&j);
    int rc = DLN_OK;
    unsigned flags = members > 1 ? DLN_SUMMARY_MEMBER : 0;
    for (long b = 0; b < members && !rc; b++) rc = dln_experiment_summary(e, b, flags, &j);
    const char *text = rc ? NULL : dln_json_text(&j);
    if (!rc && !text) rc = dln_fail(err, DLN_ENOMEM, "out of memory writing the summary");
    for (int i = 0; !rc && !o->quiet && i < dln_experiment_notes(e); i++)
        fprintf(stderr, "dln: note: %s\n", dln_experiment_note(e, i));
    if (!rc && (fputs(text, stdout) == EOF || fflush(stdout) != 0 || ferror(stdout)))
        rc = dln_fail(err, DLN_ERUNTIME, "cannot write the summar%s to standard output: %s", members > 1 ? "ies" : "y",
                      strerror(errno));
    dln_json_free(&j);
    return rc;
}

int cli_run(const char *command, cli_opts *o, dln_error *err)
{
    dln_experiment_opts x;
    experiment_opts(command, o, &x);
    cli_outfile log;
    memset(&log, 0, sizeof log);
    log.fd = -1;
    long members = cli_members(o);
    cli_observer *ob = calloc((size_t)members, sizeof *ob);
    if (!ob) return dln_fail(err, DLN_ENOMEM, "out of memory for %ld members", members);
    int progress = members == 1 && !o->quiet && isatty(2);
    for (long b = 0; b < members; b++) {
        cli_observer_init(&ob[b], o->log_path ? &log : NULL, o->log_every, progress, o->train.steps);
        ob[b].member = members > 1 ? b : -1;
    }
    x.observer = cli_observe, x.observer_ctx = ob;
    x.observe_every = o->log_path ? o->log_every : 0;
    dln_experiment *e = NULL;
    int rc = check_log(o, err);
    if (!rc) rc = dln_experiment_create(&x, err, &e);
    if (!rc) rc = name_part(o, e, dln_experiment_prepare(e), err);
    if (!rc && o->log_path) rc = cli_outfile_open(&log, o->log_path, "--log", err);
    if (!rc) rc = name_part(o, e, dln_experiment_run(e), err);
    for (long b = 0; !rc && b < members; b++) divergence_advice(o, e, b, members);
    if (!rc) rc = emit(o, e, members, err);
    if (!rc) rc = cli_outfile_commit(&log, "--log", err);
    if (!rc) rc = name_part(o, e, dln_experiment_commit(e), err);
    if (rc) cli_outfile_abort(&log);
    dln_experiment_destroy(e);
    for (long b = 0; b < members; b++) cli_observer_free(&ob[b]);
    free(ob);
    return rc;
}
