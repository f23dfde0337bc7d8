/* host_linalg.c: small host-side computations on fp64 host matrices with OpenBLAS:
 * the reference loss (for checks), spectral norms by power iteration, balancedness,
 * and the automatic step size rule. None of it runs inside the training loop. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln.h"

double dln_host_loss(const dln_shape *s, double *const *W, const dln_data *d)
{
    // A_i (d_i, m) = W_i (d_i, d_{i-1}) A_{i-1}; loss = 1/2 ||A_H - Y||^2
    int maxd = 0;
    for (int i = 0; i <= s->depth; i++) maxd = s->dims[i] > maxd ? s->dims[i] : maxd;
    size_t m = (size_t)d->m;
    double *a = malloc(sizeof(double) * maxd * m), *b = malloc(sizeof(double) * maxd * m);
    if (!a || !b) {
        free(a), free(b);
        return NAN;
    }
    memcpy(a, d->X, sizeof(double) * (size_t)d->dx * m);
    for (int i = 1; i <= s->depth; i++) {
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, s->dims[i], d->m, s->dims[i - 1], 1.0,
                    W[i - 1], s->dims[i], a, s->dims[i - 1], 0.0, b, s->dims[i]);
        double *t = a;
        a = b;
        b = t;
    }
    double sum = 0.0;
    for (size_t e = 0; e < (size_t)d->dy * m; e++) {
        double r = a[e] - d->Y[e];
        sum += r * r;
    }
    free(a), free(b);
    return 0.5 * sum;
}

/* ||B||_2 for B (rows, cols) = A diag(1/s) when s != NULL, else B = A: power iteration
 * on B^T B from a fixed start. It converges from below. */
static double spectral_norm(int rows, int cols, const double *A, const double *s, int iters)
{
    double *v = malloc(sizeof(double) * cols), *w = malloc(sizeof(double) * cols);
    double *u = malloc(sizeof(double) * rows);
    double sigma = NAN;
    if (!v || !w || !u) goto done;
    for (int j = 0; j < cols; j++) v[j] = 1.0 + 0.01 * (j % 7);
    sigma = 0.0;
    for (int it = 0; it < iters; it++) {
        double nv = cblas_dnrm2(cols, v, 1);
        if (nv == 0.0) break;
        for (int j = 0; j < cols; j++) w[j] = v[j] / nv / (s ? s[j] : 1.0); /* w = diag(1/s) v/|v| */
        cblas_dgemv(CblasColMajor, CblasNoTrans, rows, cols, 1.0, A, rows, w, 1, 0.0, u, 1);
        sigma = cblas_dnrm2(rows, u, 1); /* ||B v|| with |v| = 1 */
        cblas_dgemv(CblasColMajor, CblasTrans, rows, cols, 1.0, A, rows, u, 1, 0.0, v, 1);
        for (int j = 0; j < cols && s; j++) v[j] /= s[j]; /* v = B^T u */
    }
done:
    free(v), free(w), free(u);
    return sigma;
}

double dln_auto_lr(const dln_shape *s, double *const *W, const dln_shallow *sh)
{
    /* L_est = sigma_1(X)^2 sum_i prod_{j != i} a_j^2 with a_j = max(||W_j||_2, rho^(1/H)),
     * rho = ||M S_r^{-1}||_2 = ||R_ls||_2; lr = 1 / L_est (see README, "Step size"). */
    int H = s->depth;
    double rho = sh->M ? spectral_norm(sh->dy, sh->r, sh->M, sh->sx, 30) * 1.1 : 0.0;
    double target = rho > 0 ? pow(rho, 1.0 / H) : 0.0;
    double *loga = malloc(sizeof(double) * H), total = 0.0;
    if (!loga) return NAN;
    for (int j = 0; j < H; j++) {
        double a = 1.1 * spectral_norm(s->dims[j + 1], s->dims[j], W[j], NULL, 30);
        if (a < target) a = target;
        if (a <= 0) a = 1e-300;
        loga[j] = 2.0 * log(a);
        total += loga[j];
    }
    double sum = 0.0;
    for (int i = 0; i < H; i++) sum += exp(total - loga[i]);
    free(loga);
    double L = sh->sx[0] * sh->sx[0] * sum;
    return L > 0 && isfinite(L) ? 1.0 / L : NAN;
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
        double ref = 0.0, diff = 0.0;
        for (int c = 0; c < d; c++)
            for (int r = 0; r <= c; r++) ref += (r == c ? 1.0 : 2.0) * D[r + (size_t)c * d] * D[r + (size_t)c * d];
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, d, s->dims[j + 1], 1.0, W[j], s->dims[j + 1], -1.0, D, d);
        for (int c = 0; c < d; c++)
            for (int r = 0; r <= c; r++) diff += (r == c ? 1.0 : 2.0) * D[r + (size_t)c * d] * D[r + (size_t)c * d];
        free(D);
        double b = ref > 0 ? sqrt(diff / ref) : sqrt(diff);
        if (b > worst) worst = b;
    }
    return worst;
}
