/* factor.c: a balanced factorisation of an end-to-end matrix into the layers of a shape:
 * R = U S V^T (LAPACK SVD) truncated to k = min(rank R, d_p), W_1 = E_1 S^(1/H) V_k^T,
 * W_j = E_j S^(1/H) E_{j-1}^T, W_H = U_k S^(1/H) E_{H-1}^T with E_j the first k columns of the
 * d_j x d_j identity. Then W_H...W_1 = [R]_k and W_{j+1}^T W_{j+1} = W_j W_j^T (balanced);
 * any other orthonormal E_j gives the same loss and the same Hessian spectrum. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/model.h"

int dln_weights_balanced_factor(const dln_shape *s, const double *R, double **W, dln_error *err)
{
    // R is (dy, dx); W[i] is (d_{i+1}, d_i)
    int H = s->depth, dx = s->dims[0], dy = s->dims[H], n = dx < dy ? dx : dy, kmax = dln_shape_narrowest(s);
    double *A = malloc(sizeof(double) * (size_t)dy * dx), *sv = malloc(sizeof(double) * (size_t)n);
    double *U = malloc(sizeof(double) * (size_t)dy * n), *VT = malloc(sizeof(double) * (size_t)n * dx);
    double *sup = malloc(sizeof(double) * (size_t)(n + 1));
    int rc = DLN_OK;
    if (!A || !sv || !U || !VT || !sup) {
        rc = dln_fail(err, DLN_ENOMEM, "out of host memory factorising a product");
        goto done;
    }
    memcpy(A, R, sizeof(double) * (size_t)dy * dx);
    lapack_int info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', dy, dx, A, dy, sv, U, dy, VT, n, sup);
    if (info) {
        rc = dln_fail(err, DLN_ERUNTIME, "LAPACKE_dgesvd failed factorising a product (info %d)", (int)info);
        goto done;
    }
    int k = 0;
    while (k < n && k < kmax && sv[k] > 0) k++;
    for (int i = 0; i < H; i++) memset(W[i], 0, sizeof(double) * (size_t)s->dims[i + 1] * s->dims[i]);
    for (int j = 0; j < k; j++) {
        double f = pow(sv[j], 1.0 / H);
        for (int i = 1; i <= H; i++) {
            int rows = s->dims[i], cols = s->dims[i - 1];
            double *w = W[i - 1];
            if (H == 1) {
                for (int a = 0; a < dy; a++)
                    for (int b = 0; b < dx; b++) w[a + (size_t)b * rows] += U[a + (size_t)j * dy] * sv[j] * VT[j + (size_t)b * n];
            } else if (i == 1) { /* row j of W_1 = f v_j^T */
                for (int b = 0; b < dx; b++) w[j + (size_t)b * rows] = f * VT[j + (size_t)b * n];
            } else if (i == H) { /* column j of W_H = f u_j */
                for (int a = 0; a < dy; a++) w[a + (size_t)j * rows] = f * U[a + (size_t)j * dy];
            } else { /* E_i f E_{i-1}^T: entry (j, j) */
                w[j + (size_t)j * rows] = f;
            }
            (void)cols;
        }
    }
done:
    free(A), free(sv), free(U), free(VT), free(sup);
    return rc;
}
