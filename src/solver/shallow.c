/* shallow.c: the global optimum of the shallow problem min 1/2 ||R X - Y||^2 subject to
 * rank(R) <= k, in closed form (background.md): a thin SVD of X^T truncated to the
 * numerical rank r gives U_r, S_r, V_r; then M = Y U_r and, by Eckart-Young,
 *   L* = 1/2 ||Y - M U_r^T||^2 + 1/2 sum_{i>k} sigma_i(M)^2.
 * The first term is computed as a residual, not as ||Y||^2 - ||M||^2, so L* keeps its
 * relative accuracy when it is small. Every factorisation runs on the backend in fp64;
 * gesvd needs rows >= cols, so wide matrices are transposed first (dln_shallow_plan
 * lists the factorisations). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/ops.h"
#include "dln/solver.h"

void dln_shallow_free(dln_shallow *s)
{
    free(s->sx);
    free(s->sm);
    free(s->C);
    free(s->M);
    free(s->optimum_by_rank);
    s->sx = s->sm = s->C = s->M = s->optimum_by_rank = NULL;
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

typedef struct {
    dln_mat X, Y, A, U, VT, M, P, T, sums;
} solve_mats;

void dln_shallow_bytes(int dx_, int dy_, int m_, int keep, int backend_is_host, double *peak, double *host_peak,
                       double *kept)
{
    /* as solve() allocates, with r <= n = min(dx, m): X, Y throughout; the SVD of X (of X^T
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
    *kept = sv + (keep ? 8.0 * (dx * r + dy * r) : 0);
    *host_peak = sv + pair;
    *peak = backend_is_host ? fmax(fmax(svd_x, mp), fmax(svd_y, at_end + pair)) + sv : be;
}

static void free_mats(dln_backend *be, solve_mats *w)
{
    dln_mat *all[] = {&w->X, &w->Y, &w->A, &w->U, &w->VT, &w->M, &w->P, &w->T, &w->sums};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dln_mat_free(be, all[i]);
}

/* How gesvd (rows >= cols) sees an operand of shape (rows, cols): transposed when wide. */
static dln_svd_call svd_call(dln_svd_operand what, int rows, int cols, int vectors)
{
    int wide = rows < cols;
    dln_svd_call c = {what, wide, wide ? cols : rows, wide ? rows : cols, vectors};
    return c;
}

void dln_shallow_plan(int dx, int dy, int m, int r, dln_svd_call plan[DLN_SOLVER_SVDS])
{
    /* X with vectors: its transpose X^T (m, dx) when that is tall (m >= dx), else X (dx, m) */
    dln_svd_call x = {DLN_SVD_OF_X, m >= dx, m >= dx ? m : dx, m >= dx ? dx : m, 1};
    plan[0] = x;
    plan[1] = svd_call(DLN_SVD_OF_M, dy, r, 0);
    plan[2] = svd_call(DLN_SVD_OF_Y, dy, m, 0);
}

/* Singular values (descending) of B (rows, cols), any shape: B is copied (or transposed
 * when wide) into scratch T, which is freed afterwards. s holds min(rows, cols) values. */
static int singular_values(dln_backend *be, const dln_mat *B, dln_mat *T, double *s)
{
    dln_svd_call c = svd_call(DLN_SVD_OF_M, B->rows, B->cols, 0);
    DLN_TRY(dln_mat_alloc(be, T, c.rows, c.cols, DLN_F64));
    int rc = c.transposed ? dln_transpose(be, T, B) : dln_copy(be, T, B);
    if (!rc) rc = dln_gesvd(be, T, s, NULL, NULL);
    dln_mat_free(be, T);
    return rc;
}

static int numerical_rank(const double *s, int n, double tol)
{
    int r = 0;
    while (r < n && s[r] > tol) r++;
    return r;
}

