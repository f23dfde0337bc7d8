/* solution.c: a minimiser of the shallow problem from the compressed pair: with
 * X^T = U_r S_r V_r^T, C = V_r S_r and M = Y U_r, every R satisfies
 * 1/2 ||R X - Y||^2 = 1/2 ||R C - M||^2 + lstsq, so R* = [M]_k S_r^-1 V_r^T = [M]_k S_r^-2 C^T
 * with [M]_k the best rank-k approximation of M (Eckart-Young; docs/maths.md section 2).
 * Host LAPACK on the small factors (M is dy x r, r <= min(dx, m)). Also the first mode
 * gradient descent learns from a small start (the step-size rule's curvature floor). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/solver.h"

int dln_shallow_solution(const dln_shallow *sh, int k, double *R, dln_error *err)
{
    // R (dy, dx) = U_k diag(s_k) VT_k (dy, r) diag(1 / sx^2) C^T (r, dx)
    if (!sh->C || !sh->M) return dln_fail(err, DLN_EINPUT, "the solution needs the compressed pair (C, M)");
    if (k < 1) return dln_fail(err, DLN_EINPUT, "the rank bound must be >= 1 (got %d)", k);
    int dy = sh->dy, dx = sh->dx, r = sh->r, n = dy < r ? dy : r;
    if (k > n) k = n;
    double *A = malloc(sizeof(double) * (size_t)dy * r), *s = malloc(sizeof(double) * (size_t)n);
    double *U = malloc(sizeof(double) * (size_t)dy * n), *VT = malloc(sizeof(double) * (size_t)n * r);
    double *sup = malloc(sizeof(double) * (size_t)(n + 1)), *B = malloc(sizeof(double) * (size_t)dy * r);
    int rc = DLN_OK;
    if (!A || !s || !U || !VT || !sup || !B) {
        rc = dln_fail(err, DLN_ENOMEM, "out of host memory for the shallow solution");
        goto done;
    }
    memcpy(A, sh->M, sizeof(double) * (size_t)dy * r);
    lapack_int info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', dy, r, A, dy, s, U, dy, VT, n, sup);
    if (info) {
        rc = dln_fail(err, DLN_ERUNTIME, "LAPACKE_dgesvd of M failed (info %d)", (int)info);
        goto done;
    }
    for (int j = 0; j < k; j++) cblas_dscal(dy, s[j], U + (size_t)j * dy, 1); /* U_k diag(s_k) */
    // B (dy, r) = U_k diag(s_k) VT[:k, :], then its columns divided by sx^2
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, r, k, 1.0, U, dy, VT, n, 0.0, B, dy);
    for (int j = 0; j < r; j++) cblas_dscal(dy, 1.0 / (sh->sx[j] * sh->sx[j]), B + (size_t)j * dy, 1);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, dy, dx, r, 1.0, B, dy, sh->C, dx, 0.0, R, dy);
done:
    free(A), free(s), free(U), free(VT), free(sup), free(B);
    return rc;
}

#define FIRST_MODE_ITERS 30

int dln_shallow_first_mode(const dln_shallow *sh, double *R1, int *learnt, dln_error *err)
{
    // u (dy): top eigenvector of M S_r^2 M^T; w = M^T u (r); R1 = u (C w)^T g2 / s4
    *learnt = 0;
    if (!sh->C || !sh->M) return dln_fail(err, DLN_EINPUT, "the first mode needs the compressed pair (C, M)");
    int dy = sh->dy, dx = sh->dx, r = sh->r;
    double *u = malloc(sizeof(double) * (size_t)dy), *w = malloc(sizeof(double) * (size_t)(r > 0 ? r : 1));
    double *cw = malloc(sizeof(double) * (size_t)dx);
    if (!u || !w || !cw) {
        free(u), free(w), free(cw);
        return dln_fail(err, DLN_ENOMEM, "out of host memory for the first mode");
    }
    for (int i = 0; i < dy; i++) u[i] = 1.0 + 0.5 * sin(1.0 + i); /* fixed, not special */
    int moved = 0;
    for (int it = 0; it < FIRST_MODE_ITERS && r > 0; it++) {
        cblas_dgemv(CblasColMajor, CblasTrans, dy, r, 1.0, sh->M, dy, u, 1, 0.0, w, 1);
        for (int j = 0; j < r; j++) w[j] *= sh->sx[j] * sh->sx[j];
        cblas_dgemv(CblasColMajor, CblasNoTrans, dy, r, 1.0, sh->M, dy, w, 1, 0.0, u, 1);
        double n = cblas_dnrm2(dy, u, 1);
        if (!(n > 0) || !isfinite(n)) break;
        cblas_dscal(dy, 1.0 / n, u, 1);
        moved = 1;
    }
    double g2 = 0.0, s4 = 0.0;
    if (moved) {
        cblas_dgemv(CblasColMajor, CblasTrans, dy, r, 1.0, sh->M, dy, u, 1, 0.0, w, 1);
        for (int j = 0; j < r; j++) {
            double s2 = sh->sx[j] * sh->sx[j];
            g2 += s2 * w[j] * w[j], s4 += s2 * s2 * w[j] * w[j];
        }
        cblas_dgemv(CblasColMajor, CblasNoTrans, dx, r, 1.0, sh->C, dx, w, 1, 0.0, cw, 1);
    }
    if (moved && s4 > 0 && isfinite(g2 / s4)) {
        memset(R1, 0, sizeof(double) * (size_t)dy * dx);
        cblas_dger(CblasColMajor, dy, dx, g2 / s4, u, 1, cw, 1, R1, dy);
        *learnt = 1;
    }
    free(u), free(w), free(cw);
    return DLN_OK;
}
