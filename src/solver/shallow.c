/* shallow.c: the global optimum of the shallow problem min 1/2 ||R X - Y||^2 subject to
 * rank(R) <= k, in closed form (docs/maths.md section 2): a factorisation of X^T truncated
 * to the numerical rank r gives S_r, V_r and M = Y U_r; then, by Eckart-Young,
 *   L* = 1/2 ||Y - M U_r^T||^2 + 1/2 sum_{i>k} sigma_i(M)^2.
 * Two routes compute it. The SVD route (this file): a thin SVD of X^T, U_r (m, r) formed,
 * M = Y U_r and the residual P = Y - M U_r^T by GEMMs; wide X (m < dx) is factored as X.
 * The QR route (shallow_qr.c, the default when m >= dx): Householder QR of X^T in blocks,
 * Q^T Y^T, the SVD of the small triangular factor; U_r is never formed. Both take the
 * least-squares term as a sum of squares of a residual, not as ||Y||^2 - ||M||^2, so L*
 * keeps its relative accuracy when it is small. Every factorisation runs on the backend in
 * fp64; the common end of both routes is dln_sh_finish below. */
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

void dln_sh_thresholds(const dln_data *d, double rtol, double *rtol_x, double *rtol_y)
{
    *rtol_x = rtol > 0 ? rtol : (double)(d->dx > d->m ? d->dx : d->m) * DBL_EPSILON;
    *rtol_y = rtol > 0 ? rtol : (double)(d->dy > d->m ? d->dy : d->m) * DBL_EPSILON;
}

int dln_sh_numerical_rank(const double *s, int n, double tol)
{
    int r = 0;
    while (r < n && s[r] > tol) r++;
    return r;
}

int dln_sh_rank_x(dln_shallow *o, int n, double rtol_x, dln_error *err)
{
    o->tol_x = rtol_x * o->sx[0];
    int r = dln_sh_numerical_rank(o->sx, n, o->tol_x);
    if (r == 0) return dln_fail(err, DLN_EINPUT, "X is numerically zero (rank 0): there is nothing to fit");
    o->rank_x = o->r = r;
    o->cond_x = o->sx[0] / o->sx[r - 1];
    return DLN_OK;
}

int dln_sh_singular_values(dln_backend *be, const dln_mat *B, double *s)
{
    int wide = B->rows < B->cols;
    dln_mat T;
    DLN_TRY(dln_mat_alloc(be, &T, wide ? B->cols : B->rows, wide ? B->rows : B->cols, DLN_F64));
    int rc = wide ? dln_transpose(be, &T, B) : dln_copy(be, &T, B);
    if (!rc) rc = dln_gesvd(be, &T, s, NULL, NULL);
    dln_mat_free(be, &T);
    return rc;
}

