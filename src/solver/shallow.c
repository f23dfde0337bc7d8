/* shallow.c: the global optimum of the shallow problem min 1/2 ||R X - Y||^2 subject to
 * rank(R) <= k, in closed form (docs/maths.md section 2): a factorisation of X^T truncated
 * to the numerical rank r gives S_r, V_r and M = Y U_r; then, by Eckart-Young,
 *   L* = 1/2 ||Y - M U_r^T||^2 + 1/2 sum_{i>k} sigma_i(M)^2.
 * Two routes compute it. The SVD route (shallow_svd.c): a thin SVD of X^T, U_r (m, r)
 * formed, M = Y U_r and the residual P = Y - M U_r^T by GEMMs; wide X (m < dx) is factored
 * as X. The QR route (shallow_qr.c, the default when m >= dx): Householder QR of X^T in
 * blocks, Q^T Y^T, the SVD of the small triangular factor; U_r is never formed. Both take
 * the least-squares term as a sum of squares of a residual, not as ||Y||^2 - ||M||^2, so
 * L* keeps its relative accuracy when it is small. Every factorisation runs on the backend
 * in fp64; the common end of both routes is dln_sh_finish (route_common.c). This file:
 * the entry points, the route's name, and the bytes a solve takes. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solver/shallow_internal.h"

void dln_shallow_free(dln_shallow *s)
{
    free(s->sx);
    free(s->sm);
    free(s->C);
    free(s->M);
    free(s->optimum_by_rank);
    s->sx = s->sm = s->C = s->M = s->optimum_by_rank = NULL;
}

void dln_shallow_opts_default(dln_shallow_opts *o)
{
    memset(o, 0, sizeof *o);
    o->route = DLN_SOLVER_AUTO;
}

const char *dln_solver_route_name(dln_solver_route r)
{
    switch (r) {
    case DLN_SOLVER_AUTO: return "auto";
    case DLN_SOLVER_SVD: return "svd";
    case DLN_SOLVER_QR: return "qr";
    default: return NULL;
    }
}

int dln_solver_route_parse(const char *s, dln_solver_route *r)
{
    for (int i = DLN_SOLVER_AUTO; i <= DLN_SOLVER_QR; i++)
        if (s && !strcmp(s, dln_solver_route_name((dln_solver_route)i))) {
            *r = (dln_solver_route)i;
            return 0;
        }
    return -1;
}

void dln_shallow_bytes(dln_solver_route route, int dx_, int dy_, int m_, int keep, int backend_is_host, double *peak,
                       double *host_peak, double *kept)
{
    /* the SVD route as solve_svd() allocates, with r <= n = min(dx, m): X, Y throughout; the SVD of X (of X^T
     * when tall) with U and VT; then M and P; then the SVDs of M and of Y in T; then (keep)
     * C and M on the host, with V_r^T while C is formed (tall) */
    double dx = dx_, dy = dy_, m = m_, n = fmin(dx, m), r = n, tall = m >= dx;
    double xy = 8.0 * (dx * m + dy * m + 2), uv = 8.0 * (fmax(m, dx) * n + n * n), mr = 8.0 * dy * r;
    double sv = 8.0 * (n + fmin(dy, r) + fmin(dy, m)); /* host: sx, sm, sy */
    double svd_x = xy + (tall ? 8.0 * m * dx : 0) + uv + dln_gesvd_work_bytes(tall ? m : dx, tall ? dx : m);
    if (!tall) xy -= 8.0 * dx * m; /* a wide X is factorised in place and freed with it */
    double mp = xy + uv + mr + 8.0 * dy * m;
    double svd_y = xy + uv + mr + 8.0 * dy * m + dln_gesvd_work_bytes(dy, m);
    double pair = keep ? 8.0 * (dx * r + dy * r + (tall ? r * dx : 0)) : 0, at_end = xy + uv + mr;
    double be = fmax(fmax(svd_x, mp), fmax(svd_y, at_end));
    if (route == DLN_SOLVER_QR || (route == DLN_SOLVER_AUTO && m_ >= dx_)) {
        /* the QR route (shallow_qr.c) reads X and Y from the host a block at a time: its
         * blocks and small factors only (plan.c); C from V^T as the SVD route forms it */
        at_end = svd_x = mp = svd_y = be = dln_sh_qr_bytes(dx_, dy_, m_);
    }
    *kept = sv + (keep ? 8.0 * (dx * r + dy * r) : 0);
    *host_peak = sv + pair;
    *peak = backend_is_host ? fmax(fmax(svd_x, mp), fmax(svd_y, at_end + pair)) + sv : be;
}

/* ---- entry points ------------------------------------------------------------------- */

int dln_shallow_solve_opts(dln_backend *be, const dln_data *d, const dln_shallow_opts *o, dln_shallow *out,
                           dln_error *err)
{
    memset(out, 0, sizeof *out);
    out->dx = d->dx;
    out->dy = d->dy;
    out->m = d->m;
    /* refuse what cannot fit, or cannot run, before allocating anything */
    dln_shallow_layout lay;
    DLN_TRY(dln_shallow_plan_memory(be, d->dx, d->dy, d->m, o, &lay, err));
    out->route = lay.route;
    int rc;
    if (lay.route == DLN_SOLVER_QR) {
        out->qr_blocks = lay.blocks;
        out->qr_block_rows = lay.block_rows;
        rc = dln_sh_solve_qr(be, d, o, &lay, out, err);
    } else {
        rc = dln_sh_solve_svd(be, d, o, out, err);
    }
    if (rc) dln_shallow_free(out);
    return rc;
}

int dln_shallow_solve(dln_backend *be, const dln_data *d, int k, double rtol, int keep_compressed,
                      dln_shallow *out, dln_error *err)
{
    dln_shallow_opts o;
    dln_shallow_opts_default(&o);
    o.k = k;
    o.rtol = rtol;
    o.keep_compressed = keep_compressed;
    return dln_shallow_solve_opts(be, d, &o, out, err);
}
