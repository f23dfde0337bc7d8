/* hessian.c: the Hessian of the deep loss at a set of weights, for `dln hessian --load DIR`
 * and `dln train --hessian`: a fresh fp64 network on the compressed pair (C, M) (the same
 * Hessian as on (X, Y): the two losses differ by a constant), Lanczos with full
 * reorthogonalisation on exact Hessian-vector products (dln_hessian_extremes), and the
 * summary fields. The eigenvector of lambda_min is saved as W1.npy..WH.npy by the weights'
 * atomic save (--save-direction), so --load and --perturb-dir read it back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Negative curvature is told from rounding at NEGATIVE_TOL max|theta|: the products are
 * exact up to rounding (about 1e-15 relative, tests/test_hessian.c checks 1e-8 against
 * finite differences), so a Ritz value below -1e-8 max|theta| is a true negative eigenvalue
 * (Ritz values lie inside the spectrum: lambda_min(H) <= theta_min). It is also the
 * relative tolerance of dln_lanczos's negative_count (its default). */
#define NEGATIVE_TOL 1e-8

/* Lanczos keeps its whole basis, params x (iters + 1) doubles, besides about 6 weight-shaped
 * sets (start, vectors, scratch): refused before any work when that exceeds half the host's
 * physical memory. */
int cli_hessian_check(const cli_opts *o, const dln_shape *s, int wanted, dln_error *err)
{
    if (!wanted) return DLN_OK;
    double P = (double)dln_shape_params(s), iters = fmin((double)o->dyn.hessian_iters, P);
    double bytes = 8.0 * P * (iters + 7.0);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double limit = pages > 0 && page > 0 ? 0.5 * (double)pages * (double)page : INFINITY;
    if (bytes > limit)
        return dln_fail(err, DLN_EINPUT, "--hessian-iters %d on %.0f parameters: Lanczos needs %.3g GB of host memory "
                        "(more than half of the %.3g GB here); lower --hessian-iters", o->dyn.hessian_iters, P,
                        bytes / 1e9, 2 * limit / 1e9);
    return DLN_OK;
}

/* The library's message for a failed network call (the backend records it). */
static int net_failed(dln_backend *be, int rc, const char *what, dln_error *err)
{
    const dln_error *be_err = dln_backend_error(be);
    if (be_err && be_err->msg[0]) return dln_fail(err, rc, "%s: %s", what, be_err->msg);
    return dln_fail(err, rc, "%s failed (code %d)", what, rc);
}

int cli_hessian_at(dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s, double *const *W,
                   int iters, uint64_t seed, int want_vmin, cli_hessian_result *out, dln_error *err)
{
    memset(out, 0, sizeof *out);
    out->loss = out->grad_norm = NAN;
    out->params = (long)dln_shape_params(s);
    int compressed = sh->C && sh->M, n = compressed ? sh->r : d->m;
    if (iters > out->params) iters = (int)out->params;
    double t0 = dln_clock_seconds();
    dln_network *net = NULL;
    dln_network_config nc = {.n = n, .count = 1, .dtype = DLN_F64};
    int rc = dln_network_create(be, s, &nc, &net);
    if (rc) return net_failed(be, rc, "the network for the Hessian", err);
    rc = dln_network_set_data(net, compressed ? sh->C : d->X, compressed ? sh->M : d->Y);
    if (!rc) rc = dln_network_set_weights(net, 0, W);
    dln_network_stats st = {0, 0};
    if (!rc) rc = dln_network_evaluate(net);
    if (!rc) rc = dln_network_read(net, &st);
    if (rc) rc = net_failed(be, rc, "the loss at the weights", err);
    if (!rc && want_vmin && dln_weights_alloc(s, &out->vmin, err)) rc = err->code;
    dln_hessian_vectors vec = {NULL, out->vmin, NULL};
    out->r.tol = NEGATIVE_TOL;
    if (!rc) rc = dln_hessian_extremes(net, 0, iters, seed, want_vmin ? &vec : NULL, &out->r, err);
    dln_network_destroy(net);
    if (!rc) {
        out->loss = st.loss + (compressed ? sh->lstsq : 0.0); /* the compression's constant: no cancellation */
        out->grad_norm = sqrt(st.grad_sumsq);
    }
    out->seconds = dln_clock_seconds() - t0;
    return rc;
}

void cli_hessian_result_free(const dln_shape *s, cli_hessian_result *h)
{
    dln_weights_free(s->depth, h->vmin);
    h->vmin = NULL;
}

/* theta_min below -NEGATIVE_TOL max|theta| (0 when the Hessian is zero). */
static int negative_curvature(const dln_lanczos_result *r)
{
    double scale = fmax(fabs(r->lambda_max), fabs(r->lambda_min));
    return r->lambda_min < -NEGATIVE_TOL * scale;
}

