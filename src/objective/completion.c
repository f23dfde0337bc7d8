/* completion.c: matrix completion, L(R) = 1/2 sum over the observed entries (i, j, v) of
 * (R_ij - v)^2, R = Z the (rows, cols) product itself (X = I; dln/matrix.h). Its work is the
 * masked square loss of dln/ops.h (kernels/loss_math.h) on loss_state.c's state: the target
 * uploaded holds the observed values at their entries and NaN elsewhere, so that one
 * elementwise pass forms the residual on the observed entries (zero elsewhere) and its
 * value; the Hessian is the mask (0 <= H <= I: the automatic step's curvature bound holds).
 * The dense prediction is formed every step; a sampled product over the observed entries
 * only would pay off where they are a small fraction of a large matrix (not built:
 * docs/maths.md 9). */
#include <math.h>
#include <stdlib.h>

#include "objective/objective.h"

typedef struct {
    void *loss;                /* loss_state.c's state (the masked target) */
    const dln_matrix_data *m;  /* the observations */
} completion_state;

static int completion_check(const dln_objective_params *p, double *param, dln_error *err)
{
    (void)param;
    DLN_TRY(dln_objective_no_param("completion", p, "matrix", err));
    if (!p->matrix || p->matrix->kind != DLN_MATRIX_COMPLETION)
        return dln_fail(err, DLN_EINPUT, "the completion loss needs its observed entries");
    return DLN_OK;
}

static void completion_destroy(dln_backend *be, void *state)
{
    completion_state *s = state;
    if (!s) return;
    dln_loss_state_destroy(be, s->loss);
    free(s);
}

static int completion_create(const dln_objective *o, dln_backend *be, int rows, int n, dln_dtype dtype, int count,
                             void **out)
{
    const dln_matrix_data *m = o->p.matrix;
    if (rows != m->rows || n != m->cols)
        return dln_fail(dln_backend_error(be), DLN_EINPUT, "the completion loss observes a %d x %d matrix, not %d x %d",
                        m->rows, m->cols, rows, n);
    completion_state *s = calloc(1, sizeof *s);
    if (!s) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    s->m = m;
    int rc = dln_loss_state_create(o, be, rows, n, dtype, count, &s->loss);
    if (rc) completion_destroy(be, s);
    else *out = s;
    return rc;
}

static int completion_set_target(void *state, dln_backend *be, const double *Y)
{
    // the target (rows, cols): the observed values at their entries, NaN elsewhere (Y unused)
    completion_state *s = state;
    const dln_matrix_data *m = s->m;
    (void)Y;
    size_t n = (size_t)m->rows * (size_t)m->cols;
    double *T = malloc(sizeof(double) * n);
    if (!T) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    for (size_t e = 0; e < n; e++) T[e] = NAN;
    for (int l = 0; l < m->k; l++) T[m->at[l]] = m->b[l];
    int rc = dln_loss_state_set_target(s->loss, be, T);
    free(T);
    return rc;
}

static int completion_gradient(void *state, dln_backend *be, dln_mat *Z, size_t stride, int lo, int count,
                               dln_mat *out, int index)
{
    completion_state *s = state;
    return dln_loss_state_gradient(s->loss, be, Z, stride, lo, count, out, index);
}

static int completion_hessian(void *state, dln_backend *be, const dln_mat *Z, size_t stride_z, dln_mat *D,
                              size_t stride_d, int lo, int count)
{
    completion_state *s = state;
    return dln_loss_state_hessian(s->loss, be, Z, stride_z, D, stride_d, lo, count);
}

static double completion_zero_loss(const dln_objective *o, const double *Y, int rows, int n)
{
    (void)Y, (void)rows, (void)n;
    return dln_objective_half_sumsq(o->p.matrix->b, o->p.matrix->k, 1, NULL);
}

const dln_objective_ops dln_objective_completion = {
    .name = "completion",
    .flags = DLN_OBJECTIVE_UNIT_CURVATURE | DLN_OBJECTIVE_MATRIX,
    .value_scale = 1.0,
    .loss = DLN_LOSS_MASKED,
    .check = completion_check,
    .state_bytes = dln_loss_state_bytes,
    .state_create = completion_create,
    .state_destroy = completion_destroy,
    .set_target = completion_set_target,
    .gradient = completion_gradient,
    .hessian = completion_hessian,
    .zero_loss = completion_zero_loss,
};
