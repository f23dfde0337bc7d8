/* train.c: `dln train`: check the output paths, the sizes and the memory the run needs
 * (plan.c) before anything large is allocated; set up the data, the weights (initialised
 * or --load), the backend and the shallow optimum; train with the CLI's observers (--log
 * trace, progress line); then stage the weights (--save), print the one-line JSON summary,
 * and only then commit the log and the weights, so that a run that fails at any point,
 * printing included, leaves the user's files as they were. Library messages are given the
 * flag that named the failing path; the note on why the run stopped gets the CLI's advice. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Weights from --load (which must still have the shape planned) or from the initialiser. */
int cli_get_weights(const cli_opts *o, const dln_data *d, const dln_shape *s, double ***W, dln_error *err)
{
    if (!o->load_dir) return dln_init_weights(s, o->init, o->init_scale, o->seed, W, err);
    dln_shape got;
    int rc = dln_weights_load(o->load_dir, d->dx, d->dy, &got, W, err);
    if (!rc) {
        int same = got.depth == s->depth && !memcmp(got.dims, s->dims, sizeof(int) * (size_t)(s->depth + 1));
        int depth = got.depth;
        dln_shape_free(&got);
        if (!same) {
            rc = dln_fail(err, DLN_ERUNTIME, "%s: the weights changed while being read", o->load_dir);
            dln_weights_free(depth, *W);
            *W = NULL;
        }
    }
    if (rc) dln_error_prefix(err, "--load ");
    return rc;
}

/* Balancedness costs O(sum d_j^2 (d_{j-1} + d_{j+1})) host flops and d_j^2 scratch:
 * reported when cheap. */
double cli_balancedness(const dln_shape *s, double *const *W)
{
    return dln_balancedness_cheap(s) ? dln_weights_balancedness(s, W) : NAN;
}

/* Why the run stopped, with what to change when it diverged. */
void cli_stop_note(const dln_train_result *r, const dln_train_opts *t, char *buf, size_t n)
{
    if (r->stop == DLN_STOP_DIVERGED)
        snprintf(buf, n, "diverged at step %ld (loss %g): lower --lr (it was %g), or use --line-search", r->steps,
                 r->loss, r->lr);
    else dln_train_describe(r, t, buf, n);
}

/* With --hessian, what a critical point above the optimum is and how to leave it. */
static void saddle_note(const dln_train_result *r, const cli_hessian_result *h, char *buf, size_t n)
{
    if (r->verdict != DLN_VERDICT_CRITICAL && r->verdict != DLN_VERDICT_STATIONARY) return;
    size_t used = strlen(buf);
    if (h->r.lambda_min < -1e-8 * fmax(fabs(h->r.lambda_max), fabs(h->r.lambda_min)))
        snprintf(buf + used, n - used, "; a strict saddle: lambda_min %.3g < 0 (escape along its eigenvector: "
                 "--save-direction, then --load --perturb S --perturb-dir)", h->r.lambda_min);
    else
        snprintf(buf + used, n - used, "; a degenerate saddle: no negative curvature found (lambda_min %.3g; "
                 "escape with --load --perturb S, a random direction)", h->r.lambda_min);
}

void cli_put_run(dln_json *j, const cli_opts *o, const dln_shape *s, const dln_train_result *r)
{
    dln_json_int(j, "depth", s->depth);
    dln_json_ints(j, "widths", s->dims + 1, s->depth - 1);
    dln_json_int(j, "narrowest", dln_shape_narrowest(s));
    dln_json_str(j, "init", o->load_dir ? "loaded" : dln_init_name(o->init));
    dln_json_num(j, "init_scale", o->load_dir ? NAN : o->init_scale);
    dln_json_int(j, "seed", (long)o->seed);
    dln_json_num(j, "lr", r->lr);
    dln_json_bool(j, "lr_auto", o->train.lr <= 0);
    dln_json_str(j, "lr_rule", o->train.lr > 0 ? "given" : o->train.lr_rule == DLN_LR_ARORA ? "arora" : "sharpness");
    dln_json_num(j, "lr_init", r->lr_init);
    dln_json_num(j, "sharpness_init", r->sharpness_init);
    dln_json_num(j, "sharpness", r->sharpness);
    dln_json_num(j, "lr_lambda", r->lr * r->sharpness);
    dln_json_int(j, "lr_changes", r->lr_changes);
    dln_json_int(j, "lr_capped", r->lr_capped);
    dln_json_num(j, "momentum", o->train.momentum);
    dln_json_bool(j, "line_search", o->train.line_search);
    dln_json_bool(j, "compressed", r->compressed);
    dln_json_int(j, "max_steps", o->train.steps);
    dln_json_num(j, "tol", o->train.tol);
    dln_json_num(j, "loss", r->loss);
    dln_json_num(j, "loss_init", r->loss_init);
    dln_json_num(j, "gap", r->gap);
    dln_json_num(j, "rel_gap", r->rel_gap);
    dln_json_num(j, "grad_norm", r->grad_norm);
    dln_json_int(j, "steps", r->steps);
    dln_json_bool(j, "converged", r->converged);
    dln_json_bool(j, "diverged", r->diverged);
    dln_json_str(j, "verdict", dln_verdict_name(r->verdict));
    if (r->verdict == DLN_VERDICT_CRITICAL) dln_json_int(j, "verdict_rank", r->verdict_rank);
    if (r->verdict_skipped) {
        dln_json_int(j, "verdict_rank", r->verdict_rank);
        dln_json_ints(j, "verdict_modes_swapped", (int[]){r->verdict_skipped, r->verdict_added}, 2);
    }
    dln_json_num(j, "grad_rel", r->grad_rel);
    if (r->verdict == DLN_VERDICT_DECREASING) dln_json_num(j, "steps_to_tol", r->steps_to_tol);
    dln_json_num(j, "seconds", r->seconds);
}

