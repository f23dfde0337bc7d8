/* shallow_svd.c: the SVD route of the shallow solver (docs/maths.md section 2), the
 * independent check of the QR route and the route for wide X (m < dx): a thin SVD of X^T
 * (of X when wide) with U formed, M = Y U_r and the residual P = Y - M U_r^T by GEMMs,
 * the least-squares term as the sum of squares of P (0 exactly when r = m). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solver/shallow_internal.h"

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

int dln_sh_solve_svd(dln_backend *be, const dln_data *d, const dln_shallow_opts *opt, dln_shallow *o, dln_error *err)
{
    svd_mats w;
    memset(&w, 0, sizeof w);
    int rc = solve_svd(be, d, opt, o, &w, err);
    free_svd_mats(be, &w);
    return rc;
}
