/* experiment.c: an experiment from its options to its summaries and outputs
 * (dln/experiment.h), in the order that keeps a user's files safe and refuses bad input
 * before any work: the outputs checked, the backend made, the sizes and the memory planned
 * (from the .npy headers where the data are files, else once read), the data read, the
 * starting weights made; then the shallow problem solved, the members trained in batches of
 * at most e->batch (each batch one dln_train call, its observer the experiment's), the
 * Hessian at the end, the outputs staged; and only at the commit, after the front end has
 * printed or returned the summaries, the outputs put in place. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/experiment_internal.h"

void dln_experiment_opts_default(dln_experiment_opts *o)
{
    memset(o, 0, sizeof *o);
    o->command = DLN_EXPERIMENT_TRAIN;
    o->synth = (dln_synth_opts){32, 32, 256, 8, 0.1, 1, DLN_LABELS_VALUES};
    o->depth = 4, o->width = 4;
    o->init = DLN_INIT_ORTHOGONAL, o->init_scale = 1.0, o->seed = 1;
    dln_train_opts_default(&o->train);
    o->backend = DLN_BACKEND_AUTO;
    o->math = DLN_MATH_DEFAULT;
    o->shallow_restarts = DLN_SHALLOW_RESTARTS;
    o->certify = -1;
    o->nuclear = -1;
}

int dln_experiment_create(const dln_experiment_opts *o, dln_error *err, dln_experiment **out)
{
    *out = NULL;
    dln_experiment *e = calloc(1, sizeof *e);
    if (!e) return dln_fail(err, DLN_ENOMEM, "out of host memory for the experiment");
    e->o = *o;
    e->err = err;
    int rc = dln_exp_copy_lists(e, o);
    if (!rc && o->command == DLN_EXPERIMENT_TRAIN && e->members > 1 &&
        (o->hessian || o->direction_dir || o->perturb_set || o->observe || o->train.line_search))
        rc = dln_fail(err, DLN_EINPUT, "the Hessian at the end, its saved direction, the perturbation, the "
                      "observables and the line search are for a single run, not a batch of %ld", e->members);
    if (!rc && o->command == DLN_EXPERIMENT_HESSIAN && !o->load_dir && !o->weights)
        rc = dln_fail(err, DLN_EINPUT, "the Hessian needs the weights to measure it at (a directory or given ones)");
    if (!rc && o->direction_dir && !o->hessian && o->command != DLN_EXPERIMENT_HESSIAN)
        rc = dln_fail(err, DLN_EINPUT, "the direction of lambda_min is measured with the Hessian: ask for both");
    if (!rc && o->perturb_set && !o->load_dir && !o->weights)
        rc = dln_fail(err, DLN_EINPUT, "the perturbation moves starting weights that are given or loaded");
    if (!rc && (o->shallow_restarts < 0 || o->shallow_restarts > 100000))
        rc = dln_fail(err, DLN_EINPUT, "the shallow restarts must be in 0 .. 100000 (got %d)", o->shallow_restarts);
    if (!rc && o->data_dir && (o->x_path || o->entries_path || o->sensing_path))
        rc = dln_fail(err, DLN_EINPUT, "saving the data writes them as .npy files; these data are files already");
    if (rc) {
        dln_experiment_destroy(e);
        return rc;
    }
    *out = e;
    return DLN_OK;
}

void dln_experiment_destroy(dln_experiment *e)
{
    if (!e) return;
    dln_exp_abort_outputs(e);
    dln_exp_hessian_free(e);
    dln_objective_destroy(e->obj);
    for (long b = 0; e->W && b < e->members; b++) dln_weights_free(e->s.depth, e->W[b]);
    free(e->W), free(e->staged), free(e->spec), free(e->res), free(e->bal0), free(e->bal);
    dln_weights_free(e->s.depth, e->start);
    dln_reference_free(&e->ref);
    if (e->solved) dln_shallow_free(&e->sh);
    dln_rank_k_free(&e->rk);
    free(e->cert), free(e->mxm);
    dln_matrix_free(&e->mx);
    dln_backend_destroy(e->be);
    dln_shape_free(&e->s);
    if (!e->data_borrowed) dln_data_free(&e->d);
    dln_exp_free_lists(e);
    free(e);
}

/* The backend asked for, its math mode and (training) its threads: a batch's members, and a
 * run's long products (src/backends/cpu/gemm_cpu.c), over them. */
