/* plan.c: what `dln train` and `dln solve` check before anything large is allocated: the
 * data sizes (from the .npy headers, or the synthetic options), the network's shape (from
 * the options, or the headers of the --load files), and the library's memory estimate of
 * the whole run against what this process may use (dln_memory_check). Data read from a
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
                      o->load_dir ? -1 : (int)o->init, &o->train, (int)o->solver};
    return dln_memory_check(&p, be, est, err);
}
