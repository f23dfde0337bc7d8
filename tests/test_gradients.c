/* test_gradients.c: the forward and backward chains of src/network.c, run through the CPU
 * backend, against central finite differences of the host reference loss dln_host_loss,
 * for depths H = 1, 2, 3, 5 with non-square layers of varying widths (bottlenecks
 * included); the loss slot against 2 * dln_host_loss and the gradient slot against
 * sum_i ||G_i||^2; the chain evaluated on the trial buffers T; and the fp32 network
 * against the fp64 gradient. Fresh random data every run; the seed is in every message. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "network.h"
#include "test_support.h"

typedef struct {
    dln_error err;
    dln_backend *be;
    dln_shape s;
    dln_data d;
    double **W;
    uint64_t seed;
} grad_case;

static void case_make(grad_case *c, int depth, const int *dims, int m)
{
    c->seed = ts_seed();
    dln_rng g;
    dln_rng_seed(&g, c->seed, 7);
    c->be = ts_cpu(&c->err);
    ts_shape(&c->s, depth, dims);
    c->d = ts_data(dims[0], dims[depth], m, ts_randn(&g, dims[0], m), ts_randn(&g, dims[depth], m));
    c->W = ts_rand_weights(&g, &c->s, 1.0);
}

static void case_free(grad_case *c)
{
    dln_weights_free(c->s.depth, c->W);
    dln_data_free(&c->d);
    dln_shape_free(&c->s);
    dln_backend_destroy(c->be);
}

/* Runs forward + backward on a fresh net of dtype; returns the gradients (host fp64) and
 * the two slots. use_trial: load the weights into T and run the chains on T. */
static double **net_gradient(grad_case *c, dln_dtype dtype, int use_trial, double slots[2])
{
    dln_net net;
    cr_assert_eq(dln_net_create(c->be, &c->s, c->d.m, dtype, 0, use_trial, &net), DLN_OK, "%s", c->err.msg);
    cr_assert_eq(dln_net_set_data(&net, c->d.X, c->d.Y), DLN_OK);
    if (use_trial) {
        for (int i = 0; i < c->s.depth; i++)
            cr_assert_eq(c->be->ops->upload(c->be, &net.T[i], c->W[i], c->s.dims[i + 1]), DLN_OK);
    } else {
        cr_assert_eq(dln_net_set_weights(&net, c->W), DLN_OK);
    }
    dln_mat *W = use_trial ? net.T : net.W;
    cr_assert_eq(dln_net_forward(&net, W, 0), DLN_OK, "%s", c->err.msg);
    cr_assert_eq(dln_net_backward(&net, W, 1), DLN_OK, "%s", c->err.msg);
    cr_assert_eq(c->be->ops->read_slots(c->be, slots, 2), DLN_OK);
    double **G = ts_copy_weights(&c->s, c->W);
    for (int i = 0; i < c->s.depth; i++)
        cr_assert_eq(c->be->ops->download(c->be, &net.G[i], G[i], c->s.dims[i + 1]), DLN_OK);
    dln_net_destroy(&net);
    return G;
}

/* Central differences of dln_host_loss, one weight at a time. L is a quadratic function
 * of any single entry (the product is linear in each W_i), so the central difference has
 * no truncation error at all: only rounding, about eps * L / h relative to an entry. */
static double **fd_gradient(grad_case *c, double h)
{
    double **G = ts_copy_weights(&c->s, c->W);
    for (int i = 0; i < c->s.depth; i++)
        for (size_t e = 0; e < (size_t)c->s.dims[i + 1] * c->s.dims[i]; e++) {
            double w = c->W[i][e];
            c->W[i][e] = w + h;
            double lp = dln_host_loss(&c->s, c->W, &c->d);
            c->W[i][e] = w - h;
            double lm = dln_host_loss(&c->s, c->W, &c->d);
            c->W[i][e] = w;
            G[i][e] = (lp - lm) / (2.0 * h);
        }
    return G;
}

static void check_fp64(int depth, const int *dims, int m, int use_trial)
{
    grad_case c;
    case_make(&c, depth, dims, m);
    double slots[2];
    double **G = net_gradient(&c, DLN_F64, use_trial, slots);
    /* h = 1e-3 against O(1) weights: the rounding error eps * L / h is ~1e-11 of the
     * gradient, so 1e-6 leaves a wide margin while any wrong term is an O(1) error. */
    double **F = fd_gradient(&c, 1e-3);
    double L = dln_host_loss(&c.s, c.W, &c.d), gsq = 0.0;
    for (int i = 0; i < depth; i++) {
        size_t n = (size_t)dims[i + 1] * dims[i];
        double e = ts_rel_mat(G[i], F[i], n);
        cr_expect_lt(e, 1e-6, "H=%d layer %d: backward vs finite differences rel err %.3e (seed %llu)", depth,
                     i + 1, e, (unsigned long long)c.seed);
        gsq += ts_sumsq(G[i], n);
    }
    /* The loss slot holds ||E||^2 = 2 L; the same sums in a different order differ by a
     * few ulps, hence 1e-12. */
    cr_expect_lt(ts_rel(slots[0], 2.0 * L), 1e-12, "H=%d: loss slot %.17g vs 2 L %.17g (seed %llu)", depth,
                 slots[0], 2.0 * L, (unsigned long long)c.seed);
    cr_expect_lt(ts_rel(slots[1], gsq), 1e-12, "H=%d: gradient slot %.17g vs sum ||G||^2 %.17g (seed %llu)", depth,
                 slots[1], gsq, (unsigned long long)c.seed);
    dln_weights_free(depth, G);
    dln_weights_free(depth, F);
    case_free(&c);
}