static int make_backend(dln_experiment *e)
{
    const char *note = NULL;
    DLN_TRY(dln_exp_at(e, DLN_PART_BACKEND, dln_backend_create(e->o.backend, e->err, &e->be, &note)));
    if (e->o.math == DLN_MATH_TF32 && !dln_backend_supports(e->be, DLN_CAP_TF32))
        return dln_exp_at(e, DLN_PART_PRECISION, dln_fail(e->err, DLN_EINPUT, "tf32 needs the cuda backend (this run "
                                                          "is on the %s backend)", dln_backend_name(e->be)));
    DLN_TRY(dln_backend_set_math(e->be, e->o.math));
    if (e->o.command == DLN_EXPERIMENT_TRAIN && dln_backend_set_threads(e->be, e->o.threads)) {
        if (e->err->code != DLN_ERUNTIME) return e->err->code; /* threads that cannot start: one */
        dln_exp_note(e, "%s; the %s on one thread", e->err->msg, e->members > 1 ? "members run" : "run runs");
        dln_error_clear(e->err);
    }
    e->backend_note = note; /* the last note: what `auto` chose */
    return DLN_OK;
}

/* The per-member arrays. */
static int make_members(dln_experiment *e)
{
    size_t n = (size_t)e->members;
    e->spec = calloc(n, sizeof *e->spec), e->res = calloc(n, sizeof *e->res);
    e->bal0 = calloc(n, sizeof(double)), e->bal = calloc(n, sizeof(double));
    e->staged = calloc(n, sizeof *e->staged);
    if (e->o.keep_weights) e->W = calloc(n, sizeof *e->W);
    if (!e->spec || !e->res || !e->bal0 || !e->bal || !e->staged || (e->o.keep_weights && !e->W))
        return dln_fail(e->err, DLN_ENOMEM, "out of memory for %ld members", e->members);
    for (long b = 0; b < e->members; b++) e->spec[b] = dln_exp_member(e, b);
    return DLN_OK;
}

/* The loss: made and checked before any work (the square loss stays NULL: the library's
 * default, the same arithmetic). */
static int make_objective(dln_experiment *e)
{
    const dln_experiment_opts *o = &e->o;
    const char *name = o->loss ? o->loss : "square";
    dln_objective_params p = o->loss_params;
    if (o->matrix) { /* the observations' loss; e->mx is read into by dln_exp_get_data */
        if (strcmp(name, "square") || p.weights || p.p != 0 || p.delta != 0)
            return dln_exp_at(e, DLN_PART_LOSS, dln_fail(e->err, DLN_EINPUT, "a matrix problem's loss is the square "
                                                         "loss on its observations: drop the loss '%s'", name));
        if (o->x_path || o->X)
            return dln_fail(e->err, DLN_EINPUT, "a matrix problem has no X and Y: its product is the matrix itself");
        if (o->matrix != DLN_MATRIX_COMPLETION && o->matrix != DLN_MATRIX_SENSING)
            return dln_fail(e->err, DLN_EINPUT, "unknown matrix problem %d", (int)o->matrix);
        e->mx.kind = o->matrix;
        name = o->matrix == DLN_MATRIX_COMPLETION ? "completion" : "sensing";
        p = (dln_objective_params){.matrix = &e->mx};
    }
    DLN_TRY(dln_exp_at(e, DLN_PART_LOSS, dln_objective_create(name, &p, &e->obj, e->err)));
    if (!strcmp(dln_objective_name(e->obj), "square")) {
        dln_objective_destroy(e->obj);
        e->obj = NULL;
        return DLN_OK;
    }
    for (long b = 0; !(dln_objective_flags(e->obj) & DLN_OBJECTIVE_UNIT_CURVATURE) && b < e->members; b++) {
        dln_member_spec m = dln_exp_member(e, b);
        if (m.lr <= 0 && m.lr_rule == DLN_LR_ARORA)
            return dln_exp_at(e, DLN_PART_LOSS, dln_fail(e->err, DLN_EINPUT, "the %s loss's Hessian grows with the "
                                                         "residual, beyond what the curvature bound (lr arora) assumes: "
                                                         "use the sharpness rule or a given step",
                                                         dln_objective_name(e->obj)));
    }
    if (o->solution_dir)
        return dln_exp_at(e, DLN_PART_SOLUTION, dln_fail(e->err, DLN_EINPUT, "%s: the shallow solution R* is the "
                                                         "square loss's; the %s loss has none to save", o->solution_dir,
                                                         dln_objective_name(e->obj)));
    return DLN_OK;
}

