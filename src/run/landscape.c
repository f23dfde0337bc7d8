/* landscape.c: the Hessian of the deep loss at a set of weights, for `dln hessian` (at the
 * loaded weights) and a run's end (hessian): a fresh fp64 network of one member on the fit's
 * compression where it was kept (the same Hessian as on the data: the two losses differ by
 * a constant, which the reported loss adds back without cancellation: loss = the network's
 * loss + the compression's offset), Lanczos with full reorthogonalisation on exact
 * Hessian-vector products (dln_hessian_extremes), and the eigenvector of lambda_min when it
 * is to be saved. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/experiment_internal.h"

/* Negative curvature is told from rounding at NEGATIVE_TOL max|theta|: the products are
 * exact up to rounding (about 1e-15 relative, tests/test_hessian.c checks 1e-8 against
 * finite differences), so a Ritz value below -1e-8 max|theta| is a true negative eigenvalue
 * (Ritz values lie inside the spectrum: lambda_min(H) <= theta_min). It is also the
 * relative tolerance of dln_lanczos's negative_count (its default). */
#define NEGATIVE_TOL 1e-8

static int iters_of(const dln_experiment *e)
{
    return e->o.hessian_iters > 0 ? e->o.hessian_iters : DLN_DEFAULT_HESSIAN_ITERS;
}

/* Lanczos keeps its whole basis, params x (iters + 1) doubles, besides about 6 weight-shaped
 * sets (start, vectors, scratch): refused before any work when that exceeds half the host's
 * physical memory. */
int dln_exp_check_hessian(dln_experiment *e)
{
    if (!(e->o.hessian || e->o.command == DLN_EXPERIMENT_HESSIAN)) return DLN_OK;
    double P = (double)dln_shape_params(&e->s), iters = fmin((double)iters_of(e), P);
    double bytes = 8.0 * P * (iters + 7.0);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double limit = pages > 0 && page > 0 ? 0.5 * (double)pages * (double)page : INFINITY;
    if (bytes > limit)
        return dln_exp_at(e, DLN_PART_HESSIAN_ITERS,
                          dln_fail(e->err, DLN_EINPUT, "%d Lanczos steps on %.0f parameters: Lanczos needs %.3g GB of "
                                   "host memory (more than half of the %.3g GB here); ask for fewer steps",
                                   iters_of(e), P, bytes / 1e9, 2 * limit / 1e9));
    return DLN_OK;
}

/* The library's message for a failed network call (the backend records it). */
static int net_failed(dln_experiment *e, int rc, const char *what)
{
    const dln_error *be_err = dln_backend_error(e->be);
    if (be_err && be_err->msg[0] && be_err != e->err) return dln_fail(e->err, rc, "%s: %s", what, be_err->msg);
    if (e->err->code) return rc;
    return dln_fail(e->err, rc, "%s failed (code %d)", what, rc);
}

int dln_exp_hessian_at(dln_experiment *e, double *const *W, int want_vmin)
{
    dln_hessian_report *out = &e->h;
    const dln_fit *fit = &e->fit;
    const dln_shape *s = &e->s;
    memset(out, 0, sizeof *out);
    out->loss = out->grad_norm = NAN;
    out->params = (long)dln_shape_params(s);
    int compressed = fit->C && fit->M, n = compressed ? fit->r : fit->m, iters = iters_of(e);
    if (iters > out->params) iters = (int)out->params;
    double t0 = dln_clock_seconds();
    dln_network *net = NULL;
    dln_network_config nc = {.n = n, .count = 1, .dtype = DLN_F64, .objective = fit->objective};
    int rc = dln_network_create(e->be, s, &nc, &net);
    if (rc) return net_failed(e, rc, "the network for the Hessian");
    rc = dln_network_set_data(net, compressed ? fit->C : fit->X, compressed ? fit->M : fit->Y);
    if (!rc) rc = dln_network_set_weights(net, 0, W);
    dln_network_stats st = {0, 0};
    if (!rc) rc = dln_network_evaluate(net);
    if (!rc) rc = dln_network_read(net, &st);
    if (rc) rc = net_failed(e, rc, "the loss at the weights");
    if (!rc && want_vmin) rc = dln_weights_alloc(s, &out->vmin, e->err);
    dln_hessian_vectors vec = {NULL, out->vmin, NULL};
    out->r.tol = NEGATIVE_TOL;
    uint64_t seed = dln_exp_member(e, 0).seed; /* the start vector's: the run's seed */
    if (!rc) rc = dln_hessian_extremes(net, 0, iters, seed, want_vmin ? &vec : NULL, &out->r, e->err);
    dln_network_destroy(net);
    if (!rc) {
        out->loss = st.loss + (compressed ? fit->offset : 0.0); /* the compression's constant: no cancellation */
        out->grad_norm = sqrt(st.grad_sumsq);
    }
    out->seconds = dln_clock_seconds() - t0;
    return rc;
}

void dln_exp_hessian_free(dln_experiment *e)
{
    dln_weights_free(e->s.depth, e->h.vmin);
    e->h.vmin = NULL;
}
