/* test_observables.c: the observables an observer can ask for (dln_train_opts.observe),
 * on every backend, at the final state of a short run against host computations from
 * the returned weights: the singular values of W_H...W_1 (LAPACK) and their effective
 * rank, the target modes' strengths u_i^T R C v_i (LAPACK SVD of M), the layer norms,
 * balancedness (zero for a balanced init at step 0), and the sharpness against the
 * largest eigenvalue of the Hessian assembled from products (LAPACK dsyev). */
#include <cblas.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_cases.h"

/* Copies of the observables of the first and the final observation. */
typedef struct {
    int seen;
    double sv[16], er, mode[16], tsv[16], norms[8], bal0, bal, sharp;
    int nsv, nmodes, nlayers;
} obs_copy;

static int keep(void *ctx, const dln_observation *o)
{
    obs_copy *c = ctx;
    if (!c->seen++) c->bal0 = o->balancedness;
    if (!o->final) return 0;
    c->nsv = o->n_product_sv, c->nmodes = o->n_modes, c->nlayers = o->n_layers;
    cr_assert(c->nsv <= 16 && c->nmodes <= 16 && c->nlayers <= 8);
    memcpy(c->sv, o->product_sv, sizeof(double) * (size_t)c->nsv);
    memcpy(c->mode, o->mode_strength, sizeof(double) * (size_t)c->nmodes);
    memcpy(c->tsv, o->target_sv, sizeof(double) * (size_t)c->nmodes);
    memcpy(c->norms, o->layer_norms, sizeof(double) * (size_t)c->nlayers);
    c->er = o->effective_rank, c->bal = o->balancedness, c->sharp = o->sharpness;
    return 0;
}

