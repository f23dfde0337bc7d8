/* route_common.c: what both routes of the shallow solver share (shallow_internal.h): the
 * rank thresholds and numerical ranks, singular values of a small backend matrix of any
 * shape, and the common end of a solve: the rank-k tail from sigma(M), the flags, the rank
 * path L*_j and the compressed pair C = V_r S_r, M. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solver/shallow_internal.h"

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
