/* host_loss.c: long-double references of the losses (dln/ops.h's dln_loss), written from the
 * definitions and not from kernels/loss_math.h's stable forms: the logistic loss as
 * log(1 + e^z) - y z, softmax as logsumexp(z) - y^T z with its Hessian formed as the matrix
 * diag(p) - p p^T, lp through powl. Long double (64-bit mantissa) keeps their cancellation
 * 2^11 below fp64's rounding for the moderate |z| (< 30) the tests draw; the huge-|z| cases of
 * the stable forms are checked against closed forms in the tests themselves. */
#include <math.h>
#include <stdlib.h>

#include "oracle.h"

static long double elem(const dln_loss *l, long double z, long double y, long double *g, long double *h)
{
    long double e = z - y, a = fabsl(e);
    switch (l->kind) {
    case DLN_LOSS_LP:
        *g = (e < 0 ? -1.0L : 1.0L) * powl(a, (long double)l->param - 1);
        *h = ((long double)l->param - 1) * powl(a, (long double)l->param - 2);
        return powl(a, (long double)l->param) / (long double)l->param;
    case DLN_LOSS_MASKED: /* NaN target: unobserved */
        *g = isnan(y) ? 0.0L : e;
        *h = isnan(y) ? 0.0L : 1.0L;
        return isnan(y) ? 0.0L : e * e / 2;
    case DLN_LOSS_HUBER: {
        long double d = l->param;
        *g = a <= d ? e : (e < 0 ? -d : d);
        *h = a <= d ? 1.0L : 0.0L;
        return a <= d ? e * e / 2 : d * a - d * d / 2;
    }
    default: { /* logistic */
        long double s = 1.0L / (1.0L + expl(-z));
        *g = s - y;
        *h = s * (1.0L - s);
        return log1pl(expl(z)) - y * z;
    }
    }
}

/* Column j of softmax: p into P (rows), the value returned. */
static long double softmax_col(int rows, const double *z, const double *y, long double *P)
{
    long double m = z[0], s = 0, yz = 0;
    for (int i = 1; i < rows; i++) m = z[i] > m ? z[i] : m;
    for (int i = 0; i < rows; i++) s += expl((long double)z[i] - m);
    for (int i = 0; i < rows; i++) P[i] = expl((long double)z[i] - m) / s, yz += (long double)y[i] * z[i];
    return m + logl(s) - yz;
}

double ref_loss_gradient(const dln_loss *l, int rows, int cols, const double *Z, int ldz, const double *Y, int ldy,
                         double *G, int ldg)
{
    long double v = 0, *P = malloc(sizeof(long double) * (size_t)rows);
    for (int j = 0; j < cols; j++) {
        const double *z = Z + (size_t)j * ldz, *y = Y + (size_t)j * ldy;
        if (l->kind == DLN_LOSS_SOFTMAX) {
            v += softmax_col(rows, z, y, P);
            for (int i = 0; i < rows; i++) G[i + (size_t)j * ldg] = (double)(P[i] - y[i]);
            continue;
        }
        for (int i = 0; i < rows; i++) {
            long double g, h;
            v += elem(l, z[i], y[i], &g, &h);
            G[i + (size_t)j * ldg] = (double)g;
        }
    }
    free(P);
    return (double)v;
}

void ref_loss_hessian(const dln_loss *l, int rows, int cols, const double *Z, int ldz, const double *Y, int ldy,
                      const double *D, int ldd, double *HD, int ldh)
{
    long double *P = malloc(sizeof(long double) * (size_t)rows);
    for (int j = 0; j < cols; j++) {
        const double *z = Z + (size_t)j * ldz, *y = Y + (size_t)j * ldy, *d = D + (size_t)j * ldd;
        if (l->kind == DLN_LOSS_SOFTMAX) {
            (void)softmax_col(rows, z, y, P);
            for (int i = 0; i < rows; i++) { /* row i of diag(p) - p p^T times d */
                long double s = P[i] * d[i];
                for (int k = 0; k < rows; k++) s -= P[i] * P[k] * d[k];
                HD[i + (size_t)j * ldh] = (double)s;
            }
            continue;
        }
        for (int i = 0; i < rows; i++) {
            long double g, h;
            (void)elem(l, z[i], y[i], &g, &h);
            HD[i + (size_t)j * ldh] = (double)(h * d[i]);
        }
    }
    free(P);
}
