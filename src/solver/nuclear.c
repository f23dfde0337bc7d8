/* nuclear.c: the nuclear-norm baseline of completion and sensing (dln/matrix.h):
 * min ||R||_* subject to A(R) = b by ADMM (Boyd et al. 2011, section 3; the split R = Z with
 * Z on the affine set): each iteration a singular value thresholding of Z - U (one thin SVD
 * on the backend: LAPACK or cuSOLVER), the projection of R + U onto {A(Z) = b} (completion:
 * the observed entries set to their values; sensing: Z - A^T (A A^T)^{-1} (A(Z) - b) with a
 * Cholesky factor of A A^T made once), and the scaled dual update. rho starts at
 * sqrt(rows cols) / ||Y||_F (the threshold 1/rho a unit's share of the back-projection's
 * size) and is balanced (x2 or /2 when one residual is 10x the other; U rescaled). The
 * small host work (the SVD's reconstruction, the projection) is BLAS. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/clock.h"
#include "dln/matrix.h"
#include "dln/ops.h"

typedef struct {
    dln_backend *be;
    const dln_matrix_data *m;
    int rows, cols, tall;   /* tall: rows >= cols (else the SVD is of the transpose) */
    int p, q;               /* the SVD's (p, q) = the tall orientation's shape, p >= q */
    dln_mat A, U, VT;       /* backend: (p, q), (p, q), (q, q) */
    double *hU, *hVT, *s, *T;  /* host copies; T (p, q) the transposed matrix when !tall */
    double *G;              /* sensing: the Cholesky factor of A A^T (k, k) */
    double *r;              /* sensing: (k) scratch */
} admm;

static void admm_free(admm *a)
{
    dln_mat_free(a->be, &a->A), dln_mat_free(a->be, &a->U), dln_mat_free(a->be, &a->VT);
    free(a->hU), free(a->hVT), free(a->s), free(a->T), free(a->G), free(a->r);
}

static int admm_make(admm *a, dln_backend *be, const dln_matrix_data *m, dln_error *err)
{
    memset(a, 0, sizeof *a);
    a->be = be, a->m = m, a->rows = m->rows, a->cols = m->cols, a->tall = m->rows >= m->cols;
    a->p = a->tall ? m->rows : m->cols, a->q = a->tall ? m->cols : m->rows;
    size_t pq = (size_t)a->p * a->q;
    int rc = dln_mat_alloc(be, &a->A, a->p, a->q, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &a->U, a->p, a->q, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &a->VT, a->q, a->q, DLN_F64);
    a->hU = malloc(sizeof(double) * pq), a->hVT = malloc(sizeof(double) * (size_t)a->q * a->q);
    a->s = malloc(sizeof(double) * (size_t)a->q), a->T = malloc(sizeof(double) * pq);
    if (!rc && (!a->hU || !a->hVT || !a->s || !a->T)) rc = dln_fail(err, DLN_ENOMEM, "out of host memory");
    if (!rc && m->kind == DLN_MATRIX_SENSING) {
        int k = m->k, n = m->rows * m->cols;
        if (k > n)
            rc = dln_fail(err, DLN_EINPUT, "the nuclear-norm baseline needs at most rows x cols = %d measurements "
                          "(%d given: A A^T is singular)", n, k);
        else if (!(a->G = malloc(sizeof(double) * (size_t)k * k)) || !(a->r = malloc(sizeof(double) * (size_t)k)))
            rc = dln_fail(err, DLN_ENOMEM, "out of host memory");
        if (!rc) { // G (k, k) = A A^T, then its Cholesky factor
            cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, k, n, 1.0, m->A, k, 0.0, a->G, k);
            lapack_int info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', k, a->G, k);
            if (info > 0)
                rc = dln_fail(err, DLN_EINPUT, "the nuclear-norm baseline: A A^T is singular (the measurement "
                              "matrices are linearly dependent: leading minor %d)", (int)info);
            else if (info < 0) rc = dln_fail(err, DLN_ERUNTIME, "LAPACKE_dpotrf: argument %d is invalid", (int)-info);
        }
    }
    if (rc) admm_free(a);
    return rc;
}

/* R (rows, cols) := SVT_t(W): U max(S - t, 0) V^T; returns ||R||_*. */
static int svt(admm *a, const double *W, double t, double *R, double *nuc)
{
    int p = a->p, q = a->q;
    const double *in = W;
    if (!a->tall) { /* the transpose (cols, rows) */
        for (int i = 0; i < a->rows; i++)
            for (int j = 0; j < a->cols; j++) a->T[j + (size_t)i * p] = W[i + (size_t)j * a->rows];
        in = a->T;
    }
    DLN_TRY(dln_upload(a->be, &a->A, in, p));
    DLN_TRY(dln_gesvd(a->be, &a->A, a->s, &a->U, &a->VT));
    DLN_TRY(dln_download(a->be, &a->U, a->hU, p));
    DLN_TRY(dln_download(a->be, &a->VT, a->hVT, q));
    int kept = 0;
    double sum = 0.0;
    for (int i = 0; i < q && a->s[i] > t; i++, kept++) {
        double d = a->s[i] - t;
        sum += d;
        cblas_dscal(p, d, a->hU + (size_t)i * p, 1);
    }
    *nuc = sum;
    if (a->tall) { // R (p, q) = U_k diag(d) VT_k
        if (!kept) memset(R, 0, sizeof(double) * (size_t)p * q);
        else cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, p, q, kept, 1.0, a->hU, p, a->hVT, q, 0.0, R, p);
    } else { // R (q, p) = (U_k diag(d) VT_k)^T = VT_k^T (U_k diag(d))^T
        if (!kept) memset(R, 0, sizeof(double) * (size_t)p * q);
        else cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, q, p, kept, 1.0, a->hVT, q, a->hU, p, 0.0, R, q);
    }
    return DLN_OK;
}

