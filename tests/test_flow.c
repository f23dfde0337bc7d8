/* test_flow.c: the gradient flow (src/model/flow.c, src/trainer/flow.c) on every backend,
 * against an independent integration written here: classical RK4 at fixed steps of 2.5e-4 and
 * 1.25e-4 on the host's closed-form gradient of the square loss through the product,
 * Richardson-extrapolated (the h/2 run's own error, asserted below 1e-9, removed to leading
 * order). A batch of three
 * members with different end times and starts integrated together equals each alone (the
 * same bits on the CPU: every decision is per member); the statistics count what was done.
 * Fresh random problems every run; the seed is in every message. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#define OK(call, err, seed) cr_assert_eq((call), DLN_OK, "%s: %s (seed %llu)", #call, (err)->msg, \
                                         (unsigned long long)(seed))

/* dL/dW_i of 1/2 ||W_H...W_1 X - Y||^2 into G (host, closed form). */
static void host_gradient(const dln_shape *s, const dln_data *d, double *const *W, double **G)
{
    int H = s->depth, m = d->m;
    double **A = calloc((size_t)H + 1, sizeof *A);
    A[0] = ts_copy(d->X, (size_t)d->dx * m);
    for (int k = 1; k <= H; k++) A[k] = ts_mul(0, 0, s->dims[k], m, s->dims[k - 1], W[k - 1], A[k - 1]);
    double *B = ts_copy(A[H], (size_t)s->dims[H] * m);
    for (size_t e = 0; e < (size_t)s->dims[H] * m; e++) B[e] -= d->Y[e];
    for (int k = H; k >= 1; k--) {
        double *g = ts_mul(0, 1, s->dims[k], s->dims[k - 1], m, B, A[k - 1]);
        memcpy(G[k - 1], g, sizeof(double) * (size_t)s->dims[k] * s->dims[k - 1]);
        free(g);
        double *next = ts_mul(1, 0, s->dims[k - 1], m, s->dims[k], W[k - 1], B);
        free(B);
        B = next;
    }
    for (int k = 0; k <= H; k++) free(A[k]);
    free(A), free(B);
}

/* W := W + a V (every layer). */
static void add(const dln_shape *s, double **W, double a, double *const *V)
{
    for (int i = 0; i < s->depth; i++)
        for (size_t e = 0; e < (size_t)s->dims[i + 1] * s->dims[i]; e++) W[i][e] += a * V[i][e];
}

/* Classical RK4 on dW/dt = -grad L(W) from W to time T at steps of at most h. */
static void rk4(const dln_shape *s, const dln_data *d, double **W, double T, double h)
{
    int steps = (int)ceil(T / h);
    h = T / steps;
    double **K[4], **Y = ts_copy_weights(s, W);
    for (int j = 0; j < 4; j++) K[j] = ts_zero_weights(s);
    for (int t = 0; t < steps; t++) {
        for (int j = 0; j < 4; j++) {
            for (int i = 0; i < s->depth; i++)
                memcpy(Y[i], W[i], sizeof(double) * (size_t)s->dims[i + 1] * s->dims[i]);
            if (j) add(s, Y, j == 3 ? -h : -h / 2, K[j - 1]); /* K holds grad L: the slope is -K */
            host_gradient(s, d, Y, K[j]);
        }
        add(s, W, -h / 6, K[0]), add(s, W, -h / 3, K[1]), add(s, W, -h / 3, K[2]), add(s, W, -h / 6, K[3]);
    }
    for (int j = 0; j < 4; j++) dln_weights_free(s->depth, K[j]);
    dln_weights_free(s->depth, Y);
}

/* A depth-3 network shape over a synthetic problem (dims[0] -> dims[3], m samples), the
 * backend, a fresh seed and a generator on its own stream; flow_end frees them. */
static void flow_setup(dln_backend_kind kind, uint64_t stream, const int *dims, int m, int rank, double noise,
                       dln_error *err, dln_backend **be, uint64_t *seed, dln_rng *g, dln_shape *s, dln_data *d)
{
    *be = ts_backend(kind, err);
    *seed = ts_seed();
    dln_rng_seed(g, *seed, stream);
    ts_shape(s, 3, dims);
    dln_synth_opts so = {dims[0], dims[3], m, rank, noise, *seed, DLN_LABELS_VALUES};
    OK(dln_synth_make(&so, d, err), err, *seed);
}

static void flow_end(dln_backend *be, dln_shape *s, dln_data *d)
{
    dln_data_free(d);
    dln_shape_free(s);
    dln_backend_destroy(be);
}

