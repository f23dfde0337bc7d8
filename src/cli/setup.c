/* setup.c: what `dln solve` and `dln train` share: the data (files or synthetic), the
 * backend, and the summary's problem and solver fields. Nothing
 * is printed on stdout until a run has succeeded, and then in one write. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_get_data(const cli_opts *o, dln_data *d, dln_error *err)
{
    if (o->x_path) return dln_data_load(o->x_path, o->y_path, d, err);
    dln_synth_opts s = {o->dx, o->dy, o->samples, o->teacher_rank, o->noise, o->data_seed};
    DLN_TRY(dln_synth_make(&s, d, err));
    return dln_data_validate(d, err);
}

int cli_get_backend(const cli_opts *o, dln_error *err, dln_backend **be, const char **note)
{
    int rc = dln_backend_create(o->backend, err, be, note);
    if (rc) {
        dln_error_prefix(err, "--backend ");
        return rc;
    }
    if (o->math == DLN_MATH_TF32 && !dln_backend_supports(*be, DLN_CAP_TF32)) {
        rc = dln_fail(err, DLN_EINPUT, "--precision tf32 needs the cuda backend (this run is on the %s backend)",
                      dln_backend_name(*be));
        dln_backend_destroy(*be);
        *be = NULL;
        return rc;
    }
    return dln_backend_set_math(*be, o->math);
}

void cli_put_problem(dln_json *j, const cli_opts *o, const dln_data *d, const dln_backend *be)
{
    dln_json_str(j, "backend", dln_backend_name(be));
    dln_json_str(j, "precision", o->precision);
    dln_json_str(j, "data", o->x_path ? "files" : "synthetic");
    dln_json_int(j, "dx", d->dx);
    dln_json_int(j, "dy", d->dy);
    dln_json_int(j, "samples", d->m);
    if (!o->x_path) {
        dln_json_int(j, "teacher_rank", o->teacher_rank);
        dln_json_num(j, "noise", o->noise);
        dln_json_int(j, "data_seed", (long)o->data_seed);
    }
}

void cli_put_shallow(dln_json *j, const dln_shallow *sh)
{
    dln_json_str(j, "solver", dln_solver_route_name(sh->route));
    dln_json_int(j, "rank", sh->k);
    dln_json_num(j, "optimum", sh->optimum);
    cli_put_rank_path(j, sh);
    dln_json_num(j, "lstsq", sh->lstsq);
    dln_json_num(j, "zero_loss", sh->y_half);
    dln_json_int(j, "rank_x", sh->rank_x);
    dln_json_int(j, "rank_y", sh->rank_y);
    dln_json_num(j, "rank_tol_x", sh->tol_x);
    dln_json_num(j, "rank_tol_y", sh->tol_y);
    dln_json_num(j, "cond_x", sh->cond_x);
    dln_json_num(j, "sigma_k", sh->sigma_k);
    dln_json_num(j, "sigma_k1", sh->sigma_k1);
    dln_json_num(j, "sigma_gap", sh->sigma_k - sh->sigma_k1);
    dln_json_bool(j, "constrained", sh->constrained);
    dln_json_bool(j, "hypotheses", sh->hypotheses);
}

int cli_emit(dln_json *j, const cli_opts *o, const char *note, dln_error *err)
{
    dln_json_end_object(j);
    dln_json_newline(j);
    const char *text = dln_json_text(j);
    if (!text) return dln_fail(err, DLN_ENOMEM, "out of memory writing the summary");
    if (note && !o->quiet) fprintf(stderr, "dln: note: %s\n", note);
    if (fputs(text, stdout) == EOF || fflush(stdout) != 0 || ferror(stdout))
        return dln_fail(err, DLN_ERUNTIME, "cannot write the summary to standard output: %s", strerror(errno));
    return DLN_OK;
}