/* L*_j = lstsq + 1/2 sum_{i>j} sigma_i(M)^2 for j = 0..nm, tails summed small ones first. */
static int rank_path(dln_shallow *o, int nm, dln_error *err)
{
    o->n_ranks = nm + 1;
    o->optimum_by_rank = malloc(sizeof(double) * (size_t)o->n_ranks);
    if (!o->optimum_by_rank) return dln_fail(err, DLN_ENOMEM, "out of host memory in the shallow solver");
    double tail = 0.0;
    for (int j = nm; j >= 0; j--) {
        o->optimum_by_rank[j] = o->lstsq + 0.5 * tail;
        if (j > 0) tail += o->sm[j - 1] * o->sm[j - 1];
    }
    return DLN_OK;
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

/* C (dx, r) = V_r S_r on the host, from vt (r, dx) = V_r^T, or from v (dx, r) = V_r. */
static int keep_c(dln_backend *be, const dln_mat *v, int v_cols, dln_shallow *o, dln_error *err)
{
    int dx = o->dx, r = o->r;
    o->C = malloc(sizeof(double) * (size_t)dx * (size_t)r);
    if (!o->C) return dln_fail(err, DLN_ENOMEM, "out of host memory for the compressed data");
    if (v_cols) {
        DLN_TRY(dln_download(be, v, o->C, dx));
        for (int j = 0; j < r; j++)
            for (int i = 0; i < dx; i++) o->C[i + (size_t)j * dx] *= o->sx[j];
        return DLN_OK;
    }
    double *vt = malloc(sizeof(double) * (size_t)r * (size_t)dx);
    if (!vt) return dln_fail(err, DLN_ENOMEM, "out of host memory for the compressed data");
    int rc = dln_download(be, v, vt, r);
    for (int j = 0; !rc && j < r; j++)
        for (int i = 0; i < dx; i++) o->C[i + (size_t)j * dx] = vt[j + (size_t)i * r] * o->sx[j];
    free(vt);
    return rc;
}

int dln_sh_finish(dln_backend *be, const dln_data *d, const dln_shallow_opts *opt, double rtol_y, const double *sy,
                  const dln_mat *M, const dln_mat *v, int v_cols, dln_shallow *o, dln_error *err)
{
    int dx = d->dx, dy = d->dy, m = d->m, r = o->r;
    int nm = dy < r ? dy : r, ny = dy < m ? dy : m;
    o->tol_y = rtol_y * sy[0];
    o->rank_y = dln_sh_numerical_rank(sy, ny, o->tol_y);
    // singular values of M (dy, r)
    o->sm = malloc(sizeof(double) * (size_t)nm);
    if (!o->sm) return dln_fail(err, DLN_ENOMEM, "out of host memory in the shallow solver");
    DLN_TRY(dln_sh_singular_values(be, M, o->sm));

    int k = opt->k > 0 ? opt->k : dx;
    if (k > dx) k = dx;
    if (k > dy) k = dy;
    o->k = k;
    double tail = 0.0;
    for (int i = nm - 1; i >= k; i--) tail += o->sm[i] * o->sm[i]; /* small ones first */
    o->tail = 0.5 * tail;
    o->optimum = o->lstsq + o->tail;
    o->sigma_k = k <= nm ? o->sm[k - 1] : 0.0;
    o->sigma_k1 = k < nm ? o->sm[k] : 0.0;
    o->constrained = k < nm && o->sm[k] > o->tol_y;
    o->hypotheses = o->rank_x == dx && o->rank_y == dy;
    DLN_TRY(rank_path(o, nm, err));

    if (opt->keep_compressed) {
        o->M = malloc(sizeof(double) * (size_t)dy * (size_t)r);
        if (!o->M) return dln_fail(err, DLN_ENOMEM, "out of host memory for the compressed data");
        DLN_TRY(dln_download(be, M, o->M, dy));
        DLN_TRY(keep_c(be, v, v_cols, o, err));
    }
    return DLN_OK;
}

/* ---- the SVD route ------------------------------------------------------------------ */

typedef struct {
    dln_mat X, Y, A, U, VT, M, P, sums;
} svd_mats;

static void free_svd_mats(dln_backend *be, svd_mats *w)
{
    dln_mat *all[] = {&w->X, &w->Y, &w->A, &w->U, &w->VT, &w->M, &w->P, &w->sums};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dln_mat_free(be, all[i]);
}

static int solve_svd(dln_backend *be, const dln_data *d, const dln_shallow_opts *opt, dln_shallow *o, svd_mats *w,
                     dln_error *err)
{
    int dx = d->dx, dy = d->dy, m = d->m;
    int tall = m >= dx; /* X^T (m, dx) is tall: factor it; else factor X (dx, m) itself */
    int n = tall ? dx : m, ny = dy < m ? dy : m;
    double rtol_x, rtol_y;
    dln_sh_thresholds(d, opt->rtol, &rtol_x, &rtol_y);

    o->sx = malloc(sizeof(double) * (size_t)n);
    if (!o->sx) return dln_fail(err, DLN_ENOMEM, "out of host memory in the shallow solver");

    // X (dx, m), Y (dy, m) in fp64 on the backend
    DLN_TRY(dln_mat_alloc(be, &w->X, dx, m, DLN_F64));
    DLN_TRY(dln_mat_alloc(be, &w->Y, dy, m, DLN_F64));
    DLN_TRY(dln_mat_alloc(be, &w->sums, 2, 1, DLN_F64));
    DLN_TRY(dln_upload(be, &w->X, d->X, dx));
    DLN_TRY(dln_upload(be, &w->Y, d->Y, dy));

    // tall: X^T (m, dx) = U (m, dx) S VT (dx, dx); wide: X (dx, m) = U (dx, m) S VT (m, m)
    if (tall) {
        DLN_TRY(dln_mat_alloc(be, &w->A, m, dx, DLN_F64));
        DLN_TRY(dln_transpose(be, &w->A, &w->X));
    } else {
        w->A = w->X;
        memset(&w->X, 0, sizeof w->X);
    }
    DLN_TRY(dln_mat_alloc(be, &w->U, w->A.rows, n, DLN_F64));
    DLN_TRY(dln_mat_alloc(be, &w->VT, n, n, DLN_F64));
    DLN_TRY(dln_gesvd(be, &w->A, o->sx, &w->U, &w->VT));
    dln_mat_free(be, &w->A);
    DLN_TRY(dln_sh_rank_x(o, n, rtol_x, err));
    int r = o->r;

    // U_r (m, r) is U[:, :r] when tall, VT[:r, :]^T when wide
    dln_mat Ur = tall ? dln_mat_view(&w->U, 0, 0, m, r) : dln_mat_view(&w->VT, 0, 0, r, m);
    int tU = !tall;
    // M (dy, r) = Y (dy, m) U_r (m, r)
    DLN_TRY(dln_mat_alloc(be, &w->M, dy, r, DLN_F64));
    DLN_TRY(dln_gemm(be, 0, tU, 1.0, &w->Y, &Ur, 0.0, &w->M));
    // P (dy, m) = Y - M U_r^T: the part of Y no R can reach
    DLN_TRY(dln_mat_alloc(be, &w->P, dy, m, DLN_F64));
    DLN_TRY(dln_copy(be, &w->P, &w->Y));
    DLN_TRY(dln_gemm(be, 0, !tU, -1.0, &w->M, &Ur, 1.0, &w->P));
    DLN_TRY(dln_sumsq(be, &w->P, &w->sums, 0, 0));
    DLN_TRY(dln_sumsq(be, &w->Y, &w->sums, 1, 0));
    double sq[2];
    DLN_TRY(dln_download(be, &w->sums, sq, 2));
    /* with r = m, U_r is square orthogonal and the residual is zero exactly */
    o->lstsq = r == m ? 0.0 : 0.5 * sq[0];
    o->y_half = 0.5 * sq[1];
    dln_mat_free(be, &w->P);

    // singular values of Y, then the common end; V_r^T = VT[:r, :] when tall, V_r = U[:, :r] when wide
    double *sy = malloc(sizeof(double) * (size_t)ny);
    if (!sy) return dln_fail(err, DLN_ENOMEM, "out of host memory in the shallow solver");
    int rc = dln_sh_singular_values(be, &w->Y, sy);
    dln_mat v = tall ? dln_mat_view(&w->VT, 0, 0, r, dx) : dln_mat_view(&w->U, 0, 0, dx, r);
    if (!rc) rc = dln_sh_finish(be, d, opt, rtol_y, sy, &w->M, &v, !tall, o, err);
    free(sy);
    return rc;
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
        svd_mats w;
        memset(&w, 0, sizeof w);
        rc = solve_svd(be, d, o, out, &w, err);
        free_svd_mats(be, &w);
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