/* Z := the projection of V onto {A(Z) = b} (V, Z (rows, cols); may be the same). */
static void project(admm *a, const double *V, double *Z)
{
    const dln_matrix_data *m = a->m;
    size_t n = (size_t)m->rows * m->cols;
    if (Z != V) memcpy(Z, V, sizeof(double) * n);
    if (m->kind == DLN_MATRIX_COMPLETION) {
        for (int l = 0; l < m->k; l++) Z[m->at[l]] = m->b[l];
        return;
    }
    // r = A vec(V) - b; r := (A A^T)^{-1} r; vec(Z) -= A^T r
    memcpy(a->r, m->b, sizeof(double) * (size_t)m->k);
    cblas_dgemv(CblasColMajor, CblasNoTrans, m->k, (int)n, 1.0, m->A, m->k, V, 1, -1.0, a->r, 1);
    LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', m->k, 1, a->G, m->k, a->r, m->k); /* info < 0 only for bad arguments */
    cblas_dgemv(CblasColMajor, CblasTrans, m->k, (int)n, -1.0, m->A, m->k, a->r, 1, 1.0, Z, 1);
}

int dln_nuclear_min(dln_backend *be, const dln_matrix_data *m, double tol, int max_iter, double *R,
                    dln_nuclear_result *res, dln_error *err)
{
    double t0 = dln_clock_seconds();
    memset(res, 0, sizeof *res);
    admm a;
    DLN_TRY(admm_make(&a, be, m, err));
    size_t n = (size_t)m->rows * m->cols;
    double *Z = calloc(n, sizeof(double)), *U = calloc(n, sizeof(double)), *W = malloc(sizeof(double) * n);
    double *Zold = malloc(sizeof(double) * n);
    int rc = !Z || !U || !W || !Zold ? dln_fail(err, DLN_ENOMEM, "out of host memory") : DLN_OK;
    if (!rc) {
        dln_data dense;
        rc = dln_matrix_dense(m, &dense, err);
        if (!rc) {
            project(&a, dense.Y, Z); /* a feasible start */
            dln_data_free(&dense);
        }
    }
    double rho = 0.0, nuc = 0.0;
    if (!rc) {
        double zn = cblas_dnrm2((int)n, Z, 1);
        rho = zn > 0 ? sqrt((double)n) / zn : 1.0;
    }
    for (int it = 1; !rc && it <= max_iter; it++) {
        for (size_t e = 0; e < n; e++) W[e] = Z[e] - U[e];
        rc = svt(&a, W, 1.0 / rho, R, &nuc); /* failures recorded in the backend's record */
        if (rc) break;
        memcpy(Zold, Z, sizeof(double) * n);
        for (size_t e = 0; e < n; e++) W[e] = R[e] + U[e];
        project(&a, W, Z);
        double pr = 0.0, du = 0.0, rn = 0.0, zn = 0.0, un = 0.0;
        for (size_t e = 0; e < n; e++) {
            double d = R[e] - Z[e], dz = Z[e] - Zold[e];
            U[e] += d;
            pr += d * d, du += dz * dz, rn += R[e] * R[e], zn += Z[e] * Z[e], un += U[e] * U[e];
        }
        pr = sqrt(pr), du = rho * sqrt(du);
        double pscale = fmax(sqrt(rn), sqrt(zn)), dscale = rho * sqrt(un);
        res->primal = pscale > 0 ? pr / pscale : pr, res->dual = dscale > 0 ? du / dscale : du;
        res->iterations = it;
        if (res->primal <= tol && res->dual <= tol) {
            res->converged = 1;
            break;
        }
        if (pr > 10 * du || du > 10 * pr) { /* residual balancing; the scaled dual U = y / rho rescaled */
            double f = pr > 10 * du ? 2.0 : 0.5;
            rho *= f;
            cblas_dscal((int)n, 1.0 / f, U, 1);
        }
    }
    if (!rc) {
        res->value = nuc;
        double bn = cblas_dnrm2(m->k, m->b, 1);
        res->residual = sqrt(2.0 * dln_matrix_loss(m, R)) / bn;
    }
    free(Z), free(U), free(W), free(Zold);
    admm_free(&a);
    res->seconds = dln_clock_seconds() - t0;
    const dln_error *be_err = dln_backend_error(be); /* a backend operation's failure, in err too */
    if (rc && err && !err->code && be_err && be_err != err && be_err->code) dln_fail(err, be_err->code, "%s", be_err->msg);
    return rc;
}
