/* sensing.c: matrix sensing, L(R) = 1/2 sum_l (<A_l, R> - b_l)^2, R = Z the (rows, cols)
 * product itself (X = I; dln/matrix.h). With the measurement matrices stacked as the rows
 * of A (k, rows cols) (each the column-major vec of A_l) and every member's prediction one
 * contiguous column vec(Z_b), the work is two GEMMs for all the members at once: the
 * residuals r_b = A vec(Z_b) - b (k) and the gradient vec(Z_b) := A^T r_b; the value is
 * ||r_b||^2 (times 1/2). The Hessian's action is D_b := A^T A D_b (it does not depend on Z).
 * A is held once on the backend, shared by every member (stride 0); the residuals take a
 * (k, count) scratch, member b's in column b (so that the threads running different members
 * of one network never share a column). */
#include <stdlib.h>

#include "objective/objective.h"

typedef struct {
    dln_mat A;     /* (k, rows cols) */
    dln_mat b;     /* (k, 1) */
    dln_mat r;     /* (k, count) residual scratch: member b in column b */
    const dln_matrix_data *m;
} sensing_state;

static int sensing_check(const dln_objective_params *p, double *param, dln_error *err)
{
    (void)param;
    DLN_TRY(dln_objective_no_param("sensing", p, "matrix", err));
    if (!p->matrix || p->matrix->kind != DLN_MATRIX_SENSING)
        return dln_fail(err, DLN_EINPUT, "the sensing loss needs its measurements");
    return DLN_OK;
}

static double sensing_bytes(const dln_objective *o, int rows, int n, dln_dtype dtype, int count)
{
    double k = o->p.matrix->k;
    return k * ((double)rows * n + 1.0 + count) * (double)dln_dtype_size(dtype);
}

static void sensing_destroy(dln_backend *be, void *state)
{
    sensing_state *s = state;
    if (!s) return;
    dln_mat_free(be, &s->A), dln_mat_free(be, &s->b), dln_mat_free(be, &s->r);
    free(s);
}

static int sensing_create(const dln_objective *o, dln_backend *be, int rows, int n, dln_dtype dtype, int count,
                          void **out)
{
    const dln_matrix_data *m = o->p.matrix;
    if (rows != m->rows || n != m->cols)
        return dln_fail(dln_backend_error(be), DLN_EINPUT, "the sensing loss measures a %d x %d matrix, not %d x %d",
                        m->rows, m->cols, rows, n);
    sensing_state *s = calloc(1, sizeof *s);
    if (!s) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    s->m = m;
    int rc = dln_mat_alloc(be, &s->A, m->k, rows * n, dtype);
    if (!rc) rc = dln_mat_alloc(be, &s->b, m->k, 1, dtype);
    if (!rc) rc = dln_mat_alloc(be, &s->r, m->k, count, dtype);
    if (rc) sensing_destroy(be, s);
    else *out = s;
    return rc;
}

static int sensing_set_target(void *state, dln_backend *be, const double *Y)
{
    // A (k, rows cols) and b (k) from the measurements (Y unused)
    sensing_state *s = state;
    (void)Y;
    DLN_TRY(dln_upload(be, &s->A, s->m->A, s->m->k));
    return dln_upload(be, &s->b, s->m->b, s->m->k);
}

/* Member lo's prediction (rows, cols), contiguous (ld = rows), as the column vec(Z) (rows
 * cols, 1): the members then lie `stride` apart as columns. */
static int as_vec(dln_backend *be, const dln_mat *Z, dln_mat *v)
{
    if (Z->ld != Z->rows)
        return dln_fail(dln_backend_error(be), DLN_ERUNTIME, "sensing: a prediction with ld %d != rows %d", Z->ld,
                        Z->rows);
    *v = (dln_mat){Z->rows * Z->cols, 1, Z->rows * Z->cols, Z->dtype, Z->data};
    return DLN_OK;
}

static int sensing_gradient(void *state, dln_backend *be, dln_mat *Z, size_t stride, int lo, int count,
                            dln_mat *out, int index)
{
    // r_b (k) = A vec(Z_b) - b; out[index + b - lo] = ||r_b||^2; vec(Z_b) := A^T r_b
    sensing_state *s = state;
    dln_mat z, r = dln_mat_view(&s->r, 0, lo, s->m->k, 1); /* member b's column b: threads share nothing */
    size_t sr = (size_t)s->r.ld;
    DLN_TRY(as_vec(be, Z, &z));
    DLN_TRY(dln_gemm_batched(be, 0, 0, 1.0, &s->A, 0, &z, stride, 0.0, &r, sr, count));
    DLN_TRY(dln_axpby_batched(be, -1.0, NULL, &s->b, 0, 1.0, NULL, &r, sr, count));
    if (out) DLN_TRY(dln_sumsq_batched(be, &r, sr, count, out, index, 0));
    return dln_gemm_batched(be, 1, 0, 1.0, &s->A, 0, &r, sr, 0.0, &z, stride, count);
}

static int sensing_hessian(void *state, dln_backend *be, const dln_mat *Z, size_t stride_z, dln_mat *D,
                           size_t stride_d, int lo, int count)
{
    // t_b (k) = A vec(D_b); vec(D_b) := A^T t_b
    sensing_state *s = state;
    dln_mat d, t = dln_mat_view(&s->r, 0, lo, s->m->k, 1);
    size_t st = (size_t)s->r.ld;
    (void)Z, (void)stride_z;
    DLN_TRY(as_vec(be, D, &d));
    DLN_TRY(dln_gemm_batched(be, 0, 0, 1.0, &s->A, 0, &d, stride_d, 0.0, &t, st, count));
    return dln_gemm_batched(be, 1, 0, 1.0, &s->A, 0, &t, st, 0.0, &d, stride_d, count);
}

static double sensing_zero_loss(const dln_objective *o, const double *Y, int rows, int n)
{
    (void)Y, (void)rows, (void)n;
    return dln_objective_half_sumsq(o->p.matrix->b, o->p.matrix->k, 1, NULL);
}

const dln_objective_ops dln_objective_sensing = {
    .name = "sensing",
    .flags = DLN_OBJECTIVE_MATRIX,
    .value_scale = 0.5,
    .check = sensing_check,
    .state_bytes = sensing_bytes,
    .state_create = sensing_create,
    .state_destroy = sensing_destroy,
    .set_target = sensing_set_target,
    .gradient = sensing_gradient,
    .hessian = sensing_hessian,
    .zero_loss = sensing_zero_loss,
};
