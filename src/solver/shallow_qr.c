/* shallow_qr.c: the QR route of the shallow solver (docs/maths.md section 2), for
 * m >= dx. Its cost is close to one Householder QR of X^T; it never forms U_r (m, r) and
 * keeps in backend memory only a block of rows of X^T and Y^T besides O(dx^2 + dx dy).
 *
 * X^T (m, dx) is factored a block of rows at a time (a flat-tree TSQR): the first block
 * holds rows [0, b1) with b1 = min(m, dx + b); each later block stacks its b rows under
 * the dx rows of the R found so far. Per block, in A (rows, dx) and B (rows + dy, dy):
 *   - host columns of X and Y are uploaded through a small staging matrix and transposed
 *     into the rows of A and B (the squares of Y are summed on the way: ||Y||^2);
 *   - geqrf(A), then B <- Q^T B by ormqr (Q never formed), then triu(A): R;
 *   - B's rows beyond dx, E, are Y's part orthogonal to every column of X^T seen so far:
 *     their squares add to the residual, and E is folded into R_E, the triangular factor
 *     of all of them (geqrf of [E; R_E] in B's rows, in place), which with the first dx
 *     rows of Q^T Y^T carries the singular values of Y.
 * Then, with Z = the first dx rows of Q^T Y^T (dx, dy) and R = U_R S V^T (gesvd, dx x dx):
 *   X^T = (Q U_R) S V^T, so U_r = Q U_R[:, :r], V_r, S_r as the SVD route has them;
 *   W = U_R^T Z (dx, dy); M = W[:r, :]^T = Y U_r;
 *   lstsq = 1/2 (sum over blocks ||E||^2 + ||W[r:, :]||^2): rows of the rotated Y^T outside
 *   the kept subspace, a sum of squares, never a difference; 0 exactly when r = m;
 *   sigma(Y) = sigma([Z; R_E]). */
#include <stdlib.h>
#include <string.h>

#include "solver/shallow_internal.h"

typedef struct {
    dln_mat A, B, tau, Re, SX, SY, U, VT, W, M, sums;
} qr_mats;

static void free_qr_mats(dln_backend *be, qr_mats *w)
{
    dln_mat *all[] = {&w->A, &w->B, &w->tau, &w->Re, &w->SX, &w->SY, &w->U, &w->VT, &w->W, &w->M, &w->sums};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dln_mat_free(be, all[i]);
}

/* Host columns j0..j0+cnt of H (rows, m; ld = rows) into dst (cnt, rows), rows of a backend
 * matrix, through the staging matrix S (rows, c): c columns uploaded, then transposed into
 * place, at a time. With sums, their squares are added into sums[idx]. */
static int load_rows(dln_backend *be, const double *H, int rows, int j0, int cnt, dln_mat *S, dln_mat *dst,
                     dln_mat *sums, int idx)
{
    for (int off = 0; off < cnt; off += S->cols) {
        int c = cnt - off < S->cols ? cnt - off : S->cols;
        dln_mat s = dln_mat_view(S, 0, 0, rows, c), t = dln_mat_view(dst, off, 0, c, rows);
        DLN_TRY(dln_upload(be, &s, H + (size_t)(j0 + off) * (size_t)rows, rows));
        if (sums) DLN_TRY(dln_sumsq(be, &s, sums, idx, 1));
        DLN_TRY(dln_transpose(be, &t, &s));
    }
    return DLN_OK;
}

/* E (e, dy), B's rows [dx, dx + e) after ormqr, folded into R_E (re rows, kept in Re): R_E
 * is copied under E, [E; R_E] factored in place, and its triangle copied back. */
static int fold_e(dln_backend *be, qr_mats *w, int dx, int dy, int e, int *re)
{
    dln_mat below = dln_mat_view(&w->B, dx + e, 0, *re, dy), saved = dln_mat_view(&w->Re, 0, 0, *re, dy);
    if (*re > 0) DLN_TRY(dln_copy(be, &below, &saved));
    dln_mat F = dln_mat_view(&w->B, dx, 0, e + *re, dy);
    DLN_TRY(dln_geqrf(be, &F, &w->tau));
    *re = e + *re < dy ? e + *re : dy;
    dln_mat top = dln_mat_view(&w->B, dx, 0, *re, dy), keep = dln_mat_view(&w->Re, 0, 0, *re, dy);
    DLN_TRY(dln_triu(be, &top));
    return dln_copy(be, &keep, &top);
}

