/* observables.c: what the trainer measures at a checked step when asked (dln_train_opts.
 * observe, sharpness_every): the spectrum and effective rank of the end-to-end product, the
 * strength of each of the reference's target modes, the layer norms, balancedness and the
 * sharpness (docs/maths.md section 8), all of one member of the network. Matrix work runs
 * on the backend (the product, the norms, the Hessian-vector products); the small
 * factorisations and products on the host with LAPACK/CBLAS. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/diagnostics.h"
#include "trainer/trainer_internal.h"

#define DEFAULT_SHARPNESS_ITERS 20
#define RTOL_MAX_ITERS 1000 /* the most products a sharpness to a stated accuracy may take */

void dln_obs_free(dln_obs_state *st)
{
    free(st->R), free(st->sv), free(st->work), free(st->RC), free(st->mode), free(st->norms), free(st->top);
    dln_weights_free(st->s ? st->s->depth : 0, st->W);
    dln_weights_free(st->s ? st->s->depth : 0, st->Wf);
    dln_network_destroy(st->flow);
    memset(st, 0, sizeof *st);
}

/* The flow's own network of one member at the start (the full data, fp64). */
static int flow_prepare(dln_obs_state *st, const dln_obs_flow_start *f, dln_error *err)
{
    const dln_fit *fit = f->fit;
    dln_network_config c = {.n = fit->m, .count = 1, .dtype = DLN_F64, .objective = fit->objective};
    DLN_TRY(dln_network_create(f->be, st->s, &c, &st->flow));
    DLN_TRY(dln_network_set_data(st->flow, fit->X, fit->Y));
    DLN_TRY(dln_network_set_weights(st->flow, 0, f->W));
    DLN_TRY(dln_weights_alloc(st->s, &st->Wf, err));
    if (!st->W) DLN_TRY(dln_weights_alloc(st->s, &st->W, err));
    st->flow_t = 0.0, st->flow_rtol = f->rtol;
    return DLN_OK;
}

/* ||W - W_flow(t)|| for the member's weights at flow time t (the flow integrated on from its
 * last time; t never decreases along a run). */
static int flow_distance(dln_obs_state *st, dln_network *net, int member, dln_observation *obs, dln_error *err)
{
    if (obs->time > st->flow_t) { /* dln_flow_integrate runs for a duration from where the flow is */
        double dt = obs->time - st->flow_t;
        dln_flow_stats fs;
        DLN_TRY(dln_flow_integrate(st->flow, &dt, st->flow_rtol, 100000000L, &fs, err));
        st->flow_t = obs->time;
    }
    DLN_TRY(dln_network_get_weights(st->flow, 0, st->Wf));
    DLN_TRY(dln_network_get_weights(net, member, st->W));
    double d = 0.0, w = 0.0;
    for (int i = 0; i < st->s->depth; i++)
        for (size_t e = 0; e < (size_t)st->s->dims[i + 1] * st->s->dims[i]; e++) {
            double x = st->W[i][e] - st->Wf[i][e];
            d += x * x, w += st->Wf[i][e] * st->Wf[i][e];
        }
    obs->flow_distance = sqrt(d), obs->flow_weight_norm = sqrt(w);
    return DLN_OK;
}

int dln_obs_prepare(dln_obs_state *st, unsigned what, int sharpness_iters, const dln_reference *ref,
                    const dln_shape *s, const dln_obs_flow_start *flow, dln_error *err)
{
    memset(st, 0, sizeof *st);
    st->what = what;
    st->ref = ref;
    st->s = s;
    st->sharpness_iters = sharpness_iters > 0 ? sharpness_iters : DEFAULT_SHARPNESS_ITERS;
    int dx = s->dims[0], dy = s->dims[s->depth], n = dx < dy ? dx : dy;
    if ((what & (DLN_OBSERVE_SPECTRUM | DLN_OBSERVE_MODES)) || ref->matrix) {
        st->R = malloc(sizeof(double) * (size_t)dy * dx);
        st->work = malloc(sizeof(double) * (size_t)dy * dx);
        st->sv = malloc(sizeof(double) * (size_t)n);
        if (!st->R || !st->work || !st->sv) return dln_fail(err, DLN_ENOMEM, "out of host memory for the observables");
    }
    if ((what & DLN_OBSERVE_MODES) && ref->n_modes > 0) {
        st->RC = malloc(sizeof(double) * (size_t)dy * (size_t)ref->r);
        st->mode = malloc(sizeof(double) * (size_t)ref->n_modes);
        if (!st->RC || !st->mode) return dln_fail(err, DLN_ENOMEM, "out of host memory for the mode observables");
    }
    if (what & DLN_OBSERVE_NORMS)
        if (!(st->norms = malloc(sizeof(double) * (size_t)s->depth)))
            return dln_fail(err, DLN_ENOMEM, "out of host memory for the observables");
    if (what & DLN_OBSERVE_BALANCE) DLN_TRY(dln_weights_alloc(s, &st->W, err));
    if ((what & DLN_OBSERVE_FLOW) && flow) DLN_TRY(flow_prepare(st, flow, err));
    return DLN_OK;
}