Test(gradients, depth1_fp64)
{
    int dims[] = {7, 4};
    check_fp64(1, dims, 9, 0);
}

Test(gradients, depth2_bottleneck_fp64)
{
    int dims[] = {5, 2, 6};
    check_fp64(2, dims, 8, 0);
}

Test(gradients, depth3_fp64_width1_fewer_samples_than_inputs)
{
    int dims[] = {6, 9, 1, 4};
    check_fp64(3, dims, 5, 0);
}

Test(gradients, depth5_fp64)
{
    int dims[] = {7, 5, 3, 6, 4, 9};
    check_fp64(5, dims, 11, 0);
}

Test(gradients, depth3_on_trial_buffers)
{
    /* the chains take the weight set as an argument: the line search runs them on T */
    int dims[] = {4, 6, 2, 5};
    check_fp64(3, dims, 7, 1);
}

Test(gradients, forward_residual_is_product_minus_target)
{
    /* A[H] after forward is W_H...W_1 X - Y itself, checked entry-wise against CBLAS */
    int dims[] = {5, 3, 4};
    grad_case c;
    case_make(&c, 2, dims, 6);
    dln_net net;
    cr_assert_eq(dln_net_create(c.be, &c.s, 6, DLN_F64, 0, 0, &net), DLN_OK);
    cr_assert_eq(dln_net_set_data(&net, c.d.X, c.d.Y), DLN_OK);
    cr_assert_eq(dln_net_set_weights(&net, c.W), DLN_OK);
    cr_assert_eq(dln_net_forward(&net, net.W, 3), DLN_OK);
    double E[4 * 6];
    cr_assert_eq(c.be->ops->download(c.be, &net.A[2], E, 4), DLN_OK);
    double *A1 = ts_mul(0, 0, 3, 6, 5, c.W[0], c.d.X), *R = ts_mul(0, 0, 4, 6, 3, c.W[1], A1);
    for (int e = 0; e < 24; e++) R[e] -= c.d.Y[e];
    /* one GEMM chain in a different blocking: rounding only */
    cr_expect_lt(ts_rel_mat(E, R, 24), 1e-13, "residual (seed %llu)", (unsigned long long)c.seed);
    double slots[4];
    cr_assert_eq(c.be->ops->read_slots(c.be, slots, 4), DLN_OK);
    cr_expect_lt(ts_rel(slots[3], ts_sumsq(R, 24)), 1e-12, "slot 3 vs ||E||^2 (seed %llu)",
                 (unsigned long long)c.seed);
    free(A1), free(R);
    dln_net_destroy(&net);
    case_free(&c);
}

/* fp32: the same chains in single precision against the fp64 gradient. */
static void check_fp32(int depth, const int *dims, int m)
{
    grad_case c;
    case_make(&c, depth, dims, m);
    double s64[2], s32[2];
    double **G64 = net_gradient(&c, DLN_F64, 0, s64);
    double **G32 = net_gradient(&c, DLN_F32, 0, s32);
    /* fp32 rounding (eps 6e-8) of the data, the weights and ~2H products of inner size
     * <= 11, with the residual E = RX - Y of the size of Y (no cancellation to speak of):
     * errors ~1e-6 expected, so 1e-4; a wrong term or transpose is O(1). */
    for (int i = 0; i < depth; i++) {
        double e = ts_rel_mat(G32[i], G64[i], (size_t)dims[i + 1] * dims[i]);
        cr_expect_lt(e, 1e-4, "H=%d layer %d: fp32 vs fp64 gradient rel err %.3e (seed %llu)", depth, i + 1, e,
                     (unsigned long long)c.seed);
        cr_expect_gt(e, 0.0, "fp32 gradient identical to fp64: was it computed in fp64? (seed %llu)",
                     (unsigned long long)c.seed);
    }
    cr_expect_lt(ts_rel(s32[0], s64[0]), 1e-4, "H=%d: fp32 loss slot %.9g vs fp64 %.17g (seed %llu)", depth,
                 s32[0], s64[0], (unsigned long long)c.seed);
    cr_expect_lt(ts_rel(s32[1], s64[1]), 1e-4, "H=%d: fp32 gradient slot (seed %llu)", depth,
                 (unsigned long long)c.seed);
    dln_weights_free(depth, G64);
    dln_weights_free(depth, G32);
    case_free(&c);
}

Test(gradients, fp32_depths_1_2_3_5)
{
    int d1[] = {7, 4}, d2[] = {5, 2, 6}, d3[] = {6, 9, 3, 4}, d5[] = {7, 5, 3, 6, 4, 9};
    check_fp32(1, d1, 9);
    check_fp32(2, d2, 8);
    check_fp32(3, d3, 5);
    check_fp32(5, d5, 11);
}