/* Every block of rows of X^T and Y^T: R in A's first dx rows, Z in B's, R_E under Z (re rows). */
static int factor_blocks(dln_backend *be, const dln_data *d, const dln_shallow_layout *lay, qr_mats *w, int *re)
{
    int dx = d->dx, dy = d->dy, m = d->m, b = lay->block_rows;
    int first = m - dx < b ? m : dx + b;
    *re = 0;
    for (int j0 = 0, top = 0; j0 < m; top = dx) {
        int bj = top == 0 ? first : (m - j0 < b ? m - j0 : b), rows = top + bj, e = rows - dx;
        dln_mat a_new = dln_mat_view(&w->A, top, 0, bj, dx), b_new = dln_mat_view(&w->B, top, 0, bj, dy);
        DLN_TRY(load_rows(be, d->X, dx, j0, bj, &w->SX, &a_new, NULL, 0));
        DLN_TRY(load_rows(be, d->Y, dy, j0, bj, &w->SY, &b_new, &w->sums, 1));
        dln_mat A = dln_mat_view(&w->A, 0, 0, rows, dx), B = dln_mat_view(&w->B, 0, 0, rows, dy);
        DLN_TRY(dln_geqrf(be, &A, &w->tau));
        DLN_TRY(dln_ormqr(be, 1, &A, &w->tau, &B));
        dln_mat R = dln_mat_view(&w->A, 0, 0, dx, dx);
        DLN_TRY(dln_triu(be, &R));
        if (e > 0) {
            dln_mat E = dln_mat_view(&w->B, dx, 0, e, dy);
            DLN_TRY(dln_sumsq(be, &E, &w->sums, 0, 1));
            DLN_TRY(fold_e(be, w, dx, dy, e, re));
        }
        j0 += bj;
    }
    return DLN_OK;
}

static int solve_qr(dln_backend *be, const dln_data *d, const dln_shallow_opts *opt, const dln_shallow_layout *lay,
                    dln_shallow *o, qr_mats *w, dln_error *err)
{
    int dx = d->dx, dy = d->dy, m = d->m, b = lay->block_rows, re = 0;
    int first = m - dx < b ? m : dx + b, ny = dy < m ? dy : m;
    double rtol_x, rtol_y;
    dln_sh_thresholds(d, opt->rtol, &rtol_x, &rtol_y);
    o->sx = malloc(sizeof(double) * (size_t)dx);
    double *sy = malloc(sizeof(double) * (size_t)ny);
    if (!o->sx || !sy) {
        free(sy);
        return dln_fail(err, DLN_ENOMEM, "out of host memory in the shallow solver");
    }
    int rc = dln_mat_alloc(be, &w->A, first, dx, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &w->B, first + dy, dy, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &w->tau, dx > dy ? dx : dy, 1, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &w->Re, dy, dy, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &w->SX, dx, lay->chunk, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &w->SY, dy, lay->chunk, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &w->sums, 2, 1, DLN_F64); /* zero-filled: both sums accumulate */
    if (!rc) rc = factor_blocks(be, d, lay, w, &re);
    dln_mat_free(be, &w->SX);
    dln_mat_free(be, &w->SY);

    // R (dx, dx) = U_R S V^T; the rank from S
    dln_mat R = dln_mat_view(&w->A, 0, 0, dx, dx), Z = dln_mat_view(&w->B, 0, 0, dx, dy);
    if (!rc) rc = dln_mat_alloc(be, &w->U, dx, dx, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &w->VT, dx, dx, DLN_F64);
    if (!rc) rc = dln_gesvd(be, &R, o->sx, &w->U, &w->VT);
    if (!rc) rc = dln_sh_rank_x(o, dx, rtol_x, err);
    int r = o->r;
    // W (dx, dy) = U_R^T Z: its first r rows are M^T, the others add to the residual
    if (!rc) rc = dln_mat_alloc(be, &w->W, dx, dy, DLN_F64);
    if (!rc) rc = dln_gemm(be, 1, 0, 1.0, &w->U, &Z, 0.0, &w->W);
    dln_mat Wout = dln_mat_view(&w->W, r, 0, dx - r, dy), Wr = dln_mat_view(&w->W, 0, 0, r, dy);
    if (!rc && r < dx) rc = dln_sumsq(be, &Wout, &w->sums, 0, 1);
    if (!rc) rc = dln_mat_alloc(be, &w->M, dy, r, DLN_F64);
    if (!rc) rc = dln_transpose(be, &w->M, &Wr);
    double sq[2] = {0.0, 0.0};
    if (!rc) rc = dln_download(be, &w->sums, sq, 2);
    /* r = m (only with m = dx = r): nothing lies outside the kept subspace */
    o->lstsq = r == m ? 0.0 : 0.5 * sq[0];
    o->y_half = 0.5 * sq[1];
    // sigma(Y) = sigma([Z; R_E]); then the common end with V_r^T = VT[:r, :]
    dln_mat F = dln_mat_view(&w->B, 0, 0, dx + re, dy), vt = dln_mat_view(&w->VT, 0, 0, r, dx);
    if (!rc) rc = dln_sh_singular_values(be, &F, sy);
    if (!rc) rc = dln_sh_finish(be, d, opt, rtol_y, sy, &w->M, &vt, 0, o, err);
    free(sy);
    return rc;
}

int dln_sh_solve_qr(dln_backend *be, const dln_data *d, const dln_shallow_opts *opt, const dln_shallow_layout *lay,
                    dln_shallow *o, dln_error *err)
{
    qr_mats w;
    memset(&w, 0, sizeof w);
    int rc = solve_qr(be, d, opt, lay, o, &w, err);
    free_qr_mats(be, &w);
    return rc;
}