/* sigma(R) (values only, dgesdd on a copy) and the effective rank exp(-sum p log p). */
static int spectrum(dln_obs_state *st, dln_observation *obs, dln_error *err)
{
    int dx = st->s->dims[0], dy = st->s->dims[st->s->depth], n = dx < dy ? dx : dy;
    memcpy(st->work, st->R, sizeof(double) * (size_t)dy * dx);
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', dy, dx, st->work, dy, st->sv, NULL, 1, NULL, 1);
    if (info) return dln_fail(err, DLN_ERUNTIME, "LAPACKE_dgesdd of the product failed (info %d)", (int)info);
    double sum = 0.0, ent = 0.0;
    for (int i = 0; i < n; i++) sum += st->sv[i];
    for (int i = 0; i < n && sum > 0; i++)
        if (st->sv[i] > 0) ent -= st->sv[i] / sum * log(st->sv[i] / sum);
    obs->product_sv = st->sv;
    obs->n_product_sv = n;
    obs->effective_rank = sum > 0 ? exp(ent) : 0.0;
    return DLN_OK;
}

/* a_i = u_i^T (R C) v_i for the reference's target modes M = U S V^T. */
static void modes(dln_obs_state *st, dln_observation *obs)
{
    const dln_reference *ref = st->ref;
    int dy = st->s->dims[st->s->depth], dx = st->s->dims[0], r = ref->r, n = ref->n_modes;
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, r, dx, 1.0, st->R, dy, ref->C, dx, 0.0, st->RC, dy);
    for (int i = 0; i < n; i++) {
        double a = 0.0;
        for (int j = 0; j < r; j++)
            a += ref->mode_VT[i + (size_t)j * n] * cblas_ddot(dy, ref->mode_U + (size_t)i * dy, 1, st->RC + (size_t)j * dy, 1);
        st->mode[i] = a;
    }
    obs->mode_strength = st->mode;
    obs->target_sv = ref->mode_sv;
    obs->n_modes = n;
}

int dln_obs_measure(dln_obs_state *st, dln_network *net, int member, int sharpness, int traced,
                    dln_observation *obs, dln_error *err)
{
    obs->product_sv = obs->mode_strength = obs->target_sv = obs->layer_norms = obs->sharpness_top = NULL;
    obs->n_product_sv = obs->n_modes = obs->n_layers = obs->n_sharpness_top = 0;
    obs->effective_rank = obs->balancedness = obs->sharpness = obs->nuclear_norm = obs->test_error = NAN;
    obs->flow_distance = obs->flow_weight_norm = NAN;
    if (traced && st->flow) DLN_TRY(flow_distance(st, net, member, obs, err));
    int matrix = traced && st->ref->matrix;
    if (!st->what && !sharpness && !matrix) return DLN_OK;
    if (st->R && (st->what || matrix)) {
        DLN_TRY(dln_network_product(net, member, st->R));
        if (st->what & DLN_OBSERVE_SPECTRUM) DLN_TRY(spectrum(st, obs, err));
        if (st->mode) modes(st, obs);
    }
    if (matrix) {
        dln_matrix_metrics mm;
        DLN_TRY(dln_matrix_measure(st->ref->matrix, st->R, &mm, NULL, err));
        obs->nuclear_norm = mm.nuclear_norm, obs->test_error = mm.test_error, obs->effective_rank = mm.effective_rank;
    }
    if (st->norms) {
        DLN_TRY(dln_network_layer_norms(net, member, st->norms));
        obs->layer_norms = st->norms;
        obs->n_layers = st->s->depth;
    }
    if (st->what & DLN_OBSERVE_BALANCE) {
        DLN_TRY(dln_network_get_weights(net, member, st->W));
        obs->balancedness = dln_weights_balancedness(st->s, st->W);
    }
    if (sharpness || (st->what & DLN_OBSERVE_SHARPNESS)) {
        dln_lanczos_result lz = {0};
        lz.stop_rtol = st->sharpness_rtol;
        if (st->sharpness_k > 1) {
            if (!st->top && !(st->top = malloc(sizeof(double) * (size_t)st->sharpness_k)))
                return dln_fail(err, DLN_ENOMEM, "out of host memory");
            lz.top_k = st->sharpness_k, lz.top = st->top;
        }
        int iters = st->sharpness_rtol > 0 && st->sharpness_iters < RTOL_MAX_ITERS ? RTOL_MAX_ITERS : st->sharpness_iters;
        DLN_TRY(dln_hessian_extremes(net, member, iters, 1, NULL, &lz, err));
        obs->sharpness = lz.lambda_max;
        if (st->sharpness_k > 1) obs->sharpness_top = st->top, obs->n_sharpness_top = st->sharpness_k;
    }
    return DLN_OK;
}
