/* test_hessian.c: exact Hessian-vector products of the deep loss (dln_network_hvp) on
 * every backend: against fourth-order central differences of the host reference gradient
 * for depths 1-6 with random non-square layers; the Hessian assembled column by column is
 * symmetric; and the known cases: at W = 0 with H >= 3 the Hessian is exactly zero, with
 * H = 2 its eigenvalues are +-sigma_i(Y X^T) (each d_1 times) and zeros, found by Lanczos
 * too; at a global minimum (least squares, H = 1) lambda_min >= 0. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

typedef struct {
    dln_error err;
    dln_backend *be;
    dln_shape s;
    dln_data d;
    dln_network *net;
    uint64_t seed;
    dln_rng g;
} hv_case;

#define HV_OK(c, call) cr_assert_eq((call), DLN_OK, "%s: %s (seed %llu)", #call, (c)->err.msg, \
                                    (unsigned long long)(c)->seed)

static double **hv_case_make(hv_case *c, dln_backend_kind kind, int depth, const int *dims, int m, double wscale)
{
    c->be = ts_backend(kind, &c->err);
    c->seed = ts_seed();
    dln_rng_seed(&c->g, c->seed, 51);
    ts_shape(&c->s, depth, dims);
    c->d = ts_data(dims[0], dims[depth], m, ts_randn(&c->g, dims[0], m), ts_randn(&c->g, dims[depth], m));
    double **W = ts_rand_weights(&c->g, &c->s, wscale);
    HV_OK(c, dln_network_create(c->be, &c->s, &(dln_network_config){.n = m, .dtype = DLN_F64}, &c->net));
    HV_OK(c, dln_network_set_data(c->net, c->d.X, c->d.Y));
    HV_OK(c, dln_network_set_weights(c->net, 0, W));
    return W;
}

static void hv_case_free(hv_case *c, double **W)
{
    dln_network_destroy(c->net);
    dln_weights_free(c->s.depth, W);
    dln_data_free(&c->d);
    dln_shape_free(&c->s);
    dln_backend_destroy(c->be);
}

/* (8 (G(W + hV) - G(W - hV)) - (G(W + 2hV) - G(W - 2hV))) / 12h with the host gradient. */
static double **fd_hvp(const hv_case *c, double *const *W, double *const *V, double h)
{
    const double at[4] = {h, -h, 2 * h, -2 * h}, wt[4] = {8, -8, -1, 1};
    double **Wt = ts_copy_weights(&c->s, W), **G = ts_copy_weights(&c->s, W), **F = ts_copy_weights(&c->s, W);
    for (int i = 0; i < c->s.depth; i++) memset(F[i], 0, sizeof(double) * (size_t)c->s.dims[i + 1] * c->s.dims[i]);
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < c->s.depth; i++)
            for (size_t e = 0; e < (size_t)c->s.dims[i + 1] * c->s.dims[i]; e++) Wt[i][e] = W[i][e] + at[k] * V[i][e];
        ref_gradient(&c->s, Wt, &c->d, G);
        for (int i = 0; i < c->s.depth; i++)
            for (size_t e = 0; e < (size_t)c->s.dims[i + 1] * c->s.dims[i]; e++) F[i][e] += wt[k] * G[i][e] / (12 * h);
    }
    dln_weights_free(c->s.depth, Wt), dln_weights_free(c->s.depth, G);
    return F;
}

TestOnBackends(hessian, products_match_gradient_differences_depths_1_to_6)
{
    const int dims[6][7] = {{7, 4}, {5, 3, 6}, {6, 9, 2, 4}, {4, 5, 3, 6, 3}, {5, 4, 6, 3, 5, 4}, {3, 4, 5, 4, 3, 5, 4}};
    for (int H = 1; H <= 6; H++) {
        hv_case c;
        double **W = hv_case_make(&c, TS_KIND, H, dims[H - 1], 9, 1.0);
        double **V = ts_rand_weights(&c.g, &c.s, 1.0), **HV = ts_copy_weights(&c.s, V);
        HV_OK(&c, dln_network_hvp(c.net, 0, V, HV));
        /* the gradient is a polynomial of degree 2H - 1 in the step: the fourth-order
         * difference errs by O(h^4) ~ 1e-16 relative at h = 1e-4, rounding by eps |G| / h
         * ~ 1e-12: 1e-8 leaves a wide margin while a wrong term is an O(1) error */
        double **F = fd_hvp(&c, W, V, 1e-4);
        double worst = ts_rel_weights(&c.s, HV, F);
        cr_expect_lt(worst, 1e-8, "%s H=%d: HVP vs finite differences %.3e (seed %llu)", ts_backend_label(TS_KIND), H,
                     worst, (unsigned long long)c.seed);
        dln_weights_free(H, V), dln_weights_free(H, HV), dln_weights_free(H, F);
        hv_case_free(&c, W);
    }
}