int dln_experiment_prepare(dln_experiment *e)
{
    const dln_experiment_opts *o = &e->o;
    int train = o->command != DLN_EXPERIMENT_SOLVE;
    DLN_TRY(make_objective(e));
    if (o->command != DLN_EXPERIMENT_SOLVE) DLN_TRY(dln_exp_check_outputs(e));
    DLN_TRY(make_backend(e));
    int dx, dy, m;
    DLN_TRY(dln_exp_data_dims(e, &dx, &dy, &m));
    if (m) { /* sizes known from the headers: check before reading the data */
        if (train) DLN_TRY(dln_exp_make_shape(e, dx, dy));
        DLN_TRY(dln_exp_check_memory(e, dx, dy, m));
    }
    DLN_TRY(dln_exp_get_data(e));
    DLN_TRY(dln_exp_at(e, DLN_PART_TARGET, dln_objective_check_target(e->obj, e->d.Y, e->d.dy, e->d.m, e->err)));
    if (!m) { /* read from a pipe: checked now */
        if (train) DLN_TRY(dln_exp_make_shape(e, e->d.dx, e->d.dy));
        DLN_TRY(dln_exp_check_memory(e, e->d.dx, e->d.dy, e->d.m));
    }
    if (o->command == DLN_EXPERIMENT_SOLVE) DLN_TRY(dln_exp_check_outputs(e));
    long asked = o->batch_size > 0 && o->batch_size < e->members ? o->batch_size : e->members;
    if (o->command == DLN_EXPERIMENT_TRAIN && e->batch < asked)
        dln_exp_note(e, "%d members train at a time (more do not fit in memory)", e->batch);
    if (train) DLN_TRY(dln_exp_check_hessian(e));
    if (train) DLN_TRY(dln_exp_start_weights(e));
    DLN_TRY(make_members(e));
    e->prepared = 1;
    return DLN_OK;
}

/* The rank bound of the solve: the narrowest layer, or `dln solve`'s --rank / shape. */
static int rank_bound(const dln_experiment *e)
{
    const dln_experiment_opts *o = &e->o;
    if (o->command != DLN_EXPERIMENT_SOLVE) return dln_shape_narrowest(&e->s);
    if (o->rank || !o->rank_from_shape) return o->rank;
    int k = DLN_MAX_DIM; /* the narrowest hidden layer; dx and dy bound k inside the solver */
    for (int i = 0; i < o->depth - 1; i++) {
        int w = o->widths ? o->widths[i] : o->width;
        if (w < k) k = w;
    }
    return k;
}

static int solve(dln_experiment *e)
{
    const dln_experiment_opts *o = &e->o;
    if (e->obj) {
        DLN_TRY(dln_exp_other_reference(e, rank_bound(e)));
        return dln_exp_nuclear_baseline(e);
    }
    double t0 = dln_clock_seconds();
    int keep = o->command != DLN_EXPERIMENT_SOLVE || o->solution_dir;
    dln_shallow_opts so = {rank_bound(e), o->rank_tol, keep, o->route, 0};
    DLN_TRY(dln_shallow_solve_opts(e->be, &e->d, &so, &e->sh, e->err));
    e->solved = 1;
    e->solve_seconds = dln_clock_seconds() - t0;
    if (!e->sh.hypotheses)
        dln_exp_note(e, "hypotheses false: rank(X) = %d of dx = %d, rank(Y) = %d of dy = %d; the theorem (every "
                     "local minimum of the deep loss is global, at L*) assumes full row rank", e->sh.rank_x, e->sh.dx,
                     e->sh.rank_y, e->sh.dy);
    if (o->command == DLN_EXPERIMENT_SOLVE) return DLN_OK;
    return dln_shallow_problem(&e->sh, &e->d, &e->fit, &e->ref, e->err);
}

