/* flow.c: the gradient flow's step control and driver (docs/maths.md section 10). Each
 * member's control (dln_flow_ctl): the first step 0.01 ||W|| / ||grad L|| (Hairer, Norsett &
 * Wanner II.4's first guess), each try of dln_network_flow_try's Dormand-Prince 5(4) step
 * judged by its error estimate in the Frobenius norm over all layers against
 * rtol max(||W0||, ||W1||) + rtol 1e-3 ||W_start|| (an absolute part scaled to the weights),
 * accepted at err <= 1, the next step (0.9 err^(-1/5)) times the last, clamped to [1/5, 5] of
 * it (after a rejection to [1/10, 1]), the last step landing on T exactly. The trainer
 * (trainer.c) and dln_flow_integrate below drive the same control, so a member's sequence of
 * steps is the same in both and in any batch. The cost is 6 gradient evaluations per try; on
 * a stiff problem (a large sharpness) the explicit pair's stability region caps h near
 * 3.3 / lambda_max whatever the tolerance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/trainer_internal.h"

#define ATOL_SHARE 1e-3 /* the absolute tolerance: this share of rtol ||W_start|| */

int dln_flow_ctl_start(dln_flow_ctl *c, dln_network *net, int slot, double T, double rtol, double grad_sumsq,
                       dln_error *err)
{
    int H = dln_network_shape(net)->depth;
    double *norms = malloc(sizeof(double) * (size_t)H), w = 0.0;
    if (!norms) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    int rc = dln_network_layer_norms(net, slot, norms);
    for (int i = 0; !rc && i < H; i++) w += norms[i] * norms[i];
    free(norms);
    if (rc) return rc;
    memset(c, 0, sizeof *c);
    w = w > 0 ? sqrt(w) : 1.0;
    c->T = T, c->rtol = rtol > 0 ? rtol : DLN_FLOW_RTOL;
    c->atol = c->rtol * ATOL_SHARE * w;
    c->h = grad_sumsq > 0 ? 0.01 * w / sqrt(grad_sumsq) : T;
    c->evaluations = 1;
    return DLN_OK;
}

double dln_flow_ctl_h(const dln_flow_ctl *c)
{
    if (c->t >= c->T) return 0.0;
    return c->h < c->T - c->t ? c->h : c->T - c->t;
}

int dln_flow_ctl_judge(dln_flow_ctl *c, double h, double err_sq, double w0_sq, double w1_sq)
{
    if (h <= 0) return 0;
    c->evaluations += 6;
    double sc = c->rtol * fmax(sqrt(w0_sq), sqrt(w1_sq)) + c->atol, e = sqrt(err_sq) / sc;
    if (e <= 1.0) {
        c->accepted++;
        c->t = h == c->T - c->t ? c->T : c->t + h;
        c->last_h = h;
        c->h = h * (e > 0 ? fmin(5.0, fmax(0.2, 0.9 * pow(e, -0.2))) : 5.0);
        return 1;
    }
    c->rejected++;
    c->h = h * (isfinite(e) ? fmin(1.0, fmax(0.1, 0.9 * pow(e, -0.2))) : 0.1);
    return 0;
}

int dln_flow_integrate(dln_network *net, const double *T, double rtol, long max_tries, dln_flow_stats *st,
                       dln_error *err)
{
    int n = dln_network_count(net);
    double *h = calloc((size_t)n, sizeof(double)), *e2 = calloc((size_t)n, sizeof(double));
    double *w0 = calloc((size_t)n, sizeof(double)), *w1 = calloc((size_t)n, sizeof(double));
    int *accept = calloc((size_t)n, sizeof(int));
    dln_flow_ctl *c = calloc((size_t)n, sizeof *c);
    dln_network_stats *ns = calloc((size_t)n, sizeof *ns);
    int rc = !h || !e2 || !w0 || !w1 || !accept || !c || !ns ? dln_fail(err, DLN_ENOMEM, "out of host memory") : DLN_OK;
    if (!rc) rc = dln_network_flow_begin(net);
    if (!rc) rc = dln_network_read(net, ns);
    for (int b = 0; !rc && b < n; b++) {
        if (!(T[b] >= 0) || !isfinite(T[b])) rc = dln_fail(err, DLN_EINPUT, "the flow's end time %g of member %d", T[b], b);
        if (!rc) rc = dln_flow_ctl_start(&c[b], net, b, T[b], rtol, ns[b].grad_sumsq, err);
    }
    for (long tries = 0; !rc; tries++) {
        int running = 0;
        for (int b = 0; b < n; b++) running += (h[b] = dln_flow_ctl_h(&c[b])) > 0;
        if (!running) break;
        if (tries >= max_tries) {
            rc = dln_fail(err, DLN_ERUNTIME, "the flow took %ld tries without reaching its end (a stiff problem: "
                          "the explicit pair's step is capped near 3.3 / lambda_max)", tries);
            break;
        }
        rc = dln_network_flow_try(net, h, e2, w0, w1);
        for (int b = 0; !rc && b < n; b++) accept[b] = dln_flow_ctl_judge(&c[b], h[b], e2[b], w0[b], w1[b]);
        if (!rc) rc = dln_network_flow_settle(net, accept);
    }
    if (!rc) rc = dln_network_evaluate(net); /* the loss and gradient at the end */
    if (!rc) rc = dln_network_read(net, ns);
    for (int b = 0; !rc && b < n; b++)
        st[b] = (dln_flow_stats){c[b].t, c[b].accepted, c[b].rejected, c[b].evaluations, c[b].last_h, ns[b].loss,
                                 sqrt(ns[b].grad_sumsq), c[b].t >= c[b].T};
    free(h), free(e2), free(w0), free(w1), free(accept), free(c), free(ns);
    return rc;
}
