/* matrix.c: the experiment's side of matrix completion and sensing (dln/matrix.h): the
 * nuclear-norm baseline solved beside the shallow reference (where cheap, or asked), each
 * member's final product measured (test error, effective rank, nuclear norm), and the
 * summary fields of both. */
#include <math.h>
#include <stdlib.h>

#include "run/experiment_internal.h"

#define CHEAP_BASELINE 65536 /* entries of the matrix: the ADMM's SVDs are O(rows cols min(rows, cols)) each */

int dln_exp_nuclear_baseline(dln_experiment *e)
{
    const dln_matrix_data *m = &e->mx;
    int want = e->o.nuclear >= 0 ? e->o.nuclear : (double)m->rows * m->cols <= CHEAP_BASELINE;
    if (!e->o.matrix || !want) return DLN_OK;
    double *R = malloc(sizeof(double) * (size_t)m->rows * m->cols);
    if (!R) return dln_fail(e->err, DLN_ENOMEM, "out of host memory");
    int rc = dln_nuclear_min(e->be, m, DLN_NUCLEAR_TOL, DLN_NUCLEAR_MAX_ITER, R, &e->nn, e->err);
    if (rc == DLN_EINPUT && e->o.nuclear < 0) { /* not defined for these data (more measurements than entries) */
        dln_exp_note(e, "no nuclear-norm baseline: %s", e->err->msg);
        dln_error_clear(e->err);
        free(R);
        return DLN_OK;
    }
    dln_matrix_metrics mm;
    if (!rc) rc = dln_matrix_measure(m, R, &mm, NULL, e->err);
    free(R);
    DLN_TRY(rc);
    e->nuclear_solved = 1;
    e->nn_test_error = mm.test_error, e->nn_effective_rank = mm.effective_rank;
    if (!e->nn.converged)
        dln_exp_note(e, "the nuclear-norm baseline stopped after %d iterations at relative residuals %.3g (primal), "
                     "%.3g (dual), tolerance %g", e->nn.iterations, e->nn.primal, e->nn.dual, DLN_NUCLEAR_TOL);
    return DLN_OK;
}

int dln_exp_measure_member(dln_experiment *e, long b, double *const *W)
{
    if (!e->o.matrix) return DLN_OK;
    if (!e->mxm && !(e->mxm = calloc((size_t)e->members, sizeof *e->mxm)))
        return dln_fail(e->err, DLN_ENOMEM, "out of host memory");
    if (e->res[b].diverged) {
        e->mxm[b] = (dln_matrix_metrics){NAN, NAN, NAN, NAN};
        return DLN_OK;
    }
    double *R = malloc(sizeof(double) * (size_t)e->mx.rows * e->mx.cols);
    if (!R) return dln_fail(e->err, DLN_ENOMEM, "out of host memory");
    int rc = dln_weights_product(&e->s, W, R, e->err);
    if (!rc) rc = dln_matrix_measure(&e->mx, R, &e->mxm[b], NULL, e->err);
    free(R);
    return rc;
}

void dln_exp_put_matrix_problem(dln_json *j, const dln_experiment *e)
{
    const dln_experiment_opts *o = &e->o;
    const dln_matrix_data *m = &e->mx;
    dln_json_str(j, "problem", m->kind == DLN_MATRIX_COMPLETION ? "completion" : "sensing");
    dln_json_int(j, "rows", m->rows);
    dln_json_int(j, "cols", m->cols);
    dln_json_int(j, "observed", m->k);
    dln_json_int(j, "test_entries", m->n_test);
    if (m->target) {
        dln_json_int(j, "target_rank", o->matrix_synth.target_rank);
        dln_json_num(j, "noise", o->matrix_synth.noise);
        dln_json_int(j, "data_seed", (long)o->matrix_synth.seed);
    }
}

void dln_exp_put_matrix_baseline(dln_json *j, const dln_experiment *e)
{
    if (!e->nuclear_solved) return;
    dln_json_num(j, "nuclear_min_value", e->nn.value);
    dln_json_num(j, "nuclear_min_test_error", e->nn_test_error);
    dln_json_num(j, "nuclear_min_effective_rank", e->nn_effective_rank);
    dln_json_num(j, "nuclear_min_residual", e->nn.residual);
    dln_json_int(j, "nuclear_min_iterations", e->nn.iterations);
    dln_json_bool(j, "nuclear_min_converged", e->nn.converged);
    dln_json_num(j, "nuclear_min_seconds", e->nn.seconds);
}

void dln_exp_put_matrix_member(dln_json *j, const dln_experiment *e, long b)
{
    if (!e->mxm) return;
    const dln_matrix_metrics *mm = &e->mxm[b];
    dln_json_num(j, "test_error", mm->test_error);
    dln_json_num(j, "effective_rank", mm->effective_rank);
    dln_json_num(j, "nuclear_norm", mm->nuclear_norm);
    dln_json_num(j, "train_rmse", mm->train_rmse);
}
