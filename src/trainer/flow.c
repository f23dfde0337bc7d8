/* flow.c: the gradient flow of every member of a network to its own time T_b, with an
 * adaptive step per member (docs/maths.md section 10): dln_network_flow_try's Dormand-Prince
 * 5(4) step, the error measured in the Frobenius norm over all layers against
 * rtol max(||W0||, ||W1||) + rtol 1e-3 ||W_start|| (an absolute part scaled to the weights),
 * accepted at err <= 1, the next step h (0.9 err^(-1/5)) times the last, clamped to [1/5, 5]
 * of it (after a rejection to [1/10, 1]), the last step landing on T_b exactly. The first
 * step is 0.01 ||W|| / ||grad L|| (Hairer, Norsett & Wanner II.4's first guess). The cost is
 * 6 gradient evaluations per try; on a stiff problem (a large sharpness) the explicit pair's
 * stability region caps h near 3.3 / lambda_max whatever the tolerance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/trainer_internal.h"

#define ATOL_SHARE 1e-3 /* the absolute tolerance: this share of rtol ||W_start|| */

int dln_flow_integrate(dln_network *net, const double *T, double rtol, long max_tries, dln_flow_stats *st,
                       dln_error *err)
{
    int n = dln_network_count(net), H = dln_network_shape(net)->depth;
    double *h = calloc((size_t)n, sizeof(double)), *e2 = calloc((size_t)n, sizeof(double));
    double *w0 = calloc((size_t)n, sizeof(double)), *w1 = calloc((size_t)n, sizeof(double));
    double *atol = calloc((size_t)n, sizeof(double)), *norms = calloc((size_t)H, sizeof(double));
    int *accept = calloc((size_t)n, sizeof(int));
    dln_network_stats *ns = calloc((size_t)n, sizeof *ns);
    int rc = !h || !e2 || !w0 || !w1 || !atol || !norms || !accept || !ns ? dln_fail(err, DLN_ENOMEM, "out of host memory")
                                                                         : DLN_OK;
    if (!rc) rc = dln_network_flow_begin(net);
    if (!rc) rc = dln_network_read(net, ns);
    for (int b = 0; !rc && b < n; b++) {
        memset(&st[b], 0, sizeof st[b]);
        if (!(T[b] >= 0) || !isfinite(T[b])) rc = dln_fail(err, DLN_EINPUT, "the flow's end time %g of member %d", T[b], b);
        if (!rc) rc = dln_network_layer_norms(net, b, norms);
        double wn = 0.0;
        for (int i = 0; i < H; i++) wn += norms[i] * norms[i];
        wn = sqrt(wn);
        atol[b] = rtol * ATOL_SHARE * (wn > 0 ? wn : 1.0);
        double g = sqrt(ns[b].grad_sumsq);
        h[b] = g > 0 ? 0.01 * (wn > 0 ? wn : 1.0) / g : T[b];
        st[b].evaluations = 1;
    }
    long tries = 0;
    for (; !rc; tries++) {
        int running = 0;
        for (int b = 0; b < n; b++) {
            st[b].reached = st[b].t >= T[b];
            if (st[b].reached) continue;
            running++;
            if (h[b] > T[b] - st[b].t) h[b] = T[b] - st[b].t;
        }
        if (!running) break;
        if (tries >= max_tries) {
            rc = dln_fail(err, DLN_ERUNTIME, "the flow took %ld tries without reaching its end (a stiff problem: "
                          "the explicit pair's step is capped near 3.3 / lambda_max)", tries);
            break;
        }
        double *hh = calloc((size_t)n, sizeof(double));
        if (!hh) {
            rc = dln_fail(err, DLN_ENOMEM, "out of host memory");
            break;
        }
        for (int b = 0; b < n; b++) hh[b] = st[b].reached ? 0.0 : h[b];
        rc = dln_network_flow_try(net, hh, e2, w0, w1);
        free(hh);
        for (int b = 0; !rc && b < n; b++) {
            accept[b] = 0;
            if (st[b].reached) continue;
            st[b].evaluations += 6;
            double sc = rtol * fmax(sqrt(w0[b]), sqrt(w1[b])) + atol[b], e = sqrt(e2[b]) / sc;
            if (e <= 1.0) {
                accept[b] = 1, st[b].accepted++;
                st[b].t = h[b] == T[b] - st[b].t ? T[b] : st[b].t + h[b];
                st[b].last_h = h[b];
                h[b] *= e > 0 ? fmin(5.0, fmax(0.2, 0.9 * pow(e, -0.2))) : 5.0;
            } else {
                st[b].rejected++;
                h[b] *= isfinite(e) ? fmin(1.0, fmax(0.1, 0.9 * pow(e, -0.2))) : 0.1;
            }
        }
        if (!rc) rc = dln_network_flow_settle(net, accept);
    }
    if (!rc) rc = dln_network_evaluate(net); /* the loss and gradient at the end */
    if (!rc) rc = dln_network_read(net, ns);
    for (int b = 0; !rc && b < n; b++) st[b].loss = ns[b].loss, st[b].grad_norm = sqrt(ns[b].grad_sumsq);
    free(h), free(e2), free(w0), free(w1), free(atol), free(norms), free(accept), free(ns);
    return rc;
}
