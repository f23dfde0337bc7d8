/* lanczos.c: the extreme eigenvalues of a symmetric operator given only by its products
 * (dln/diagnostics.h). Lanczos from a seeded random start with full reorthogonalisation
 * (twice, classical Gram-Schmidt), the tridiagonal eigenproblem by LAPACKE_dstev, and each
 * Ritz value's residual bound beta_k |z_ki|; optionally stopped once lambda_max's bound meets a
 * relative tolerance. Host work O(k n) per step besides the products. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/diagnostics.h"
#include "dln/rng.h"

/* w -= Q[:, 0..j] (Q^T w), twice. Q is (n, j + 1). */
static void orthogonalise(int n, int j, const double *Q, double *w, double *coef)
{
    for (int pass = 0; pass < 2; pass++) {
        cblas_dgemv(CblasColMajor, CblasTrans, n, j + 1, 1.0, Q, n, w, 1, 0.0, coef, 1);
        cblas_dgemv(CblasColMajor, CblasNoTrans, n, j + 1, -1.0, Q, n, coef, 1, 1.0, w, 1);
    }
}

/* Ritz values and vectors of the k x k tridiagonal (alpha, beta) into out, and the Ritz
 * vectors of the smallest and largest into vmin, vmax (when not NULL). */
static int ritz(int n, int k, const double *Q, const double *alpha, const double *beta, double beta_k,
                dln_lanczos_result *out, double *vmin, double *vmax, dln_error *err)
{
    double *d = malloc(sizeof(double) * (size_t)k), *e = malloc(sizeof(double) * (size_t)(k > 1 ? k : 2));
    double *Z = malloc(sizeof(double) * (size_t)k * (size_t)k);
    int rc = DLN_OK;
    if (!d || !e || !Z) {
        rc = dln_fail(err, DLN_ENOMEM, "out of host memory in the Lanczos iteration");
        goto done;
    }
    memcpy(d, alpha, sizeof(double) * (size_t)k);
    for (int i = 0; i + 1 < k; i++) e[i] = beta[i];
    lapack_int info = LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', k, d, e, Z, k);
    if (info) {
        rc = dln_fail(err, DLN_ERUNTIME, "LAPACKE_dstev failed (info %d) in the Lanczos iteration", (int)info);
        goto done;
    }
    /* ascending: d[0] is the smallest Ritz value; its residual is beta_k |Z[k-1, i]| */
    out->lambda_min = d[0];
    out->lambda_max = d[k - 1];
    out->residual_min = beta_k * fabs(Z[k - 1]);
    out->residual_max = beta_k * fabs(Z[(k - 1) + (size_t)(k - 1) * k]);
    double scale = fmax(fabs(d[0]), fabs(d[k - 1]));
    out->negative_count = 0;
    for (int i = 0; i < k; i++) /* converged and negative beyond rounding */
        if (d[i] < -out->tol * scale && beta_k * fabs(Z[(k - 1) + (size_t)i * k]) <= out->tol * scale)
            out->negative_count++;
    for (int i = 0; out->top && i < out->top_k; i++) out->top[i] = i < k ? d[k - 1 - i] : NAN;
    if (vmin) cblas_dgemv(CblasColMajor, CblasNoTrans, n, k, 1.0, Q, n, Z, 1, 0.0, vmin, 1);
    if (vmax) cblas_dgemv(CblasColMajor, CblasNoTrans, n, k, 1.0, Q, n, Z + (size_t)(k - 1) * k, 1, 0.0, vmax, 1);
done:
    free(d), free(e), free(Z);
    return rc;
}

/* Whether the top_k largest Ritz values of the k x k tridiagonal have residual bounds
 * beta_k |z_ki| of at most rtol times themselves (an eigenvalue problem of its own, O(k^2) per
 * call). */