/* Everything a run holds, released in one place. */
typedef struct {
    dln_data d;
    dln_shape s;
    double **W;
    dln_backend *be;
    dln_shallow sh;
    cli_outfile log;
    dln_staged_weights *staged;
    dln_json j;
    dln_mem_estimate est;
    cli_hessian_result h; /* --hessian */
    int have_h;
    dln_staged_weights *direction; /* --save-direction */
} run_state;

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

/* The output paths, before any work: the --save directory can be replaced (a batch checks
 * its members' directories itself); the --log file
 * is not a data file of this run and does not lie inside the --save directory (which may
 * hold weights only). Whether it can be written is found when it is opened, before training. */
int cli_check_outputs(const cli_opts *o, int batch, dln_error *err)
{
    if (o->save_dir && !batch && dln_weights_check_dir(o->save_dir, err)) {
        dln_error_prefix(err, "--save ");
        return err->code;
    }
    struct stat ls, ds;
    const char *inputs[] = {o->x_path, o->y_path};
    for (int i = 0; i < 2 && o->log_path && stat(o->log_path, &ls) == 0 && S_ISREG(ls.st_mode); i++)
        if (inputs[i] && stat(inputs[i], &ds) == 0 && ds.st_dev == ls.st_dev && ds.st_ino == ls.st_ino)
            return dln_fail(err, DLN_EINPUT, "--log %s: is the %s data file; the trace would replace it", o->log_path,
                            i ? "--y" : "--x");
    if (o->save_dir && o->log_path) {
        char *lp = parent_of(o->log_path), *sd = realpath(o->save_dir, NULL), *sp = parent_of(o->save_dir);
        int inside = lp && sd && !strcmp(lp, sd);
        char b1[4096], b2[4096];
        int same = lp && sp && !strcmp(lp, sp) && !strcmp(base_of(o->log_path, b1), base_of(o->save_dir, b2));
        free(lp), free(sd), free(sp);
        if (inside || same)
            return dln_fail(err, DLN_EINPUT, "--log %s: %s the --save directory %s, which holds weights only",
                            o->log_path, inside ? "lies inside" : "is", o->save_dir);
    }
    return DLN_OK;
}