void cli_put_hessian(dln_json *j, const cli_hessian_result *h, int verdict)
{
    dln_json_num(j, "lambda_max", h->r.lambda_max);
    dln_json_num(j, "lambda_min", h->r.lambda_min);
    dln_json_int(j, "negative_count", h->r.negative_count);
    dln_json_bool(j, "negative_curvature", negative_curvature(&h->r));
    dln_json_num(j, "lambda_max_residual", h->r.residual_max);
    dln_json_num(j, "lambda_min_residual", h->r.residual_min);
    dln_json_int(j, "hessian_iterations", h->r.iterations);
    dln_json_int(j, "hessian_params", h->params);
    dln_json_num(j, "hessian_seconds", h->seconds);
    /* a critical point above the optimum: strict (a descent direction of the curvature) or
     * degenerate (no negative eigenvalue found: escaping needs higher-order terms) */
    if (verdict == DLN_VERDICT_CRITICAL || verdict == DLN_VERDICT_STATIONARY)
        dln_json_str(j, "saddle", negative_curvature(&h->r) ? "strict" : "degenerate");
}

/* `dln hessian`: the weights from --load, the data, the optimum, the Hessian's extremes. */
int cli_hessian(cli_opts *o, dln_error *err)
{
    dln_data d;
    memset(&d, 0, sizeof d);
    dln_shape s = {0, NULL};
    double **W = NULL;
    dln_backend *be = NULL;
    dln_shallow sh;
    memset(&sh, 0, sizeof sh);
    cli_hessian_result h;
    memset(&h, 0, sizeof h);
    dln_staged_weights *staged = NULL;
    const char *note = NULL;
    dln_json j;
    dln_json_init(&j);
    int rc = cli_dyn_check_outputs(o, err), dx, dy, m;
    if (!rc) rc = cli_get_backend(o, err, &be, &note);
    dln_mem_estimate est;
    if (!rc) rc = cli_data_dims(o, &dx, &dy, &m, err);
    if (!rc && m && !(rc = cli_make_shape(o, dx, dy, &s, err))) rc = cli_check_memory(o, &s, dx, dy, m, be, &est, err);
    if (!rc) rc = cli_get_data(o, &d, err);
    dln_shape got = {0, NULL};
    if (!rc && (rc = dln_weights_load(o->load_dir, d.dx, d.dy, &got, &W, err))) dln_error_prefix(err, "--load ");
    if (!rc) { /* the shape from the files as read (a pipe's data sizes were unknown before) */
        dln_shape_free(&s);
        s = got;
    }
    if (!rc) rc = cli_hessian_check(o, &s, 1, err);
    if (!rc) {
        dln_shallow_opts so = {dln_shape_narrowest(&s), o->rank_tol, 1, o->solver, 0};
        rc = dln_shallow_solve_opts(be, &d, &so, &sh, err);
    }
    if (!rc) rc = cli_hessian_at(be, &d, &sh, &s, W, o->dyn.hessian_iters, o->seed, o->dyn.direction_dir != NULL, &h,
                                 err);
    if (!rc && o->dyn.direction_dir && (rc = dln_weights_stage(o->dyn.direction_dir, &s, h.vmin, &staged, err)))
        dln_error_prefix(err, "--save-direction ");
    if (!rc) {
        dln_json_object(&j, NULL);
        dln_json_str(&j, "command", "hessian");
        cli_put_problem(&j, o, &d, be);
        dln_json_int(&j, "depth", s.depth);
        dln_json_ints(&j, "widths", s.dims + 1, s.depth - 1);
        dln_json_int(&j, "narrowest", dln_shape_narrowest(&s));
        dln_json_num(&j, "loss", h.loss);
        dln_json_num(&j, "gap", h.loss - sh.optimum);
        dln_json_num(&j, "rel_gap", (h.loss - sh.optimum) / sh.y_half);
        dln_json_num(&j, "grad_norm", h.grad_norm);
        cli_put_hessian(&j, &h, -1);
        cli_put_shallow(&j, &sh);
        cli_note_hypotheses(o, &sh);
        rc = cli_emit(&j, o, note, err);
    }
    if (!rc && staged) {
        rc = dln_weights_commit(staged, 0, err);
        staged = NULL;
        if (rc) dln_error_prefix(err, "--save-direction ");
    }
    if (!rc) rc = cli_save_data(o, &d, err);
    dln_weights_abort(staged);
    cli_hessian_result_free(&s, &h);
    dln_json_free(&j);
    dln_shallow_free(&sh);
    dln_backend_destroy(be);
    dln_weights_free(s.depth, W);
    dln_shape_free(&s);
    dln_data_free(&d);
    return rc;
}
