/* weighted_square.c: the row-weighted square loss L(Z) = 1/2 sum_i w_i ||Z_i - Y_i||^2 (rows
 * i of the prediction and the target, weights w_i > 0 given as parameters): each output
 * counted with its own weight. Its gradient is D (Z - Y) with D = diag(w), its value
 * ||D^(1/2) (Z - Y)||^2 / 2, its Hessian's action D applied to the direction; all as GEMMs
 * with the diagonal matrices D^(1/2) and D (shared by the members, stride 0) and a scratch
 * per member, so it runs on every backend through the batched operations alone. (For
 * positive weights its shallow optimum is the square loss's on (X, D^(1/2) Y): a reference a
 * test can compute; it is not claimed here, and the compression is not used.) */
#include <math.h>
#include <stdlib.h>

#include "objective/objective.h"

typedef struct {
    dln_mat Y;     /* (rows, n), shared */
    dln_mat half;  /* D^(1/2) (rows, rows) */
    dln_mat full;  /* D */
    dln_mat S;     /* scratch (rows, n x count): member b at b x stride */
    size_t stride;
} weighted_state;

static int weighted_check(const dln_objective_params *p, double *param, dln_error *err)
{
    (void)param;
    DLN_TRY(dln_objective_no_param("weighted_square", p, "weights", err));
    if (!p->weights || p->n_weights < 1) return dln_fail(err, DLN_EINPUT, "the weighted square loss needs its row weights");
    for (int i = 0; i < p->n_weights; i++)
        if (!(p->weights[i] > 0) || !isfinite(p->weights[i]))
            return dln_fail(err, DLN_EINPUT, "row weight %d is %g: the weights must be positive and finite", i,
                            p->weights[i]);
    return DLN_OK;
}

static double weighted_bytes(const dln_objective *o, int rows, int n, dln_dtype dtype, int count)
{
    (void)o;
    return ((double)rows * n * (1.0 + count) + 2.0 * rows * rows) * (double)dln_dtype_size(dtype);
}

static void weighted_destroy(dln_backend *be, void *state)
{
    weighted_state *s = state;
    if (!s) return;
    dln_mat *m[] = {&s->Y, &s->half, &s->full, &s->S};
    for (int i = 0; i < 4; i++) dln_mat_free(be, m[i]);
    free(s);
}

static int weighted_create(const dln_objective *o, dln_backend *be, int rows, int n, dln_dtype dtype, int count,
                           void **out)
{
    if (o->p.n_weights != rows)
        return dln_fail(dln_backend_error(be), DLN_EINPUT, "the weighted square loss has %d row weights for %d outputs",
                        o->p.n_weights, rows);
    weighted_state *s = calloc(1, sizeof *s);
    double *diag = calloc((size_t)rows * (size_t)rows, sizeof(double));
    int rc = !s || !diag ? dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory") : DLN_OK;
    if (!rc) rc = dln_mat_alloc(be, &s->Y, rows, n, dtype);
    if (!rc) rc = dln_mat_alloc(be, &s->half, rows, rows, dtype);
    if (!rc) rc = dln_mat_alloc(be, &s->full, rows, rows, dtype);
    if (!rc) rc = dln_mat_alloc(be, &s->S, rows, n * count, dtype);
    for (int i = 0; !rc && i < rows; i++) diag[i + (size_t)i * rows] = sqrt(o->p.weights[i]);
    if (!rc) rc = dln_upload(be, &s->half, diag, rows);
    for (int i = 0; !rc && i < rows; i++) diag[i + (size_t)i * rows] = o->p.weights[i];
    if (!rc) rc = dln_upload(be, &s->full, diag, rows);
    free(diag);
    if (rc) {
        weighted_destroy(be, s);
        return rc;
    }
    s->stride = (size_t)s->S.ld * (size_t)n;
    *out = s;
    return DLN_OK;
}

static int weighted_set_target(void *state, dln_backend *be, const double *Y)
{
    weighted_state *s = state;
    return dln_upload(be, &s->Y, Y, s->Y.rows);
}

/* Members lo .. of the scratch, as a batched operand starting at member lo. */
static dln_mat scratch(const weighted_state *s, int lo)
{
    return dln_mat_view(&s->S, 0, lo * s->Y.cols, s->Y.rows, s->Y.cols);
}

static int weighted_gradient(void *state, dln_backend *be, dln_mat *Z, size_t stride, int lo, int count,
                             dln_mat *out, int index)
{
    // E_b = Z_b - Y; S_b = D^(1/2) E_b, out = ||S_b||^2; Z_b := D E_b = D^(1/2) S_b
    weighted_state *s = state;
    dln_mat S = scratch(s, lo);
    DLN_TRY(dln_axpby_batched(be, -1.0, NULL, &s->Y, 0, 1.0, NULL, Z, stride, count));
    DLN_TRY(dln_gemm_batched(be, 0, 0, 1.0, &s->half, 0, Z, stride, 0.0, &S, s->stride, count));
    if (out) DLN_TRY(dln_sumsq_batched(be, &S, s->stride, count, out, index, 0));
    return dln_gemm_batched(be, 0, 0, 1.0, &s->half, 0, &S, s->stride, 0.0, Z, stride, count);
}

static int weighted_hessian(void *state, dln_backend *be, const dln_mat *Z, size_t stride_z, dln_mat *D,
                            size_t stride_d, int lo, int count)
{
    // D_b := diag(w) D_b (the Hessian does not depend on Z)
    weighted_state *s = state;
    (void)Z, (void)stride_z;
    dln_mat S = scratch(s, lo);
    DLN_TRY(dln_gemm_batched(be, 0, 0, 1.0, &s->full, 0, D, stride_d, 0.0, &S, s->stride, count));
    return dln_axpby_batched(be, 1.0, NULL, &S, s->stride, 0.0, NULL, D, stride_d, count);
}

static double weighted_zero_loss(const dln_objective *o, const double *Y, int rows, int n)
{
    return dln_objective_half_sumsq(Y, rows, n, o->p.weights);
}

const dln_objective_ops dln_objective_weighted_square = {
    .name = "weighted_square",
    .flags = DLN_OBJECTIVE_INPUT,
    .value_scale = 0.5,
    .check = weighted_check,
    .state_bytes = weighted_bytes,
    .state_create = weighted_create,
    .state_destroy = weighted_destroy,
    .set_target = weighted_set_target,
    .gradient = weighted_gradient,
    .hessian = weighted_hessian,
    .zero_loss = weighted_zero_loss,
};