/* The full Hessian (P x P), column j the product with the j-th unit direction. */
static double *assemble(hv_case *c)
{
    size_t P = dln_shape_params(&c->s);
    double *Hm = malloc(sizeof(double) * P * P), **V = ts_rand_weights(&c->g, &c->s, 1.0);
    double **HV = ts_copy_weights(&c->s, V);
    for (size_t j = 0; j < P; j++) {
        size_t at = 0;
        for (int i = 0; i < c->s.depth; i++)
            for (size_t e = 0; e < (size_t)c->s.dims[i + 1] * c->s.dims[i]; e++, at++) V[i][e] = at == j;
        HV_OK(c, dln_network_hvp(c->net, 0, V, HV));
        at = 0;
        for (int i = 0; i < c->s.depth; i++)
            for (size_t e = 0; e < (size_t)c->s.dims[i + 1] * c->s.dims[i]; e++, at++) Hm[at + j * P] = HV[i][e];
    }
    dln_weights_free(c->s.depth, V), dln_weights_free(c->s.depth, HV);
    return Hm;
}

TestOnBackends(hessian, assembled_hessian_is_symmetric)
{
    int dims[] = {4, 3, 2, 5};
    hv_case c;
    double **W = hv_case_make(&c, TS_KIND, 3, dims, 7, 1.0);
    size_t P = dln_shape_params(&c.s);
    double *Hm = assemble(&c), d = 0.0, r = 0.0;
    for (size_t i = 0; i < P; i++)
        for (size_t j = 0; j < P; j++) {
            d += (Hm[i + j * P] - Hm[j + i * P]) * (Hm[i + j * P] - Hm[j + i * P]);
            r += Hm[i + j * P] * Hm[i + j * P];
        }
    /* two different GEMM orders for the same second derivative: rounding only */
    cr_expect_lt(sqrt(d / r), 1e-13, "||H - H^T|| / ||H|| = %.3e (seed %llu)", sqrt(d / r), (unsigned long long)c.seed);
    free(Hm);
    hv_case_free(&c, W);
}

TestOnBackends(hessian, zero_weights_depth_3_give_a_zero_hessian)
{
    int dims[] = {5, 4, 3, 6};
    hv_case c;
    double **W = hv_case_make(&c, TS_KIND, 3, dims, 8, 0.0);
    double **V = ts_rand_weights(&c.g, &c.s, 1.0), **HV = ts_copy_weights(&c.s, V);
    HV_OK(&c, dln_network_hvp(c.net, 0, V, HV));
    /* every term of a second derivative keeps at least one W factor: exactly zero */
    for (int i = 0; i < 3; i++)
        for (size_t e = 0; e < (size_t)dims[i + 1] * dims[i]; e++) cr_assert_eq(HV[i][e], 0.0, "layer %d entry %zu", i, e);
    dln_lanczos_result r = {0};
    HV_OK(&c, dln_hessian_extremes(c.net, 0, 20, c.seed, NULL, &r, &c.err));
    cr_expect(r.lambda_max == 0.0 && r.lambda_min == 0.0, "lambda %g .. %g", r.lambda_min, r.lambda_max);
    cr_expect_eq(r.negative_count, 0);
    dln_weights_free(3, V), dln_weights_free(3, HV);
    hv_case_free(&c, W);
}

/* At W = 0, H = 2: vec(V)^T H vec(V) = -2 <V_2 V_1, Y X^T>, so H couples V_1 and V_2 by
 * S = Y X^T only: its eigenvalues are +-sigma_i(S), each d_1 times, and zeros. */