TestOnBackends(observables, every_observable_against_the_host)
{
    tr_case c;
    int dims[] = {6, 4, 3, 5};
    tr_case_make(&c, TS_KIND, 3, dims, 40, 3, 0.2, 0);
    double **W = tr_init(&c, DLN_INIT_BALANCED);
    size_t P = dln_shape_params(&c.s);
    dln_train_opts o = opts(0.0, 150, 0.0, DLN_DATA_AUTO);
    obs_copy oc = {0};
    o.observer = keep, o.observer_ctx = &oc, o.observe = 31, o.sharpness_iters = (int)P;
    dln_train_result res = train(&c, W, &o);
    cr_assert(res.compressed, "the modes need the compressed pair");
    /* the product and its singular values */
    double *R01 = ts_mul(0, 0, 3, 6, 4, W[1], W[0]), *R = ts_mul(0, 0, 5, 6, 3, W[2], R01);
    double *sv = ts_singular_values(5, 6, R), sum = 0.0, ent = 0.0;
    cr_assert_eq(oc.nsv, 5);
    for (int i = 0; i < 5; i++) {
        cr_expect_lt(fabs(oc.sv[i] - sv[i]), 1e-12 * sv[0], "sigma_%d(R) %.17g vs %.17g", i, oc.sv[i], sv[i]);
        sum += sv[i];
    }
    for (int i = 0; i < 5; i++) ent -= sv[i] > 0 ? sv[i] / sum * log(sv[i] / sum) : 0.0;
    cr_expect_lt(ts_rel(oc.er, exp(ent)), 1e-12, "effective rank %.17g vs %.17g", oc.er, exp(ent));
    /* mode strengths: the target M = U S V^T; a_i = u_i^T (R C) v_i (signs cancel in pairs) */
    int dy = 5, r = c.sh.r, n = dy < r ? dy : r;
    double *A = ts_copy(c.sh.M, (size_t)dy * r), *U = malloc(sizeof(double) * (size_t)dy * n);
    double *VT = malloc(sizeof(double) * (size_t)n * r), *ts = malloc(sizeof(double) * (size_t)n), sup[8];
    cr_assert_eq(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', dy, r, A, dy, ts, U, dy, VT, n, sup), 0);
    double *RC = ts_mul(0, 0, dy, r, 6, R, c.sh.C);
    cr_assert_eq(oc.nmodes, n);
    for (int i = 0; i < n; i++) {
        double a = 0.0;
        for (int j = 0; j < r; j++)
            for (int q = 0; q < dy; q++) a += U[q + (size_t)i * dy] * RC[q + (size_t)j * dy] * VT[i + (size_t)j * n];
        cr_expect_lt(fabs(oc.mode[i] - a), 1e-10 * ts[0], "mode %d strength %.17g vs %.17g", i, oc.mode[i], a);
        cr_expect_lt(fabs(oc.tsv[i] - ts[i]), 1e-12 * ts[0], "target sigma_%d", i);
    }
    /* layer norms and balancedness */
    cr_assert_eq(oc.nlayers, 3);
    for (int i = 0; i < 3; i++)
        cr_expect_lt(ts_rel(oc.norms[i], sqrt(ts_sumsq(W[i], (size_t)dims[i + 1] * dims[i]))), 1e-13, "||W_%d||", i + 1);
    cr_expect_lt(oc.bal0, 1e-12, "a balanced init starts balanced: %.3e", oc.bal0);
    cr_expect_lt(ts_rel(oc.bal, dln_weights_balancedness(&c.s, W)), 1e-12, "balancedness %.17g", oc.bal);
    /* sharpness: lambda_max of the Hessian assembled column by column (products checked
     * against finite differences in test_hessian.c), by LAPACK */
    dln_network *net = NULL;
    cr_assert_eq(dln_network_create(c.be, &c.s, &(dln_network_config){.n = c.sh.r, .dtype = DLN_F64}, &net), DLN_OK);
    cr_assert_eq(dln_network_set_data(net, c.sh.C, c.sh.M), DLN_OK);
    cr_assert_eq(dln_network_set_weights(net, 0, W), DLN_OK);
    double *Hm = malloc(sizeof(double) * P * P), *ev = malloc(sizeof(double) * P);
    double **V, **HV;
    cr_assert_eq(dln_weights_alloc(&c.s, &V, &c.err), DLN_OK);
    cr_assert_eq(dln_weights_alloc(&c.s, &HV, &c.err), DLN_OK);
    for (size_t j = 0, at; j < P; j++) {
        at = 0;
        for (int i = 0; i < 3; i++)
            for (int e = 0; e < dims[i + 1] * dims[i]; e++, at++) V[i][e] = at == j;
        cr_assert_eq(dln_network_hvp(net, 0, V, HV), DLN_OK);
        at = 0;
        for (int i = 0; i < 3; i++)
            for (int e = 0; e < dims[i + 1] * dims[i]; e++, at++) Hm[at + j * P] = HV[i][e];
    }
    cr_assert_eq(LAPACKE_dsyev(LAPACK_COL_MAJOR, 'N', 'U', (lapack_int)P, Hm, (lapack_int)P, ev), 0);
    /* Lanczos run to P steps spans the whole space: the extreme Ritz value is exact to rounding */
    cr_expect_lt(ts_rel(oc.sharp, ev[P - 1]), 1e-9, "sharpness %.17g vs lambda_max %.17g", oc.sharp, ev[P - 1]);
    dln_network_destroy(net);
    dln_weights_free(3, V), dln_weights_free(3, HV);
    free(Hm), free(ev), free(R01), free(R), free(sv), free(A), free(U), free(VT), free(ts), free(RC);
    dln_weights_free(3, W);
    tr_case_free(&c);
}

TestOnBackends(observables, none_asked_none_given)
{
    tr_case c;
    int dims[] = {5, 3, 4};
    tr_case_make(&c, TS_KIND, 2, dims, 20, 2, 0.1, 0);
    double **W = tr_init(&c, DLN_INIT_ORTHOGONAL);
    ts_trace tr = {0};
    dln_train_opts o = opts(0.0, 20, 0.0, DLN_DATA_AUTO);
    o.observer = ts_record, o.observer_ctx = &tr;
    train(&c, W, &o);
    for (long t = 0; t < tr.n; t++) {
        cr_expect(tr.obs[t].product_sv == NULL && tr.obs[t].n_modes == 0 && tr.obs[t].layer_norms == NULL);
        cr_expect(isnan(tr.obs[t].sharpness) && isnan(tr.obs[t].balancedness) && isnan(tr.obs[t].effective_rank));
    }
    ts_trace_free(&tr);
    dln_weights_free(2, W);
    tr_case_free(&c);
}