/* The experiment's observer between the trainer and the front end's: the member's index. */
typedef struct {
    dln_experiment *e;
    long member;
} member_observer;

static int observe_member(void *ctx, const dln_observation *obs)
{
    member_observer *mo = ctx;
    return mo->e->o.observer(mo->e->o.observer_ctx, mo->member, obs);
}

/* Balancedness where it is cheap, else NaN. */
static double balancedness(const dln_shape *s, double *const *W)
{
    return dln_balancedness_cheap(s) ? dln_weights_balancedness(s, W) : NAN;
}

/* After training: member b's final balancedness, staged weights (not when it diverged) and
 * kept weights. W is taken over when kept. */
static int finish_member(dln_experiment *e, long b, double ***W)
{
    const dln_train_result *r = &e->res[b];
    e->bal[b] = r->diverged ? NAN : balancedness(&e->s, *W);
    DLN_TRY(dln_exp_measure_member(e, b, *W));
    if (e->o.save_dir && !r->diverged) DLN_TRY(dln_exp_stage_weights(e, b, *W));
    if (e->W) e->W[b] = *W, *W = NULL;
    return DLN_OK;
}

/* Members first .. first + count - 1, trained together. */
static int train_batch(dln_experiment *e, long first, int count)
{
    double ***W = calloc((size_t)count, sizeof *W);
    dln_train_opts *to = calloc((size_t)count, sizeof *to);
    member_observer *ob = calloc((size_t)count, sizeof *ob);
    int rc = !W || !to || !ob ? dln_fail(e->err, DLN_ENOMEM, "out of memory") : DLN_OK;
    for (int b = 0; !rc && b < count; b++) {
        const dln_member_spec *m = &e->spec[first + b];
        rc = dln_exp_member_weights(e, m, &W[b]);
        if (rc) break;
        e->bal0[first + b] = balancedness(&e->s, W[b]);
        to[b] = dln_exp_member_opts(e, m);
        ob[b] = (member_observer){e, first + b};
        to[b].observer = e->o.observer ? observe_member : NULL;
        to[b].observer_ctx = &ob[b];
    }
    if (!rc) rc = dln_train(e->be, &e->fit, &e->ref, &e->s, count, W, to, e->res + first, e->err);
    for (int b = 0; !rc && e->cert && b < count; b++)
        if (!e->res[first + b].diverged) rc = dln_exp_certify_member(e, first + b, W[b]);
    for (int b = 0; !rc && b < count; b++) rc = finish_member(e, first + b, &W[b]);
    for (int b = 0; W && b < count; b++) dln_weights_free(e->s.depth, W[b]);
    free(W), free(to), free(ob);
    return rc;
}

/* A single run's Hessian at its final weights (not after divergence), its direction staged. */
static int hessian_at_end(dln_experiment *e, double *const *W)
{
    if (!e->o.hessian || e->res[0].diverged) return DLN_OK;
    DLN_TRY(dln_exp_hessian_at(e, W, e->o.direction_dir != NULL));
    e->have_h = 1;
    if (!e->o.direction_dir) return DLN_OK;
    return dln_exp_at(e, DLN_PART_DIRECTION, dln_weights_stage(e->o.direction_dir, &e->s, e->h.vmin, &e->direction,
                                                               e->err));
}

static int run_train(dln_experiment *e)
{
    if (e->o.save_dir && e->members > 1) DLN_TRY(dln_exp_make_save_dir(e));
    int want_end = e->o.hessian && e->members == 1; /* the Hessian needs the final weights: kept */
    if (dln_exp_certify_wanted(e) && !(e->cert = calloc((size_t)e->members, sizeof *e->cert)))
        return dln_fail(e->err, DLN_ENOMEM, "out of host memory");
    if (want_end && !e->W && !(e->W = calloc(1, sizeof *e->W)))
        return dln_fail(e->err, DLN_ENOMEM, "out of host memory");
    for (long first = 0; first < e->members; first += e->batch)
        DLN_TRY(train_batch(e, first, (int)(e->members - first < e->batch ? e->members - first : e->batch)));
    if (want_end) DLN_TRY(hessian_at_end(e, e->W[0]));
    return DLN_OK;
}

