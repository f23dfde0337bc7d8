/* weights_product.c: the end-to-end product R = W_H...W_1 of host weights, by CBLAS (the
 * certificate's and the matrix metrics' product of a member's final weights; a network on a
 * backend forms its own with dln_network_product). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "dln/model.h"

int dln_weights_product(const dln_shape *s, double *const *W, double *R, dln_error *err)
{
    // R (d_H, d_0) = W_H (d_H, d_{H-1}) ... W_1 (d_1, d_0), ping-pong over (max d_i, d_0) buffers
    int dx = s->dims[0], dmax = dx;
    for (int i = 1; i <= s->depth; i++) dmax = s->dims[i] > dmax ? s->dims[i] : dmax;
    double *a = malloc(sizeof(double) * (size_t)dmax * dx), *b = malloc(sizeof(double) * (size_t)dmax * dx);
    if (!a || !b) {
        free(a), free(b);
        return dln_fail(err, DLN_ENOMEM, "out of host memory");
    }
    memcpy(a, W[0], sizeof(double) * (size_t)s->dims[1] * dx);
    for (int i = 1; i < s->depth; i++) {
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, s->dims[i + 1], dx, s->dims[i], 1.0, W[i],
                    s->dims[i + 1], a, s->dims[i], 0.0, b, s->dims[i + 1]);
        double *t = a;
        a = b, b = t;
    }
    memcpy(R, a, sizeof(double) * (size_t)s->dims[s->depth] * dx);
    free(a), free(b);
    return DLN_OK;
}
