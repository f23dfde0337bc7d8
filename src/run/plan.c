/* plan.c: what an experiment checks before anything large is allocated: the data sizes (from
 * the .npy headers, the arrays, or the synthetic options), the network's shape (from the
 * options, or the headers of the load_dir files), and the memory estimate of the whole run
 * against what this process may use (dln_memory_check), for a batch the largest number of
 * members that fits. Data read from a pipe have no header to look at in advance: they are
 * checked once read. */
#include <stdlib.h>

#include "run/experiment_internal.h"

int dln_exp_data_dims(dln_experiment *e, int *dx, int *dy, int *m)
{
    const dln_experiment_opts *o = &e->o;
    *dx = *dy = *m = 0;
    if (o->matrix) return DLN_OK; /* known once the observations are read (sensing's A sets the memory) */
    if (o->X) {
        *dx = o->dx, *dy = o->dy, *m = o->m;
        return DLN_OK;
    }
    if (!o->x_path) {
        *dx = o->synth.dx, *dy = o->synth.dy, *m = o->synth.m;
        return DLN_OK;
    }
    int xr, xc, yr, yc;
    DLN_TRY(dln_npy_shape(o->x_path, &xr, &xc, e->err));
    DLN_TRY(dln_npy_shape(o->y_path, &yr, &yc, e->err));
    if (xr && yr && xc == yc) *dx = xr, *dy = yr, *m = xc; /* else: unknown, or refused by the loader */
    return DLN_OK;
}

int dln_exp_make_shape(dln_experiment *e, int dx, int dy)
{
    const dln_experiment_opts *o = &e->o;
    dln_shape_free(&e->s);
    if (o->load_dir) return dln_exp_at(e, DLN_PART_LOAD, dln_weights_shape(o->load_dir, dx, dy, &e->s, e->err));
    int *hidden = NULL;
    if (o->depth > 1) {
        hidden = malloc(sizeof(int) * (size_t)(o->depth - 1));
        if (!hidden) return dln_fail(e->err, DLN_ENOMEM, "out of memory");
        for (int i = 0; i < o->depth - 1; i++) hidden[i] = o->widths ? o->widths[i] : o->width;
    }
    int rc = dln_shape_make(o->depth, dx, dy, hidden, o->depth - 1, &e->s, e->err);
    free(hidden);
    return rc;
}

/* The plan of the run for a batch of `batch` members (0: a run of one), its training options
 * those of the most demanding member: momentum, and the sharpness rule's buffers. */
static dln_run_plan plan_of(const dln_experiment *e, int dx, int dy, int m, int batch, dln_train_opts *t)
{
    const dln_experiment_opts *o = &e->o;
    int train = o->command != DLN_EXPERIMENT_SOLVE;
    *t = o->train;
    if (batch) {
        t->lr = 1.0, t->momentum = 0.0;
        for (long b = 0; b < e->members; b++) {
            dln_member_spec s = dln_exp_member(e, b);
            if (s.lr <= 0 && s.lr_rule == DLN_LR_SHARPNESS) t->lr = 0.0, t->lr_rule = DLN_LR_SHARPNESS;
            if (s.momentum != 0.0) t->momentum = s.momentum;
        }
    }
    int init = o->load_dir || o->weights ? -1 : (int)o->init;
    dln_run_plan p = {dx, dy, m, !o->x_path && !o->X, o->synth.teacher_rank, o->x_path != NULL,
                      train ? &e->s : NULL, init, t, (int)o->route, batch, train ? dln_backend_threads(e->be) : 0};
    return p;
}

int dln_exp_check_memory(dln_experiment *e, int dx, int dy, int m)
{
    const dln_experiment_opts *o = &e->o;
    dln_train_opts t;
    if (o->command != DLN_EXPERIMENT_TRAIN || e->members == 1) {
        dln_run_plan p = plan_of(e, dx, dy, m, 0, &t);
        e->batch = 1;
        int rc = dln_memory_check(&p, e->be, &e->est, e->err);
        if (rc == DLN_EINPUT && p.batch_threads > 1) { /* not beside the threads' buffers: no threads */
            dln_error_clear(e->err);
            DLN_TRY(dln_backend_set_threads(e->be, 1));
            return dln_exp_check_memory(e, dx, dy, m);
        }
        return rc;
    }
    long hi = o->batch_size > 0 && o->batch_size < e->members ? o->batch_size : e->members, lo = 0;
    dln_run_plan p = plan_of(e, dx, dy, m, (int)hi, &t);
    int rc = dln_memory_check(&p, e->be, &e->est, e->err);
    if (rc != DLN_EINPUT) {
        e->batch = (int)hi;
        return rc;
    }
    /* the largest batch that fits: lo fits (0: none known), hi does not */
    while (hi - lo > 1) {
        p.batch = (int)(lo + (hi - lo) / 2);
        dln_error_clear(e->err);
        rc = dln_memory_check(&p, e->be, &e->est, e->err);
        if (rc && rc != DLN_EINPUT) return rc;
        if (rc) hi = p.batch;
        else lo = p.batch;
    }
    dln_error_clear(e->err);
    p.batch = lo ? (int)lo : 1;
    rc = dln_memory_check(&p, e->be, &e->est, e->err);
    if (rc == DLN_EINPUT && p.batch_threads > 1) { /* not one member beside the threads' buffers: no threads */
        dln_error_clear(e->err);
        DLN_TRY(dln_backend_set_threads(e->be, 1));
        return dln_exp_check_memory(e, dx, dy, m);
    }
    if (rc) dln_error_prefix(e->err, "one member at a time: ");
    e->batch = (int)lo;
    return rc;
}