TestOnBackends(hessian, zero_weights_depth_2_give_plus_minus_singular_values_of_y_xt)
{
    int dims[] = {4, 3, 5}, dx = 4, d1 = 3, dy = 5, m = 9;
    hv_case c;
    double **W = hv_case_make(&c, TS_KIND, 2, dims, m, 0.0);
    size_t P = dln_shape_params(&c.s);
    double *Hm = assemble(&c), *ev = malloc(sizeof(double) * P);
    cr_assert_eq(LAPACKE_dsyev(LAPACK_COL_MAJOR, 'N', 'U', (lapack_int)P, Hm, (lapack_int)P, ev), 0);
    double *S = ts_mul(0, 1, dy, dx, m, c.d.Y, c.d.X), *sv = ts_singular_values(dy, dx, S);
    /* expected spectrum, ascending: -sigma (each d1 times), zeros, +sigma (each d1 times) */
    double *want = calloc(P, sizeof(double));
    int ns = dx < dy ? dx : dy;
    for (int i = 0; i < ns; i++)
        for (int t = 0; t < d1; t++) {
            want[(size_t)i * d1 + t] = -sv[i];
            want[P - 1 - (size_t)i * d1 - t] = sv[i];
        }
    for (size_t i = 0; i < P; i++)
        cr_expect_lt(fabs(ev[i] - want[i]), 1e-10 * sv[0], "eigenvalue %zu: %.17g, expected %.17g (seed %llu)", i, ev[i],
                     want[i], (unsigned long long)c.seed);
    dln_lanczos_result r = {0};
    HV_OK(&c, dln_hessian_extremes(c.net, 0, (int)P, c.seed, NULL, &r, &c.err));
    cr_expect_lt(fabs(r.lambda_max - sv[0]), 1e-9 * sv[0], "Lanczos lambda_max %.17g vs %.17g", r.lambda_max, sv[0]);
    cr_expect_lt(fabs(r.lambda_min + sv[0]), 1e-9 * sv[0], "Lanczos lambda_min %.17g vs %.17g", r.lambda_min, -sv[0]);
    cr_expect_geq(r.negative_count, 1, "a strict saddle has negative curvature");
    free(Hm), free(ev), free(S), free(sv), free(want);
    hv_case_free(&c, W);
}

/* H = 1 is least squares: the Hessian is V -> V X X^T, positive semi-definite everywhere,
 * with lambda_max = sigma_1(X)^2 and lambda_min = sigma_min(X)^2 (dx <= m). */
TestOnBackends(hessian, depth_1_is_the_least_squares_hessian)
{
    int dims[] = {6, 4};
    hv_case c;
    double **W = hv_case_make(&c, TS_KIND, 1, dims, 15, 1.0);
    double *sx = ts_singular_values(6, 15, c.d.X);
    double *vmin[1] = {malloc(sizeof(double) * 24)};
    dln_lanczos_result r = {0};
    dln_hessian_vectors hvec = {NULL, vmin, NULL};
    HV_OK(&c, dln_hessian_extremes(c.net, 0, 24, c.seed, &hvec, &r, &c.err));
    cr_expect_lt(ts_rel(r.lambda_max, sx[0] * sx[0]), 1e-10, "lambda_max %.17g vs %.17g", r.lambda_max, sx[0] * sx[0]);
    cr_expect_lt(ts_rel(r.lambda_min, sx[5] * sx[5]), 1e-10, "lambda_min %.17g vs %.17g", r.lambda_min, sx[5] * sx[5]);
    cr_expect_eq(r.negative_count, 0);
    /* the direction of lambda_min is a unit eigenvector: H v = lambda_min v */
    double *hv[1] = {malloc(sizeof(double) * 24)}, res = 0.0, nv = 0.0;
    HV_OK(&c, dln_network_hvp(c.net, 0, vmin, hv));
    for (int e = 0; e < 24; e++) res += pow(hv[0][e] - r.lambda_min * vmin[0][e], 2), nv += vmin[0][e] * vmin[0][e];
    cr_expect_lt(fabs(nv - 1.0), 1e-12, "|v| = %.17g", sqrt(nv));
    cr_expect_lt(sqrt(res), 1e-8 * sx[0] * sx[0], "||H v - lambda v|| = %.3e", sqrt(res));
    free(sx), free(vmin[0]), free(hv[0]);
    hv_case_free(&c, W);
}
