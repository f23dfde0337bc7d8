/* spectral.c: spectral norms of host matrices by power iteration (dln/diagnostics.h),
 * used by the step-size rule. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "dln/diagnostics.h"

double dln_spectral_norm(int rows, int cols, const double *A, int trans, const double *col_scale, int iters)
{
    // B = op(A) diag(1/col_scale) is (p, q): p = rows of op(A), q = its columns
    int p = trans ? cols : rows, q = trans ? rows : cols;
    enum CBLAS_TRANSPOSE to_q = trans ? CblasNoTrans : CblasTrans; /* op(A)^T: R^p -> R^q */
    enum CBLAS_TRANSPOSE to_p = trans ? CblasTrans : CblasNoTrans; /* op(A):   R^q -> R^p */
    double *u = malloc(sizeof(double) * (size_t)(p > 0 ? p : 1)), *un = malloc(sizeof(double) * (size_t)(p > 0 ? p : 1));
    double *w = malloc(sizeof(double) * (size_t)(q > 0 ? q : 1));
    double sigma = NAN;
    if (!u || !un || !w) goto done;
    for (int i = 0; i < p; i++) u[i] = 1.0 + 0.01 * (i % 7);
    sigma = 0.0;
    for (int it = 0; it < iters; it++) {
        double nu = cblas_dnrm2(p, u, 1);
        if (nu == 0.0) break;
        for (int i = 0; i < p; i++) un[i] = u[i] / nu;
        // w = B^T un = diag(1/s) op(A)^T un; sigma = ||w|| <= ||B||_2 since ||un|| = 1
        cblas_dgemv(CblasColMajor, to_q, rows, cols, 1.0, A, rows, un, 1, 0.0, w, 1);
        for (int j = 0; j < q && col_scale; j++) w[j] /= col_scale[j];
        sigma = cblas_dnrm2(q, w, 1);
        // u = B w = op(A) diag(1/s) w
        for (int j = 0; j < q && col_scale; j++) w[j] /= col_scale[j];
        cblas_dgemv(CblasColMajor, to_p, rows, cols, 1.0, A, rows, w, 1, 0.0, u, 1);
    }
done:
    free(u), free(un), free(w);
    return sigma;
}
