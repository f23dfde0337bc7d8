/* balancedness.c: how far a network's weights are from balanced (Arora et al. 2018):
 * max_j ||W_{j+1}^T W_{j+1} - W_j W_j^T||_F / ||W_j W_j^T||_F, on the host with OpenBLAS. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "dln/diagnostics.h"

/* ||D||_F^2 of a symmetric (d, d) matrix whose upper triangle D holds. */
static double sym_sumsq(const double *D, int d)
{
    double s = 0.0;
    for (int c = 0; c < d; c++)
        for (int r = 0; r <= c; r++) s += (r == c ? 1.0 : 2.0) * D[r + (size_t)c * d] * D[r + (size_t)c * d];
    return s;
}

double dln_weights_balancedness(const dln_shape *s, double *const *W)
{
    // for each j: D = W_{j+1}^T W_{j+1} - W_j W_j^T (d_j, d_j); worst ||D|| / ||W_j W_j^T||
    double worst = 0.0;
    for (int j = 1; j < s->depth; j++) {
        int d = s->dims[j];
        double *D = calloc((size_t)d * d, sizeof(double));
        if (!D) return NAN;
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasNoTrans, d, s->dims[j - 1], 1.0, W[j - 1], d, 0.0, D, d);
        double ref = sym_sumsq(D, d);
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, d, s->dims[j + 1], 1.0, W[j], s->dims[j + 1], -1.0, D, d);
        double diff = sym_sumsq(D, d);
        free(D);
        double b = ref > 0 ? sqrt(diff / ref) : sqrt(diff);
        if (b > worst) worst = b;
    }
    return worst;
}

double dln_balancedness_bytes(const dln_shape *s)
{
    double worst = 0;
    for (int j = 1; j < s->depth; j++) worst = fmax(worst, 8.0 * s->dims[j] * s->dims[j]);
    return worst;
}

int dln_balancedness_cheap(const dln_shape *s)
{
    return dln_balancedness_flops(s) < 2e9 && dln_balancedness_bytes(s) <= 64.0 * 1048576.0;
}

double dln_balancedness_flops(const dln_shape *s)
{
    double flops = 0;
    for (int j = 1; j < s->depth; j++) flops += (double)s->dims[j] * s->dims[j] * (s->dims[j - 1] + s->dims[j + 1]);
    return flops;
}