static int max_converged(int k, const double *alpha, const double *beta, double rtol, int top_k)
{
    double *d = malloc(sizeof(double) * (size_t)k), *e = malloc(sizeof(double) * (size_t)(k > 1 ? k : 2));
    double *Z = malloc(sizeof(double) * (size_t)k * (size_t)k);
    int ok = 0;
    if (d && e && Z) {
        memcpy(d, alpha, sizeof(double) * (size_t)k);
        for (int i = 0; i + 1 < k; i++) e[i] = beta[i];
        if (!LAPACKE_dstev(LAPACK_COL_MAJOR, 'V', k, d, e, Z, k)) {
            ok = k >= top_k;
            for (int i = k - 1; ok && i >= k - top_k; i--) /* the top_k largest (ascending order) */
                ok = beta[k - 1] * fabs(Z[(k - 1) + (size_t)i * k]) <= rtol * fabs(d[i]);
        }
    }
    free(d), free(e), free(Z);
    return ok;
}

int dln_lanczos(int n, dln_matvec_fn matvec, void *ctx, int iters, uint64_t seed, const dln_lanczos_vectors *vec,
                dln_lanczos_result *out, dln_error *err)
{
    int k_max = iters < n ? iters : n;
    if (n < 1 || k_max < 1) return dln_fail(err, DLN_EINPUT, "Lanczos needs n >= 1 and iters >= 1");
    double *Q = malloc(sizeof(double) * (size_t)n * (size_t)(k_max + 1)), *w = malloc(sizeof(double) * (size_t)n);
    double *alpha = calloc((size_t)k_max, sizeof(double)), *beta = calloc((size_t)k_max + 1, sizeof(double));
    double *coef = malloc(sizeof(double) * (size_t)(k_max + 1));
    int rc = DLN_OK, k = 0;
    if (!Q || !w || !alpha || !beta || !coef) {
        rc = dln_fail(err, DLN_ENOMEM, "out of host memory in the Lanczos iteration (%d x %d)", n, k_max + 1);
        goto done;
    }
    if (!(out->tol > 0)) out->tol = 1e-8;
    dln_rng g;
    dln_rng_seed(&g, seed, 7);
    for (int i = 0; i < n; i++) Q[i] = vec && vec->start ? vec->start[i] : dln_rng_normal(&g);
    double q0 = cblas_dnrm2(n, Q, 1);
    if (!(q0 > 0) || !isfinite(q0)) { /* a zero or broken warm start: a random one */
        for (int i = 0; i < n; i++) Q[i] = dln_rng_normal(&g);
        q0 = cblas_dnrm2(n, Q, 1);
    }
    cblas_dscal(n, 1.0 / q0, Q, 1);
    double anorm = 0.0;
    for (k = 0; k < k_max; k++) {
        double *q = Q + (size_t)k * n;
        if ((rc = matvec(ctx, q, w))) goto done;
        alpha[k] = cblas_ddot(n, q, 1, w, 1);
        orthogonalise(n, k, Q, w, coef);
        beta[k] = cblas_dnrm2(n, w, 1);
        if (!isfinite(alpha[k]) || !isfinite(beta[k])) { /* the operator gave non-finite values */
            out->lambda_max = out->lambda_min = NAN;
            out->residual_max = out->residual_min = NAN;
            out->negative_count = 0;
            out->iterations = k + 1;
            goto done;
        }
        anorm = fmax(anorm, fabs(alpha[k]) + beta[k] + (k ? beta[k - 1] : 0.0));
        if (out->stop_rtol > 0 && k + 1 < k_max && max_converged(k + 1, alpha, beta, out->stop_rtol, out->top_k > 1 ? out->top_k : 1)) {
            k++;
            break;
        }
        /* an invariant subspace (or the operator is zero): the Ritz values are exact */
        if (k + 1 == k_max || beta[k] <= 1e-14 * anorm || anorm == 0.0) {
            k++;
            break;
        }
        memcpy(Q + (size_t)(k + 1) * n, w, sizeof(double) * (size_t)n);
        cblas_dscal(n, 1.0 / beta[k], Q + (size_t)(k + 1) * n, 1);
    }
    out->iterations = k;
    rc = ritz(n, k, Q, alpha, beta, beta[k - 1], out, vec ? vec->vmin : NULL, vec ? vec->vmax : NULL, err);
done:
    free(Q), free(w), free(alpha), free(beta), free(coef);
    return rc;
}