static int solve(dln_backend *be, const dln_data *d, int k_req, double rtol, int keep, dln_shallow *o,
                 solve_mats *w, dln_error *err)
{
    int dx = d->dx, dy = d->dy, m = d->m;
    dln_svd_call plan[DLN_SOLVER_SVDS];
    dln_shallow_plan(dx, dy, m, 0, plan);
    int tall = plan[0].transposed; /* X^T (m, dx) is tall: factor it; else factor X (dx, m) itself */
    int n = tall ? dx : m;
    double rtol_y = rtol > 0 ? rtol : (double)(dy > m ? dy : m) * DBL_EPSILON;
    if (rtol <= 0) rtol = (double)(dx > m ? dx : m) * DBL_EPSILON;

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

    o->tol_x = rtol * o->sx[0];
    int r = numerical_rank(o->sx, n, o->tol_x);
    if (r == 0) return dln_fail(err, DLN_EINPUT, "X is numerically zero (rank 0): there is nothing to fit");
    o->rank_x = o->r = r;
    o->cond_x = o->sx[0] / o->sx[r - 1];

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

    // singular values of M and of Y
    int nm = dy < r ? dy : r;
    int ny = dy < m ? dy : m;
    o->sm = malloc(sizeof(double) * (size_t)nm);
    double *sy = malloc(sizeof(double) * (size_t)ny);
    if (!o->sm || !sy) {
        free(sy);
        return dln_fail(err, DLN_ENOMEM, "out of host memory in the shallow solver");
    }
    int rc = singular_values(be, &w->M, &w->T, o->sm);
    if (!rc) rc = singular_values(be, &w->Y, &w->T, sy);
    if (rc) {
        free(sy);
        return rc;
    }
    o->tol_y = rtol_y * sy[0];
    o->rank_y = numerical_rank(sy, ny, o->tol_y);
    free(sy);

    int k = k_req > 0 ? k_req : dx;
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

    if (keep) {
        // C (dx, r) = V_r S_r; M (dy, r) to host
        o->C = malloc(sizeof(double) * (size_t)dx * (size_t)r);
        o->M = malloc(sizeof(double) * (size_t)dy * (size_t)r);
        if (!o->C || !o->M) return dln_fail(err, DLN_ENOMEM, "out of host memory for the compressed data");
        DLN_TRY(dln_download(be, &w->M, o->M, dy));
        if (tall) { /* V_r^T = VT[:r, :] (r, dx) */
            double *vt = malloc(sizeof(double) * (size_t)r * (size_t)dx);
            if (!vt) return dln_fail(err, DLN_ENOMEM, "out of host memory for the compressed data");
            dln_mat v = dln_mat_view(&w->VT, 0, 0, r, dx);
            rc = dln_download(be, &v, vt, r);
            for (int j = 0; !rc && j < r; j++)
                for (int i = 0; i < dx; i++) o->C[i + (size_t)j * dx] = vt[j + (size_t)i * r] * o->sx[j];
            free(vt);
            DLN_TRY(rc);
        } else { /* V_r = U[:, :r] (dx, r) */
            dln_mat v = dln_mat_view(&w->U, 0, 0, dx, r);
            DLN_TRY(dln_download(be, &v, o->C, dx));
            for (int j = 0; j < r; j++)
                for (int i = 0; i < dx; i++) o->C[i + (size_t)j * dx] *= o->sx[j];
        }
    }
    return DLN_OK;
}

int dln_shallow_solve(dln_backend *be, const dln_data *d, int k, double rtol, int keep_compressed,
                      dln_shallow *out, dln_error *err)
{
    memset(out, 0, sizeof *out);
    out->dx = d->dx;
    out->dy = d->dy;
    out->m = d->m;
    /* refuse what cannot fit before allocating anything */
    double need, host, kept;
    dln_shallow_bytes(d->dx, d->dy, d->m, keep_compressed, 0, &need, &host, &kept);
    size_t free_b = 0, total_b = 0;
    DLN_TRY(dln_backend_mem_info(be, &free_b, &total_b));
    if (total_b && need > (double)free_b)
        return dln_fail(err, DLN_EINPUT,
                        "the shallow solver needs %.0f bytes on the %s backend but only %zu are free", need,
                        dln_backend_name(be), free_b);
    solve_mats w;
    memset(&w, 0, sizeof w);
    int rc = solve(be, d, k, rtol, keep_compressed, out, &w, err);
    free_mats(be, &w);
    if (rc) dln_shallow_free(out);
    return rc;
}
