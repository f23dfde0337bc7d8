/* plan.c: what `dln train` and `dln solve` check before anything large is allocated: the
 * data sizes (from the .npy headers, or the synthetic options), the network's shape (from
 * the options, or the headers of the --load files), and the library's memory estimate of
 * the whole run against what this process may use (dln_memory_check), for a batch the
 * largest number of members that fits. Data read from a
 * pipe have no header to look at in advance: they are checked once read. */
#include <stdlib.h>

#include "cli.h"

int cli_data_dims(const cli_opts *o, int *dx, int *dy, int *m, dln_error *err)
{
    *dx = *dy = *m = 0;
    if (!o->x_path) {
        *dx = o->dx, *dy = o->dy, *m = o->samples;
        return DLN_OK;
    }
    int xr, xc, yr, yc;
    DLN_TRY(dln_npy_shape(o->x_path, &xr, &xc, err));
    DLN_TRY(dln_npy_shape(o->y_path, &yr, &yc, err));
    if (xr && yr && xc == yc) *dx = xr, *dy = yr, *m = xc; /* else: unknown, or refused by the loader */
    return DLN_OK;
}

int cli_make_shape(const cli_opts *o, int dx, int dy, dln_shape *s, dln_error *err)
{
    if (o->load_dir) {
        int rc = dln_weights_shape(o->load_dir, dx, dy, s, err);
        if (rc) dln_error_prefix(err, "--load ");
        return rc;
    }
    int *hidden = NULL;
    if (o->depth > 1) {
        hidden = malloc(sizeof(int) * (size_t)(o->depth - 1));
        if (!hidden) return dln_fail(err, DLN_ENOMEM, "out of memory");
        for (int i = 0; i < o->depth - 1; i++) hidden[i] = o->widths_set ? o->widths[i] : o->width;
    }
    int rc = dln_shape_make(o->depth, dx, dy, hidden, o->depth - 1, s, err);
    free(hidden);
    return rc;
}

void cli_put_memory(dln_json *j, const dln_mem_estimate *est)
{
    dln_json_num(j, "memory_estimate", est->resident + est->host);
    dln_json_num(j, "memory_backend", est->backend);
    dln_json_str(j, "memory_phase", est->phase);
}

int cli_check_memory(const cli_opts *o, const dln_shape *s, int dx, int dy, int m, dln_backend *be,
                     dln_mem_estimate *est, dln_error *err)
{
    dln_run_plan p = {dx, dy, m, !o->x_path, o->teacher_rank, o->x_path != NULL, s,
                      o->load_dir ? -1 : (int)o->init, &o->train, (int)o->solver, 0, 0};
    return dln_memory_check(&p, be, est, err);
}

int cli_check_batch_memory(const cli_opts *o, const dln_shape *s, int dx, int dy, int m, long members,
                           dln_backend *be, int *batch, dln_mem_estimate *est, dln_error *err)
{
    /* the buffers of the most demanding member: momentum, and the sharpness rule's */
    dln_train_opts t = o->train;
    t.lr = 1.0, t.momentum = 0.0;
    for (int k = 0; k < o->n_lrs; k++)
        if (o->lrs[k] <= 0 && o->lr_rules[k] == DLN_LR_SHARPNESS) t.lr = 0.0, t.lr_rule = DLN_LR_SHARPNESS;
    if (!o->n_lrs) t.lr = o->train.lr, t.lr_rule = o->train.lr_rule;
    for (int k = 0; k < o->n_moms; k++)
        if (o->moms[k] != 0.0) t.momentum = o->moms[k];
    if (!o->n_moms) t.momentum = o->train.momentum;
    long hi = o->batch_size > 0 && o->batch_size < members ? o->batch_size : members, lo = 0;
    dln_run_plan p = {dx, dy, m, !o->x_path, o->teacher_rank, o->x_path != NULL, s,
                      o->load_dir ? -1 : (int)o->init, &t, (int)o->solver, (int)hi, dln_backend_threads(be)};
    int rc = dln_memory_check(&p, be, est, err);
    if (rc != DLN_EINPUT) {
        *batch = (int)hi;
        return rc;
    }
    /* the largest batch that fits: lo fits (0: none known), hi does not */
    while (hi - lo > 1) {
        p.batch = (int)(lo + (hi - lo) / 2);
        dln_error_clear(err);
        rc = dln_memory_check(&p, be, est, err);
        if (rc && rc != DLN_EINPUT) return rc;
        if (rc) hi = p.batch;
        else lo = p.batch;
    }
    dln_error_clear(err);
    p.batch = lo ? (int)lo : 1;
    rc = dln_memory_check(&p, be, est, err);
    if (rc == DLN_EINPUT && p.batch_threads > 1) { /* not one member beside the threads' buffers: no threads */
        dln_error_clear(err);
        DLN_TRY(dln_backend_set_threads(be, 1));
        return cli_check_batch_memory(o, s, dx, dy, m, members, be, batch, est, err);
    }
    if (rc) dln_error_prefix(err, "one member at a time: ");
    *batch = (int)lo;
    return rc;
}
