/* solve.c: `dln solve`: the shallow optimum L* in closed form, printed as one JSON line,
 * after the memory check of plan.c. */
#include <string.h>

#include "cli.h"

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
    memset(&d, 0, sizeof d);
    dln_backend *be = NULL;
    const char *note = NULL;
    dln_shallow sh;
    dln_json j;
    dln_json_init(&j);
    double t0 = dln_clock_seconds();
    int rc = cli_get_backend(o, err, &be, &note), dx, dy, m;
    /* the memory check before the data are read when the headers give their sizes, else after */
    if (!rc) rc = cli_data_dims(o, &dx, &dy, &m, err);
    dln_mem_estimate est;
    if (!rc && m) rc = cli_check_memory(o, NULL, dx, dy, m, be, &est, err);
    if (!rc) rc = cli_get_data(o, &d, err);
    if (!rc && !m) rc = cli_check_memory(o, NULL, d.dx, d.dy, d.m, be, &est, err);
    if (!rc) rc = cli_dyn_check_outputs(o, err);
    dln_shallow_opts so = {k, o->rank_tol, o->dyn.solution_dir != NULL, o->solver, 0};
    if (!rc) rc = dln_shallow_solve_opts(be, &d, &so, &sh, err);
    if (!rc) {
        double sec = dln_clock_seconds() - t0;
        dln_json_object(&j, NULL);
        dln_json_str(&j, "command", "solve");
        cli_put_problem(&j, o, &d, be);
        cli_put_shallow(&j, &sh);
        cli_put_memory(&j, &est);
        dln_json_num(&j, "seconds", sec);
        cli_note_hypotheses(o, &sh);
        rc = cli_emit(&j, o, note, err);
        if (!rc) rc = cli_save_solution(o, &sh, err);
        if (!rc) rc = cli_save_data(o, &d, err);
        dln_shallow_free(&sh);
    }
    dln_json_free(&j);
    dln_backend_destroy(be);
    dln_data_free(&d);
    return rc;
}
