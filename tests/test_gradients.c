/* test_gradients.c: the forward and backward chains of a network (dln/network.h), on
 * every backend, against central finite differences of the host reference loss
 * (src/oracle), for depths H = 1, 2, 3, 5 with non-square layers of varying widths
 * (bottlenecks included); the loss and the gradient's squared norm against the host; the
 * chains run on the trial buffers of a line search; the residual itself entry-wise; and
 * the fp32 network against the fp64 gradient. Fresh random data every run; the seed is
 * in every message. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>

#include "test_support.h"

typedef struct {
    dln_error err;
    dln_backend *be;
    dln_shape s;
    dln_data d;
    double **W;
    uint64_t seed;
} grad_case;

static void case_make(grad_case *c, dln_backend_kind kind, int depth, const int *dims, int m)
{
    c->be = ts_backend(kind, &c->err);
    c->seed = ts_seed();
    dln_rng g;
    dln_rng_seed(&g, c->seed, 7);
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

#define NET_OK(c, call) cr_assert_eq((call), DLN_OK, "%s: %s (seed %llu)", #call, (c)->err.msg, \
                                     (unsigned long long)(c)->seed)

/* Forward + backward on a fresh network of dtype at c->W; returns the gradients (host
 * fp64) and the squared norms. With trial_lr > 0 the chains run on the trial buffers
 * instead: evaluate at c->W, try W - trial_lr G, accept; c->W then becomes the trial
 * weights (as the host computes them from the downloaded G). */
static double **net_gradient(grad_case *c, dln_dtype dtype, double trial_lr, dln_network_stats *st)
{
    dln_network *net = NULL;
    dln_network_config nc = {.n = c->d.m, .dtype = dtype, .buffers = trial_lr > 0 ? DLN_NET_TRIAL : 0};
    NET_OK(c, dln_network_create(c->be, &c->s, &nc, &net));
    NET_OK(c, dln_network_set_data(net, c->d.X, c->d.Y));
    NET_OK(c, dln_network_set_weights(net, 0, c->W));
    NET_OK(c, dln_network_evaluate(net));
    double **G = ts_copy_weights(&c->s, c->W);
    if (trial_lr > 0) {
        double trial;
        NET_OK(c, dln_network_get_gradients(net, 0, G));
        NET_OK(c, dln_network_try(net, trial_lr, &trial));
        NET_OK(c, dln_network_accept(net));
        NET_OK(c, dln_network_get_weights(net, 0, c->W)); /* W - lr G as the backend computed it */
    }
    NET_OK(c, dln_network_read(net, st));
    NET_OK(c, dln_network_get_gradients(net, 0, G));
    dln_network_destroy(net);
    return G;
}

/* Central differences of the host loss, one weight at a time. L is a quadratic function
 * of any single entry (the product is linear in each W_i), so the central difference has
 * no truncation error at all: only rounding, about eps * L / h relative to an entry. */
static double **fd_gradient(grad_case *c, double h)
{
    double **G = ts_copy_weights(&c->s, c->W);
    for (int i = 0; i < c->s.depth; i++)
        for (size_t e = 0; e < (size_t)c->s.dims[i + 1] * c->s.dims[i]; e++) {
            double w = c->W[i][e];
            c->W[i][e] = w + h;
            double lp = ref_loss(&c->s, c->W, &c->d);
            c->W[i][e] = w - h;
            double lm = ref_loss(&c->s, c->W, &c->d);
            c->W[i][e] = w;
            G[i][e] = (lp - lm) / (2.0 * h);
        }
    return G;
}

static void check_fp64(dln_backend_kind kind, int depth, const int *dims, int m, double trial_lr)
{
    grad_case c;
    case_make(&c, kind, depth, dims, m);
    dln_network_stats st;
    double **G = net_gradient(&c, DLN_F64, trial_lr, &st);
    /* h = 1e-3 against O(1) weights: the rounding error eps * L / h is ~1e-11 of the
     * gradient, so 1e-6 leaves a wide margin while any wrong term is an O(1) error. */
    double **F = fd_gradient(&c, 1e-3);
    double L = ref_loss(&c.s, c.W, &c.d), gsq = 0.0;
    for (int i = 0; i < depth; i++) {
        size_t n = (size_t)dims[i + 1] * dims[i];
        double e = ts_rel_mat(G[i], F[i], n);
        cr_expect_lt(e, 1e-6, "%s H=%d layer %d: backward vs finite differences rel err %.3e (seed %llu)",
                     ts_backend_label(kind), depth, i + 1, e, (unsigned long long)c.seed);
        gsq += ts_sumsq(G[i], n);
    }
    /* the network's loss is 1/2 ||E||^2; the same sums in a different order differ by a few ulps: 1e-12 */
    cr_expect_lt(ts_rel(st.loss, L), 1e-12, "%s H=%d: loss %.17g vs host L %.17g (seed %llu)",
                 ts_backend_label(kind), depth, st.loss, L, (unsigned long long)c.seed);
    cr_expect_lt(ts_rel(st.grad_sumsq, gsq), 1e-12, "%s H=%d: gradient %.17g vs sum ||G||^2 %.17g (seed %llu)",
                 ts_backend_label(kind), depth, st.grad_sumsq, gsq, (unsigned long long)c.seed);
    dln_weights_free(depth, G);
    dln_weights_free(depth, F);
    case_free(&c);
}