/* Up to the trained weights: data, shape and memory checked, weights, log, solver, trainer. */
static int run(cli_opts *o, run_state *st, dln_train_result *r, double *solve_sec, double *bal0, const char **note,
               dln_error *err)
{
    o->train.dtype = o->dtype;
    DLN_TRY(cli_check_outputs(o, 0, err));
    DLN_TRY(cli_dyn_check_outputs(o, err));
    DLN_TRY(cli_get_backend(o, err, &st->be, note));
    int dx, dy, m;
    DLN_TRY(cli_data_dims(o, &dx, &dy, &m, err));
    if (m) { /* sizes known from the headers: check before reading the data */
        DLN_TRY(cli_make_shape(o, dx, dy, &st->s, err));
        DLN_TRY(cli_check_memory(o, &st->s, dx, dy, m, st->be, &st->est, err));
    }
    DLN_TRY(cli_get_data(o, &st->d, err));
    if (!m) { /* read from a pipe: checked now */
        DLN_TRY(cli_make_shape(o, st->d.dx, st->d.dy, &st->s, err));
        DLN_TRY(cli_check_memory(o, &st->s, st->d.dx, st->d.dy, st->d.m, st->be, &st->est, err));
    }
    DLN_TRY(cli_hessian_check(o, &st->s, o->dyn.hessian, err));
    DLN_TRY(cli_get_weights(o, &st->d, &st->s, &st->W, err));
    DLN_TRY(cli_perturb(o, &st->s, st->W, err));
    if (o->log_path) DLN_TRY(cli_outfile_open(&st->log, o->log_path, "--log", err));
    double t0 = dln_clock_seconds();
    dln_shallow_opts so = {dln_shape_narrowest(&st->s), o->rank_tol, 1, o->solver, 0};
    DLN_TRY(dln_shallow_solve_opts(st->be, &st->d, &so, &st->sh, err));
    *solve_sec = dln_clock_seconds() - t0;
    *bal0 = cli_balancedness(&st->s, st->W);
    cli_observer ob;
    cli_observer_init(&ob, o->log_path ? &st->log : NULL, o->log_every, !o->quiet && isatty(2), o->train.steps);
    o->train.observer = cli_observe;
    o->train.observer_ctx = &ob;
    o->train.observe_every = o->log_path ? o->log_every : 0;
    if (o->dyn.observe) o->train.observe |= DLN_OBSERVE_SPECTRUM | DLN_OBSERVE_MODES | DLN_OBSERVE_NORMS |
                                             DLN_OBSERVE_BALANCE;
    dln_fit fit;
    dln_reference ref;
    int rc = dln_shallow_problem(&st->sh, &st->d, &fit, &ref, err);
    if (!rc) rc = dln_train(st->be, &fit, &ref, &st->s, 1, &st->W, &o->train, r, err);
    dln_reference_free(&ref);
    cli_observer_free(&ob);
    if (!rc && o->dyn.hessian && !r->diverged) {
        rc = cli_hessian_at(st->be, &st->d, &st->sh, &st->s, st->W, o->dyn.hessian_iters, o->seed,
                            o->dyn.direction_dir != NULL, &st->h, err);
        st->have_h = !rc;
    }
    if (!rc && st->have_h && o->dyn.direction_dir &&
        (rc = dln_weights_stage(o->dyn.direction_dir, &st->s, st->h.vmin, &st->direction, err)))
        dln_error_prefix(err, "--save-direction ");
    return rc;
}

int cli_train(cli_opts *o, dln_error *err)
{
    run_state st;
    memset(&st, 0, sizeof st);
    st.log.fd = -1;
    dln_json_init(&st.j);
    dln_train_result r;
    memset(&r, 0, sizeof r);
    double solve_sec = 0, bal0 = NAN;
    const char *note = NULL;
    int rc = run(o, &st, &r, &solve_sec, &bal0, &note, err);
    char why[CLI_NOTE_MAX] = "";
    if (!rc) cli_stop_note(&r, &o->train, why, sizeof why);
    if (!rc && st.have_h) saddle_note(&r, &st.h, why, sizeof why);
    if (!rc && r.diverged) fprintf(stderr, "dln: %s%s\n", why, o->save_dir ? " (weights not saved)" : "");
    /* the new weights are staged, the summary printed, and only then both outputs committed:
     * a run that cannot print its result leaves the old weights and log as they were */
    if (!rc && o->save_dir && !r.diverged && (rc = dln_weights_stage(o->save_dir, &st.s, st.W, &st.staged, err)))
        dln_error_prefix(err, "--save ");
    if (!rc) {
        dln_json_object(&st.j, NULL);
        dln_json_str(&st.j, "command", "train");
        cli_put_problem(&st.j, o, &st.d, st.be);
        cli_put_run(&st.j, o, &st.s, &r);
        if (st.have_h) cli_put_hessian(&st.j, &st.h, r.verdict);
        dln_json_num(&st.j, "solve_seconds", solve_sec);
        dln_json_num(&st.j, "balancedness_init", bal0);
        dln_json_num(&st.j, "balancedness", r.diverged ? NAN : cli_balancedness(&st.s, st.W));
        cli_put_shallow(&st.j, &st.sh);
        cli_put_memory(&st.j, &st.est);
        dln_json_str(&st.j, "note", why);
        cli_note_hypotheses(o, &st.sh);
        rc = cli_emit(&st.j, o, note, err);
    }
    if (!rc) rc = cli_outfile_commit(&st.log, "--log", err);
    if (!rc && st.staged) {
        rc = dln_weights_commit(st.staged, 0, err);
        st.staged = NULL;
        if (rc) dln_error_prefix(err, "--save ");
    }
    if (!rc && st.direction) {
        rc = dln_weights_commit(st.direction, 0, err);
        st.direction = NULL;
        if (rc) dln_error_prefix(err, "--save-direction ");
    }
    if (!rc) rc = cli_save_solution(o, &st.sh, err);
    if (!rc) rc = cli_save_data(o, &st.d, err);
    if (rc) {
        cli_outfile_abort(&st.log);
        dln_weights_abort(st.staged);
    }
    dln_weights_abort(st.direction);
    cli_hessian_result_free(&st.s, &st.h);
    dln_json_free(&st.j);
    dln_shallow_free(&st.sh);
    dln_backend_destroy(st.be);
    dln_weights_free(st.s.depth, st.W);
    dln_shape_free(&st.s);
    dln_data_free(&st.d);
    return rc;
}
