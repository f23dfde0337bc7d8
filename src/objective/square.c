/* square.c: the square loss L(Z) = 1/2 ||Z - Y||^2 summed over every entry (no 1/n): its
 * gradient is the residual E = Z - Y, formed in place (Z -= Y), and its value the residual's
 * sum of squares times 1/2; its Hessian is the identity. The exact compression applies
 * (docs/maths.md: 1/2 ||R X - Y||^2 = 1/2 ||R C - M||^2 + c0 for every R). The target is
 * shared by every member (stride 0). */
#include <stdlib.h>

#include "objective/objective.h"

typedef struct {
    dln_mat Y; /* (rows, n) */
} square_state;

static double square_bytes(const dln_objective *o, int rows, int n, dln_dtype dtype, int count)
{
    (void)o, (void)count;
    return (double)rows * (double)n * (double)dln_dtype_size(dtype);
}

static void square_destroy(dln_backend *be, void *state)
{
    square_state *s = state;
    if (!s) return;
    dln_mat_free(be, &s->Y);
    free(s);
}

static int square_create(const dln_objective *o, dln_backend *be, int rows, int n, dln_dtype dtype, int count,
                         void **out)
{
    (void)o, (void)count;
    square_state *s = calloc(1, sizeof *s);
    if (!s) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    int rc = dln_mat_alloc(be, &s->Y, rows, n, dtype);
    if (rc) square_destroy(be, s);
    else *out = s;
    return rc;
}

static int square_set_target(void *state, dln_backend *be, const double *Y)
{
    square_state *s = state;
    return dln_upload(be, &s->Y, Y, s->Y.rows);
}

static int square_gradient(void *state, dln_backend *be, dln_mat *Z, size_t stride, int lo, int count,
                           dln_mat *out, int index)
{
    // Z_b (rows, n) := Z_b - Y; out[index + b - lo] = ||Z_b - Y||^2
    square_state *s = state;
    (void)lo;
    DLN_TRY(dln_axpby_batched(be, -1.0, NULL, &s->Y, 0, 1.0, NULL, Z, stride, count));
    return out ? dln_sumsq_batched(be, Z, stride, count, out, index, 0) : DLN_OK;
}

static double square_zero_loss(const dln_objective *o, const double *Y, int rows, int n)
{
    (void)o;
    return dln_objective_half_sumsq(Y, rows, n, NULL);
}

const dln_objective_ops dln_objective_square = {
    .name = "square",
    .flags = DLN_OBJECTIVE_INPUT | DLN_OBJECTIVE_UNIT_CURVATURE | DLN_OBJECTIVE_COMPRESSIBLE,
    .value_scale = 0.5,
    .state_bytes = square_bytes,
    .state_create = square_create,
    .state_destroy = square_destroy,
    .set_target = square_set_target,
    .gradient = square_gradient,
    .hessian = NULL,
    .zero_loss = square_zero_loss,
};
