/* host_ops.c: element-wise references of the backend operations (plain loops with long
 * double accumulation, so they share no code with BLAS), and the shallow optimum by an
 * independent LAPACK route (src/oracle/oracle.h). */
#include <float.h>
#include <lapacke.h>
#include <cblas.h>
#include <stdlib.h>

#include "oracle.h"

void ref_gemm(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *A, int lda,
              const double *B, int ldb, double beta, double *C, int ldc)
{
    // C (m, n) = alpha op(A) (m, k) op(B) (k, n) + beta C
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            long double s = 0;
            for (int p = 0; p < k; p++) {
                double a = trans_a ? A[p + (size_t)i * lda] : A[i + (size_t)p * lda];
                double b = trans_b ? B[j + (size_t)p * ldb] : B[p + (size_t)j * ldb];
                s += (long double)a * b;
            }
            double *c = &C[i + (size_t)j * ldc];
            *c = (double)(alpha * s + (beta == 0.0 ? 0.0L : beta * (long double)*c));
        }
}

double ref_sumsq(int rows, int cols, const double *A, int lda)
{
    long double s = 0;
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++) s += (long double)A[i + (size_t)j * lda] * A[i + (size_t)j * lda];
    return (double)s;
}

int ref_shallow(const dln_data *d, int k, double *optimum, double *lstsq, double *sx, int *rank)
{
    int dx = d->dx, dy = d->dy, m = d->m, ldb = m > dx ? m : dx, ny = dy < m ? dy : m;
    double *A = malloc(sizeof(double) * (size_t)m * dx), *B = calloc((size_t)ldb * dy, sizeof(double));
    double *Yh = malloc(sizeof(double) * (size_t)dy * m), *sy = malloc(sizeof(double) * (size_t)ny);
    int rc = 1;
    if (!A || !B || !Yh || !sy) goto out;
    for (int i = 0; i < dx; i++) /* A = X^T (m, dx), B = Y^T (m, dy) */
        for (int j = 0; j < m; j++) A[j + (size_t)i * m] = d->X[i + (size_t)j * dx];
    for (int i = 0; i < dy; i++)
        for (int j = 0; j < m; j++) B[j + (size_t)i * ldb] = d->Y[i + (size_t)j * dy];
    lapack_int r = 0;
    double rcond = (double)(dx > m ? dx : m) * DBL_EPSILON;
    if (LAPACKE_dgelsd(LAPACK_COL_MAJOR, m, dx, dy, A, m, B, ldb, sx, rcond, &r)) goto out;
    *rank = (int)r;
    /* Yhat (dy, m) = R X, R^T = B[:dx, :] */
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, dy, m, dx, 1.0, B, ldb, d->X, dx, 0.0, Yh, dy);
    double res = 0;
    for (size_t e = 0; e < (size_t)dy * m; e++) res += (d->Y[e] - Yh[e]) * (d->Y[e] - Yh[e]);
    *lstsq = r == m ? 0.0 : 0.5 * res;
    if (LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', dy, m, Yh, dy, sy, NULL, 1, NULL, 1)) goto out;
    double tail = 0;
    for (int i = ny - 1; i >= k; i--) tail += sy[i] * sy[i];
    *optimum = *lstsq + 0.5 * tail;
    rc = 0;
out:
    free(A), free(B), free(Yh), free(sy);
    return rc;
}
