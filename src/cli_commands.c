/* cli_commands.c: `dln solve` and `dln train`: set up the problem and the backend,
 * run, and print the one-line JSON summary. Nothing is printed on stdout until the
 * run has succeeded; a bad input is refused before any work is done. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Refuses problems whose host working set cannot fit in physical memory. */
static int check_host_budget(double bytes, const char *what, dln_error *err)
{
    double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (phys > 0 && bytes > phys)
        return dln_fail(err, DLN_EINPUT, "%s needs about %.3g GB of host memory; this machine has %.3g GB", what,
                        bytes / 1e9, phys / 1e9);
    return DLN_OK;
}

/* Solver working set: X, Y, X^T, U, VT, M, P (fp64), host and backend. */
static double solver_bytes(double dx, double dy, double m)
{
    double n = dx < m ? dx : m;
    return 8.0 * (2 * (dx + dy) * m + 2 * m * n + n * n + 2 * dy * m + dx * m);
}

static int get_data(const cli_opts *o, dln_data *d, dln_error *err)
{
    if (o->x_path) return dln_data_load(o->x_path, o->y_path, d, err);
    DLN_TRY(check_host_budget(solver_bytes(o->dx, o->dy, o->samples), "the synthetic problem", err));
    dln_synth_opts s = {o->dx, o->dy, o->samples, o->teacher_rank, o->noise, o->data_seed};
    DLN_TRY(dln_synth_make(&s, d, err));
    return dln_data_validate(d, err);
}

/* *note (or NULL) says what `auto` chose; it is printed only once the run has succeeded,
 * so that a refusal stays a single line. */
static int get_backend(const cli_opts *o, dln_error *err, dln_backend **be, const char **note)
{
    DLN_TRY(dln_backend_create(o->backend, err, be, note));
    if (o->math == DLN_MATH_TF32 && strcmp((*be)->ops->name, "cuda")) {
        dln_backend_destroy(*be);
        *be = NULL;
        return dln_fail(err, DLN_EINPUT, "--precision tf32 needs the cuda backend (this run is on the CPU)");
    }
    (*be)->math_mode = o->math;
    return DLN_OK;
}

static void put_problem(json_out *j, const cli_opts *o, const dln_data *d, const dln_backend *be)
{
    json_str(j, "backend", be->ops->name);
    json_str(j, "precision", o->precision);
    json_str(j, "data", o->x_path ? "files" : "synthetic");
    json_int(j, "dx", d->dx);
    json_int(j, "dy", d->dy);
    json_int(j, "samples", d->m);
    if (!o->x_path) {
        json_int(j, "teacher_rank", o->teacher_rank);
        json_num(j, "noise", o->noise);
        json_int(j, "data_seed", (long)o->data_seed);
    }
}

static void put_shallow(json_out *j, const dln_shallow *sh)
{
    json_int(j, "rank", sh->k);
    json_num(j, "optimum", sh->optimum);
    json_num(j, "lstsq", sh->lstsq);
    json_num(j, "zero_loss", sh->y_half);
    json_int(j, "rank_x", sh->rank_x);
    json_int(j, "rank_y", sh->rank_y);
    json_num(j, "rank_tol_x", sh->tol_x);
    json_num(j, "rank_tol_y", sh->tol_y);
    json_num(j, "cond_x", sh->cond_x);
    json_num(j, "sigma_k", sh->sigma_k);
    json_num(j, "sigma_k1", sh->sigma_k1);
    json_num(j, "sigma_gap", sh->sigma_k - sh->sigma_k1);
    json_bool(j, "constrained", sh->constrained);
    json_bool(j, "hypotheses", sh->hypotheses);
}

static int emit(json_out *j, const cli_opts *o, const char *note, dln_error *err)
{
    const char *text = json_end(j);
    if (!text) return dln_fail(err, DLN_ENOMEM, "out of memory writing the summary");
    if (note && !o->quiet) fprintf(stderr, "dln: note: %s\n", note);
    if (fputs(text, stdout) == EOF || fflush(stdout) != 0 || ferror(stdout))
        return dln_fail(err, DLN_ERUNTIME, "cannot write the summary to standard output: %s", strerror(errno));
    return DLN_OK;
}

int cli_solve(cli_opts *o, dln_error *err)
{
    int k = o->rank;
    if (!k && (o->depth_set || o->width_set || o->widths_set)) {
        /* the narrowest hidden layer; dx and dy bound k inside the solver */
        k = DLN_MAX_DIM;
        for (int i = 0; i < o->depth - 1; i++) {
            int w = o->widths_set ? o->widths[i] : o->width;
            if (w < k) k = w;
        }
    }
    dln_data d;
    DLN_TRY(get_data(o, &d, err));
    dln_backend *be = NULL;
    const char *note = NULL;
    dln_shallow sh;
    json_out j;
    json_begin(&j);
    double t0 = wall();
    int rc = get_backend(o, err, &be, &note);
    if (!rc) rc = dln_shallow_solve(be, &d, k, o->rank_tol, 0, &sh, err);
    if (!rc) {
        double sec = wall() - t0;
        json_str(&j, "command", "solve");
        put_problem(&j, o, &d, be);
        put_shallow(&j, &sh);
        json_num(&j, "seconds", sec);
        rc = emit(&j, o, note, err);
        dln_shallow_free(&sh);
    }
    json_free(&j);
    dln_backend_destroy(be);
    dln_data_free(&d);
    return rc;
}