TestOnBackends(gradients, depth1_fp64)
{
    int dims[] = {7, 4};
    check_fp64(TS_KIND, 1, dims, 9, 0.0);
}

TestOnBackends(gradients, depth2_bottleneck_fp64)
{
    int dims[] = {5, 2, 6};
    check_fp64(TS_KIND, 2, dims, 8, 0.0);
}

TestOnBackends(gradients, depth3_fp64_width1_fewer_samples_than_inputs)
{
    int dims[] = {6, 9, 1, 4};
    check_fp64(TS_KIND, 3, dims, 5, 0.0);
}

TestOnBackends(gradients, depth5_fp64)
{
    int dims[] = {7, 5, 3, 6, 4, 9};
    check_fp64(TS_KIND, 5, dims, 11, 0.0);
}

TestOnBackends(gradients, depth3_on_trial_buffers)
{
    /* the line search's path: forward on the trial weights, accept, backward there */
    int dims[] = {4, 6, 2, 5};
    check_fp64(TS_KIND, 3, dims, 7, 1e-3);
}

TestOnBackends(gradients, residual_is_product_minus_target)
{
    /* the residual after an evaluation is W_H...W_1 X - Y itself, entry-wise against CBLAS */
    int dims[] = {5, 3, 4};
    grad_case c;
    case_make(&c, TS_KIND, 2, dims, 6);
    dln_network *net = NULL;
    dln_network_config nc = {.n = 6, .dtype = DLN_F64};
    NET_OK(&c, dln_network_create(c.be, &c.s, &nc, &net));
    NET_OK(&c, dln_network_set_data(net, c.d.X, c.d.Y));
    NET_OK(&c, dln_network_set_weights(net, 0, c.W));
    NET_OK(&c, dln_network_evaluate(net));
    double E[4 * 6];
    dln_network_stats st;
    NET_OK(&c, dln_network_get_output_gradient(net, 0, E));
    NET_OK(&c, dln_network_read(net, &st));
    double *A1 = ts_mul(0, 0, 3, 6, 5, c.W[0], c.d.X), *R = ts_mul(0, 0, 4, 6, 3, c.W[1], A1);
    for (int e = 0; e < 24; e++) R[e] -= c.d.Y[e];
    /* one GEMM chain in a different blocking: rounding only */
    cr_expect_lt(ts_rel_mat(E, R, 24), 1e-13, "%s: residual (seed %llu)", ts_backend_label(TS_KIND),
                 (unsigned long long)c.seed);
    cr_expect_lt(ts_rel(2.0 * st.loss, ts_sumsq(R, 24)), 1e-12, "%s: ||E||^2 (seed %llu)",
                 ts_backend_label(TS_KIND), (unsigned long long)c.seed);
    free(A1), free(R);
    dln_network_destroy(net);
    case_free(&c);
}

/* fp32: the same chains in single precision against the fp64 gradient. */
static void check_fp32(dln_backend_kind kind, int depth, const int *dims, int m)
{
    grad_case c;
    case_make(&c, kind, depth, dims, m);
    dln_network_stats s64, s32;
    double **G64 = net_gradient(&c, DLN_F64, 0.0, &s64);
    double **G32 = net_gradient(&c, DLN_F32, 0.0, &s32);
    /* fp32 rounding (eps 6e-8) of the data, the weights and ~2H products of inner size
     * <= 11, with the residual E = RX - Y of the size of Y (no cancellation to speak of):
     * errors ~1e-6 expected, so 1e-4; a wrong term or transpose is O(1). */
    for (int i = 0; i < depth; i++) {
        double e = ts_rel_mat(G32[i], G64[i], (size_t)dims[i + 1] * dims[i]);
        cr_expect_lt(e, 1e-4, "%s H=%d layer %d: fp32 vs fp64 gradient rel err %.3e (seed %llu)",
                     ts_backend_label(kind), depth, i + 1, e, (unsigned long long)c.seed);
        cr_expect_gt(e, 0.0, "%s: fp32 gradient identical to fp64: was it computed in fp64? (seed %llu)",
                     ts_backend_label(kind), (unsigned long long)c.seed);
    }
    cr_expect_lt(ts_rel(s32.loss, s64.loss), 1e-4, "H=%d: fp32 loss %.9g vs fp64 %.17g",
                 depth, s32.loss, s64.loss);
    cr_expect_lt(ts_rel(s32.grad_sumsq, s64.grad_sumsq), 1e-4, "H=%d: fp32 gradient norm (seed %llu)", depth,
                 (unsigned long long)c.seed);
    dln_weights_free(depth, G64);
    dln_weights_free(depth, G32);
    case_free(&c);
}

TestOnBackends(gradients, fp32_depths_1_2_3_5)
{
    int d1[] = {7, 4}, d2[] = {5, 2, 6}, d3[] = {6, 9, 3, 4}, d5[] = {7, 5, 3, 6, 4, 9};
    check_fp32(TS_KIND, 1, d1, 9);
    check_fp32(TS_KIND, 2, d2, 8);
    check_fp32(TS_KIND, 3, d3, 5);
    check_fp32(TS_KIND, 5, d5, 11);
}
