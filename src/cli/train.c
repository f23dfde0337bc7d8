/* train.c: `dln train`: set up the data, the weights (initialised or --load), the
 * backend and the shallow optimum, train with the CLI's observers (--log trace, progress
 * line), save the weights (--save) and print the one-line JSON summary. Library messages
 * are given the flag that named the failing path; the note on why the run stopped gets
 * the CLI's advice. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Weights from --load or from the initialiser, checked against the data. */
static int get_weights(const cli_opts *o, const dln_data *d, dln_shape *s, double ***W, dln_error *err)
{
    if (o->load_dir) {
        int rc = dln_weights_load(o->load_dir, d->dx, d->dy, s, W, err);
        if (rc) dln_error_prefix(err, "--load ");
        return rc;
    }
    int *hidden = NULL, rc;
    if (o->depth > 1) {
        hidden = malloc(sizeof(int) * (size_t)(o->depth - 1));
        if (!hidden) return dln_fail(err, DLN_ENOMEM, "out of memory");
        for (int i = 0; i < o->depth - 1; i++) hidden[i] = o->widths_set ? o->widths[i] : o->width;
    }
    rc = dln_shape_make(o->depth, d->dx, d->dy, hidden, o->depth - 1, s, err);
    free(hidden);
    if (!rc) rc = cli_check_host_budget(8.0 * 2 * (double)dln_shape_params(s), "the network", err);
    if (!rc) rc = dln_init_weights(s, o->init, o->init_scale, o->seed, W, err);
    if (rc) dln_shape_free(s);
    return rc;
}

/* Balancedness costs O(sum d_j^2 (d_{j-1} + d_{j+1})) host flops: reported when cheap. */
static double balancedness_if_cheap(const dln_shape *s, double *const *W)
{
    return dln_balancedness_flops(s) < 2e9 ? dln_weights_balancedness(s, W) : NAN;
}

/* Why the run stopped, with what to change when it diverged. */
static void stop_note(const dln_train_result *r, const dln_train_opts *t, char *buf, size_t n)
{
    if (r->stop == DLN_STOP_DIVERGED)
        snprintf(buf, n, "diverged at step %ld (loss %g): lower --lr (it was %g), or use --line-search", r->steps,
                 r->loss, r->lr);
    else dln_train_describe(r, t, buf, n);
}

static void put_run(dln_json *j, const cli_opts *o, const dln_shape *s, const dln_train_result *r)
{
    dln_json_int(j, "depth", s->depth);
    dln_json_ints(j, "widths", s->dims + 1, s->depth - 1);
    dln_json_int(j, "narrowest", dln_shape_narrowest(s));
    dln_json_str(j, "init", o->load_dir ? "loaded" : dln_init_name(o->init));
    dln_json_num(j, "init_scale", o->load_dir ? NAN : o->init_scale);
    dln_json_int(j, "seed", (long)o->seed);
    dln_json_num(j, "lr", r->lr);
    dln_json_bool(j, "lr_auto", o->train.lr <= 0);
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
    dln_json_num(j, "seconds", r->seconds);
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
    dln_json j;
    dln_json_init(&j);
    DLN_TRY(cli_get_data(o, &d, err));
    const char *note = NULL;
    int rc = get_weights(o, &d, &s, &W, err);
    if (!rc && o->save_dir && (rc = dln_weights_check_dir(o->save_dir, err))) dln_error_prefix(err, "--save ");
    if (!rc && o->log_path && !(log = fopen(o->log_path, "w")))
        rc = dln_fail(err, DLN_EINPUT, "--log %s: cannot open for writing: %s", o->log_path, strerror(errno));
    if (!rc) rc = cli_get_backend(o, err, &be, &note);
    double t0 = dln_clock_seconds();
    dln_shallow_opts so = {0, o->rank_tol, 1, o->solver, 0};
    if (!rc) {
        so.k = dln_shape_narrowest(&s);
        rc = dln_shallow_solve_opts(be, &d, &so, &sh, err);
    }
    double solve_sec = dln_clock_seconds() - t0;
    double bal0 = rc ? NAN : balancedness_if_cheap(&s, W);
    dln_train_result r;
    memset(&r, 0, sizeof r);
    cli_observer ob;
    cli_observer_init(&ob, log, o->log_every, !o->quiet && isatty(2), o->train.steps);
    o->train.observer = cli_observe;
    o->train.observer_ctx = &ob;
    o->train.observe_every = log ? o->log_every : 0;
    o->train.dtype = o->dtype;
    if (!rc) rc = dln_train(be, &d, &sh, &s, W, &o->train, &r, err);
    if (log && (fclose(log) || ob.failed) && !rc) rc = dln_fail(err, DLN_EINPUT, "--log %s: write failed", o->log_path);
    cli_observer_free(&ob);
    char why[256] = "";
    if (!rc) stop_note(&r, &o->train, why, sizeof why);
    if (!rc && r.diverged) fprintf(stderr, "dln: %s%s\n", why, o->save_dir ? " (weights not saved)" : "");
    if (!rc && o->save_dir && !r.diverged && (rc = dln_weights_save(o->save_dir, &s, W, err)))
        dln_error_prefix(err, "--save ");
    if (!rc) {
        dln_json_object(&j, NULL);
        dln_json_str(&j, "command", "train");
        cli_put_problem(&j, o, &d, be);
        put_run(&j, o, &s, &r);
        dln_json_num(&j, "solve_seconds", solve_sec);
        dln_json_num(&j, "balancedness_init", bal0);
        dln_json_num(&j, "balancedness", r.diverged ? NAN : balancedness_if_cheap(&s, W));
        cli_put_shallow(&j, &sh);
        dln_json_str(&j, "note", why);
        rc = cli_emit(&j, o, note, err);
    }
    if (rc && log) remove(o->log_path);
    dln_json_free(&j);
    dln_shallow_free(&sh);
    dln_backend_destroy(be);
    dln_weights_free(s.depth, W);
    dln_shape_free(&s);
    dln_data_free(&d);
    return rc;
}