TestOnBackends(flow, the_flow_follows_an_independent_rk4_to_its_tolerance)
{
    dln_error err = {0};
    dln_backend *be;
    uint64_t seed;
    dln_rng g;
    dln_shape s;
    dln_data d;
    int dims[] = {4, 5, 5, 3};
    flow_setup(TS_KIND, 81, dims, 12, 3, 0.2, &err, &be, &seed, &g, &s, &d);
    /* the reference: RK4 at h and h/2, Richardson-extrapolated (fourth order: the error of the
     * h/2 run is (y_h/2 - y_h) / 15 to leading order; the extrapolation's is asserted small) */
    double **W = ts_rand_weights(&g, &s, 0.7), **ref = ts_copy_weights(&s, W), **coarse = ts_copy_weights(&s, W);
    rk4(&s, &d, coarse, 1.0, 2.5e-4), rk4(&s, &d, ref, 1.0, 1.25e-4);
    double fine_err = ts_rel_weights(&s, ref, coarse) / 15;
    for (int i = 0; i < s.depth; i++)
        for (size_t e = 0; e < (size_t)s.dims[i + 1] * s.dims[i]; e++) ref[i][e] += (ref[i][e] - coarse[i][e]) / 15;
    cr_assert_lt(fine_err, 1e-9, "the RK4 reference's own error %.3e is too large (seed %llu)", fine_err,
                 (unsigned long long)seed);
    dln_weights_free(3, coarse);
    for (int k = 0; k < 2; k++) {
        double rtol = k ? 1e-10 : 1e-8, **Wf = ts_copy_weights(&s, W);
        dln_flow_stats st;
        OK(dln_flow_at(be, NULL, &s, d.X, d.Y, d.m, Wf, 1.0, rtol, 100000, &st, &err), &err, seed);
        /* per-step errors below rtol of the weights accumulate over the steps taken to at most
         * about (steps) rtol: 100 rtol allows for it */
        double e = ts_rel_weights(&s, Wf, ref);
        cr_expect_lt(e, 100 * rtol, "%s rtol %g: flow vs RK4 %.3e after %ld steps (seed %llu)", ts_backend_label(TS_KIND),
                     rtol, e, st.accepted, (unsigned long long)seed);
        cr_expect(st.t == 1.0 && st.accepted > 0 && st.evaluations == 1 + 6 * (st.accepted + st.rejected),
                  "stats: t %g, %ld accepted, %ld rejected, %ld evaluations", st.t, st.accepted, st.rejected,
                  st.evaluations);
        double loss;
        OK(dln_loss_at(be, NULL, &s, d.X, d.Y, d.m, Wf, &loss, NULL, &err), &err, seed);
        cr_expect_lt(ts_rel(st.loss, loss), 1e-12, "the reported loss %.17g vs %.17g at the weights", st.loss, loss);
        dln_weights_free(3, Wf);
    }
    dln_weights_free(3, W), dln_weights_free(3, ref);
    flow_end(be, &s, &d);
}

TestOnBackends(flow, a_batch_is_its_members_each_to_its_own_time)
{
    dln_error err = {0};
    dln_backend *be;
    uint64_t seed;
    dln_rng g;
    dln_shape s;
    dln_data d;
    int dims[] = {5, 4, 4, 3};
    flow_setup(TS_KIND, 82, dims, 15, 2, 0.1, &err, &be, &seed, &g, &s, &d);
    enum { B = 3 };
    double T[B] = {0.5, 2.0, 1.0};
    double **W[B];
    dln_network_config c = {.n = d.m, .count = B, .dtype = DLN_F64};
    dln_network *net;
    OK(dln_network_create(be, &s, &c, &net), &err, seed);
    OK(dln_network_set_data(net, d.X, d.Y), &err, seed);
    for (int b = 0; b < B; b++) {
        W[b] = ts_rand_weights(&g, &s, 0.5 + 0.3 * b);
        OK(dln_network_set_weights(net, b, W[b]), &err, seed);
    }
    dln_flow_stats st[B], one;
    OK(dln_flow_integrate(net, T, 1e-8, 100000, st, &err), &err, seed);
    for (int b = 0; b < B; b++) {
        double **got = ts_zero_weights(&s), **alone = ts_copy_weights(&s, W[b]);
        OK(dln_network_get_weights(net, b, got), &err, seed);
        OK(dln_flow_at(be, NULL, &s, d.X, d.Y, d.m, alone, T[b], 1e-8, 100000, &one, &err), &err, seed);
        double e = ts_rel_weights(&s, got, alone);
        if (TS_KIND == DLN_BACKEND_CPU)
            cr_expect_eq(e, 0.0, "member %d: %.3e from alone (seed %llu)", b, e, (unsigned long long)seed);
        else
            cr_expect_lt(e, 1e-10, "member %d: %.3e from alone (seed %llu)", b, e, (unsigned long long)seed);
        cr_expect(st[b].t == T[b] && st[b].accepted == one.accepted && st[b].rejected == one.rejected,
                  "member %d: t %g of %g, %ld/%ld steps vs alone %ld/%ld", b, st[b].t, T[b], st[b].accepted,
                  st[b].rejected, one.accepted, one.rejected);
        dln_weights_free(3, got), dln_weights_free(3, alone), dln_weights_free(3, W[b]);
    }
    dln_network_destroy(net);
    flow_end(be, &s, &d);
}