/* Weights from --load or from the initialiser, checked against the data. */
static int get_weights(const cli_opts *o, const dln_data *d, dln_shape *s, double ***W, dln_error *err)
{
    if (o->load_dir) return dln_weights_load(o->load_dir, d->dx, d->dy, s, W, err);
    int *hidden = NULL, rc;
    if (o->depth > 1) {
        hidden = malloc(sizeof(int) * (size_t)(o->depth - 1));
        if (!hidden) return dln_fail(err, DLN_ENOMEM, "out of memory");
        for (int i = 0; i < o->depth - 1; i++) hidden[i] = o->widths_set ? o->widths[i] : o->width;
    }
    rc = dln_shape_make(o->depth, d->dx, d->dy, hidden, o->depth - 1, s, err);
    free(hidden);
    if (!rc) rc = check_host_budget(8.0 * 2 * (double)dln_shape_params(s), "the network", err);
    if (!rc) rc = dln_init_weights(s, o->init, o->init_scale, o->seed, W, err);
    if (rc) dln_shape_free(s);
    return rc;
}

/* Balancedness costs O(sum d_j^2 (d_{j-1} + d_{j+1})) host flops: reported when cheap. */
static double balancedness_if_cheap(const dln_shape *s, double *const *W)
{
    double flops = 0;
    for (int j = 1; j < s->depth; j++)
        flops += (double)s->dims[j] * s->dims[j] * (s->dims[j - 1] + s->dims[j + 1]);
    return flops < 2e9 ? dln_weights_balancedness(s, W) : NAN;
}

int cli_train(cli_opts *o, dln_error *err)
{
    dln_data d;
    dln_shape s = {0, NULL};
    double **W = NULL;
    dln_backend *be = NULL;
    dln_shallow sh;
    memset(&sh, 0, sizeof sh);
    FILE *log = NULL;
    json_out j;
    json_begin(&j);
    DLN_TRY(get_data(o, &d, err));
    const char *note = NULL;
    int rc = get_weights(o, &d, &s, &W, err);
    if (!rc && o->save_dir) rc = dln_weights_check_dir(o->save_dir, err);
    if (!rc && o->log_path && !(log = fopen(o->log_path, "w")))
        rc = dln_fail(err, DLN_EINPUT, "--log %s: cannot open for writing: %s", o->log_path, strerror(errno));
    if (!rc) rc = get_backend(o, err, &be, &note);
    if (!rc && !o->check_every_set) o->train.check_every = strcmp(be->ops->name, "cuda") ? 1 : 50;
    double t0 = wall();
    if (!rc) rc = dln_shallow_solve(be, &d, dln_shape_narrowest(&s), o->rank_tol, 1, &sh, err);
    double solve_sec = wall() - t0;
    double bal0 = rc ? NAN : balancedness_if_cheap(&s, W);
    dln_train_result r;
    memset(&r, 0, sizeof r);
    o->train.log = log;
    o->train.progress = !o->quiet && isatty(2);
    o->train.dtype = o->dtype;
    if (!rc) rc = dln_train(be, &d, &sh, &s, W, &o->train, &r, err);
    if (log && fclose(log) && !rc) rc = dln_fail(err, DLN_EINPUT, "--log %s: write failed", o->log_path);
    if (!rc && r.diverged)
        fprintf(stderr, "dln: %s%s\n", r.note, o->save_dir ? " (weights not saved)" : "");
    if (!rc && o->save_dir && !r.diverged) rc = dln_weights_save(o->save_dir, &s, W, err);
    if (!rc) {
        json_str(&j, "command", "train");
        put_problem(&j, o, &d, be);
        json_int(&j, "depth", s.depth);
        json_ints(&j, "widths", s.dims + 1, s.depth - 1);
        json_int(&j, "narrowest", dln_shape_narrowest(&s));
        json_str(&j, "init", o->load_dir ? "loaded" : dln_init_name(o->init));
        json_num(&j, "init_scale", o->load_dir ? NAN : o->init_scale);
        json_int(&j, "seed", (long)o->seed);
        json_num(&j, "lr", r.lr);
        json_bool(&j, "lr_auto", o->train.lr <= 0);
        json_num(&j, "momentum", o->train.momentum);
        json_bool(&j, "line_search", o->train.line_search);
        json_bool(&j, "compressed", r.compressed);
        json_int(&j, "max_steps", o->train.steps);
        json_num(&j, "tol", o->train.tol);
        json_num(&j, "loss", r.loss);
        json_num(&j, "loss_init", r.loss_init);
        json_num(&j, "gap", r.gap);
        json_num(&j, "rel_gap", r.rel_gap);
        json_num(&j, "grad_norm", r.grad_norm);
        json_int(&j, "steps", r.steps);
        json_bool(&j, "converged", r.converged);
        json_bool(&j, "diverged", r.diverged);
        json_num(&j, "seconds", r.seconds);
        json_num(&j, "solve_seconds", solve_sec);
        json_num(&j, "balancedness_init", bal0);
        json_num(&j, "balancedness", r.diverged ? NAN : balancedness_if_cheap(&s, W));
        put_shallow(&j, &sh);
        json_str(&j, "note", r.note);
        rc = emit(&j, o, note, err);
    }
    if (rc && log) remove(o->log_path);
    json_free(&j);
    dln_shallow_free(&sh);
    dln_backend_destroy(be);
    dln_weights_free(s.depth, W);
    dln_shape_free(&s);
    dln_data_free(&d);
    return rc;
}