int dln_experiment_run(dln_experiment *e)
{
    if (!e->prepared) return dln_fail(e->err, DLN_EINPUT, "the experiment was not prepared");
    double t0 = dln_clock_seconds();
    DLN_TRY(solve(e));
    if (e->o.command == DLN_EXPERIMENT_TRAIN) DLN_TRY(run_train(e));
    if (e->o.command == DLN_EXPERIMENT_HESSIAN) {
        if (dln_exp_certify_wanted(e)) { /* the loaded weights' product against the shallow problem */
            if (!(e->cert = calloc(1, sizeof *e->cert))) return dln_fail(e->err, DLN_ENOMEM, "out of host memory");
            DLN_TRY(dln_exp_certify_member(e, 0, e->start));
        }
        DLN_TRY(dln_exp_hessian_at(e, e->start, e->o.direction_dir != NULL));
        e->have_h = 1;
        if (e->o.direction_dir)
            DLN_TRY(dln_exp_at(e, DLN_PART_DIRECTION,
                               dln_weights_stage(e->o.direction_dir, &e->s, e->h.vmin, &e->direction, e->err)));
    }
    e->seconds = dln_clock_seconds() - t0;
    e->ran = 1;
    return DLN_OK;
}

int dln_experiment_commit(dln_experiment *e)
{
    if (!e->ran) return dln_fail(e->err, DLN_EINPUT, "the experiment did not run");
    int rc = dln_exp_commit_outputs(e);
    if (!rc) e->committed = 1;
    return rc;
}

dln_experiment_part dln_experiment_failed_part(const dln_experiment *e) { return e ? e->part : DLN_PART_NONE; }

long dln_experiment_members(const dln_experiment *e) { return e->members; }

int dln_experiment_notes(const dln_experiment *e) { return e->n_notes + (e->backend_note != NULL); }

const char *dln_experiment_note(const dln_experiment *e, int i)
{
    if (i == e->n_notes && e->backend_note) return e->backend_note;
    return i >= 0 && i < e->n_notes ? e->notes[i] : NULL;
}

long dln_experiment_summary_text(const dln_experiment *e, long member, unsigned flags, char *buf, size_t n)
{
    dln_json j;
    dln_json_init(&j);
    j.literals = (flags & DLN_SUMMARY_LITERALS) != 0;
    int rc = dln_experiment_summary(e, member, flags, &j);
    const char *text = rc ? NULL : dln_json_text(&j);
    long len = text ? (long)strlen(text) : -1;
    if (text && n) snprintf(buf, n, "%s", text);
    dln_json_free(&j);
    return len;
}

long dln_trace_text(long member, const dln_observation *obs, unsigned flags, char *buf, size_t n)
{
    dln_json j;
    dln_json_init(&j);
    j.literals = (flags & DLN_SUMMARY_LITERALS) != 0;
    dln_trace_line(&j, member, obs);
    const char *text = dln_json_text(&j);
    long len = text ? (long)strlen(text) : -1;
    if (text && n) snprintf(buf, n, "%s", text);
    dln_json_free(&j);
    return len;
}

const dln_train_result *dln_experiment_result(const dln_experiment *e, long member)
{
    int trained = e->ran && e->o.command == DLN_EXPERIMENT_TRAIN;
    return trained && member >= 0 && member < e->members ? &e->res[member] : NULL;
}

int dln_experiment_weights(const dln_experiment *e, long member, double **W)
{
    if (!e->W || member < 0 || member >= e->members || !e->W[member])
        return dln_fail(e->err, DLN_EINPUT, "the final weights of member %ld were not kept", member);
    for (int i = 0; i < e->s.depth; i++)
        memcpy(W[i], e->W[member][i], sizeof(double) * (size_t)e->s.dims[i + 1] * (size_t)e->s.dims[i]);
    return DLN_OK;
}

const dln_shape *dln_experiment_shape(const dln_experiment *e) { return &e->s; }
