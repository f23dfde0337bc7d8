/* start.c: where an experiment starts from: its data (.npy files, the caller's arrays, or
 * the synthetic problem, each checked), and its starting weights: the weights of load_dir
 * (which must still have the shape planned), the caller's, or an initialiser's for each
 * member, and for a run of one a perturbation W + S v, v a unit direction over all layers
 * (perturb_dir's, or a seeded random one from its own stream). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run/experiment_internal.h"

#define STREAM_PERTURB 3 /* rng stream of the random direction (1: data, 2: init; dln/rng.h) */

/* A matrix problem's observations into e->mx, and the dense pair (X = I, Y) into e->d. */
static int get_matrix(dln_experiment *e)
{
    const dln_experiment_opts *o = &e->o;
    dln_matrix_data *mx = &e->mx;
    int rc;
    if (o->entries_path || o->sensing_path)
        rc = dln_matrix_load(o->matrix, o->entries_path ? o->entries_path : o->sensing_path, o->b_path, o->test_path,
                             o->rows, o->cols, mx, e->err);
    else if (o->entries)
        rc = dln_matrix_completion(o->entries, o->n_entries, o->test_entries, o->n_test, o->rows, o->cols, mx, e->err);
    else if (o->sensing_A)
        rc = dln_matrix_sensing(o->sensing_A, o->n_measurements, o->rows * o->cols, o->sensing_b, o->n_measurements,
                                o->test_entries, o->n_test, o->rows, o->cols, mx, e->err);
    else {
        dln_matrix_synth_opts so = o->matrix_synth;
        so.kind = o->matrix;
        rc = dln_matrix_synth(&so, mx, e->err);
    }
    mx->kind = o->matrix; /* the objective's check saw it (a failed read leaves it zeroed) */
    DLN_TRY(rc);
    DLN_TRY(dln_matrix_dense(mx, &e->d, e->err));
    return dln_data_validate(&e->d, e->err);
}

int dln_exp_get_data(dln_experiment *e)
{
    const dln_experiment_opts *o = &e->o;
    if (o->matrix) return get_matrix(e);
    if (o->X) {
        e->d = (dln_data){o->dx, o->dy, o->m, (double *)o->X, (double *)o->Y};
        e->data_borrowed = 1;
        return dln_data_validate(&e->d, e->err);
    }
    if (o->x_path) return dln_data_load(o->x_path, o->y_path, &e->d, e->err);
    dln_synth_opts synth = o->synth;
    synth.labels = dln_objective_labels(e->obj); /* the targets the loss fits */
    DLN_TRY(dln_synth_make(&synth, &e->d, e->err));
    return dln_data_validate(&e->d, e->err);
}

static size_t layer_size(const dln_shape *s, int i) { return (size_t)s->dims[i + 1] * (size_t)s->dims[i]; }

/* The weights of load_dir, which must have the shape planned from their headers. */
static int load(dln_experiment *e, double ***W)
{
    dln_shape got;
    int rc = dln_weights_load(e->o.load_dir, e->d.dx, e->d.dy, &got, W, e->err);
    if (!rc) {
        int same = got.depth == e->s.depth && !memcmp(got.dims, e->s.dims, sizeof(int) * (size_t)(e->s.depth + 1));
        int depth = got.depth;
        dln_shape_free(&got);
        if (!same) {
            rc = dln_fail(e->err, DLN_ERUNTIME, "%s: the weights changed while being read", e->o.load_dir);
            dln_weights_free(depth, *W);
            *W = NULL;
        }
    }
    return dln_exp_at(e, DLN_PART_LOAD, rc);
}

/* The caller's weights, copied (checked finite). */
static int given(dln_experiment *e, double ***W)
{
    DLN_TRY(dln_weights_alloc(&e->s, W, e->err));
    for (int i = 0; i < e->s.depth; i++) {
        for (size_t k = 0; k < layer_size(&e->s, i); k++)
            if (!isfinite(e->o.weights[i][k])) return dln_fail(e->err, DLN_EINPUT, "the weights of layer %d are not finite", i + 1);
        memcpy((*W)[i], e->o.weights[i], sizeof(double) * layer_size(&e->s, i));
    }
    return DLN_OK;
}

/* W += S v, v the perturb_dir direction or a seeded random one, scaled to unit norm. */
static int perturb(dln_experiment *e, double **W)
{
    const dln_experiment_opts *o = &e->o;
    const dln_shape *s = &e->s;
    double **V = NULL;
    int rc;
    if (o->perturb_dir) {
        dln_shape got = {0, NULL};
        rc = dln_weights_load(o->perturb_dir, s->dims[0], s->dims[s->depth], &got, &V, e->err);
        if (rc) return dln_exp_at(e, DLN_PART_PERTURB_DIR, rc);
        int same = got.depth == s->depth && !memcmp(got.dims, s->dims, sizeof(int) * (size_t)(s->depth + 1));
        int depth = got.depth;
        dln_shape_free(&got);
        if (!same) {
            dln_weights_free(depth, V);
            return dln_exp_at(e, DLN_PART_PERTURB_DIR, dln_fail(e->err, DLN_EINPUT, "%s: the direction's shapes differ "
                                                                "from the starting weights", o->perturb_dir));
        }
    } else {
        DLN_TRY(dln_weights_alloc(s, &V, e->err));
        dln_rng g;
        dln_rng_seed(&g, o->seed, STREAM_PERTURB);
        for (int i = 0; i < s->depth; i++)
            for (size_t k = 0; k < layer_size(s, i); k++) V[i][k] = dln_rng_normal(&g);
    }
    double nn = 0.0;
    for (int i = 0; i < s->depth; i++)
        for (size_t k = 0; k < layer_size(s, i); k++) nn += V[i][k] * V[i][k];
    rc = nn > 0 && isfinite(nn) ? DLN_OK
                                : dln_exp_at(e, DLN_PART_PERTURB_DIR,
                                             dln_fail(e->err, DLN_EINPUT, "%s: the direction is zero or not finite",
                                                      o->perturb_dir ? o->perturb_dir : "the random direction"));
    double a = rc ? 0.0 : o->perturb / sqrt(nn);
    for (int i = 0; !rc && i < s->depth; i++)
        for (size_t k = 0; k < layer_size(s, i); k++) W[i][k] += a * V[i][k];
    dln_weights_free(s->depth, V);
    return rc;
}

int dln_exp_start_weights(dln_experiment *e)
{
    const dln_experiment_opts *o = &e->o;
    if (o->load_dir) DLN_TRY(load(e, &e->start));
    else if (o->weights) DLN_TRY(given(e, &e->start));
    else if (e->members == 1 && o->command == DLN_EXPERIMENT_TRAIN) {
        dln_member_spec m = dln_exp_member(e, 0);
        DLN_TRY(dln_init_weights(&e->s, m.init, m.init_scale, m.seed, &e->start, e->err));
    }
    if (o->perturb_set && e->start) DLN_TRY(perturb(e, e->start));
    return DLN_OK;
}

int dln_exp_member_weights(dln_experiment *e, const dln_member_spec *m, double ***W)
{
    if (!e->start) return dln_init_weights(&e->s, m->init, m->init_scale, m->seed, W, e->err);
    DLN_TRY(dln_weights_alloc(&e->s, W, e->err));
    for (int i = 0; i < e->s.depth; i++) memcpy((*W)[i], e->start[i], sizeof(double) * layer_size(&e->s, i));
    return DLN_OK;
}
