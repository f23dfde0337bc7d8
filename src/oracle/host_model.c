/* host_model.c: the deep loss, its gradient, gradient descent and a finite-difference
 * derivative on the host with CBLAS, independent of the library's backends and network
 * code (src/oracle/oracle.h). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "oracle.h"

/* A[0] = X, A[i] (d_i, m) = W_i A[i-1]: fresh activations (A[0] borrowed). */
static double **forward(const dln_shape *s, double *const *W, const dln_data *d)
{
    int H = s->depth, m = d->m;
    double **A = calloc((size_t)H + 1, sizeof(double *));
    if (!A) abort();
    A[0] = d->X;
    for (int i = 1; i <= H; i++) {
        A[i] = malloc(sizeof(double) * (size_t)s->dims[i] * (size_t)m);
        if (!A[i]) abort();
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, s->dims[i], m, s->dims[i - 1], 1.0, W[i - 1],
                    s->dims[i], A[i - 1], s->dims[i - 1], 0.0, A[i], s->dims[i]);
    }
    return A;
}

static void free_forward(int H, double **A)
{
    for (int i = 1; i <= H; i++) free(A[i]);
    free(A);
}

double ref_loss(const dln_shape *s, double *const *W, const dln_data *d)
{
    double **A = forward(s, W, d), sum = 0.0;
    for (size_t e = 0; e < (size_t)d->dy * (size_t)d->m; e++) {
        double r = A[s->depth][e] - d->Y[e];
        sum += r * r;
    }
    free_forward(s->depth, A);
    return 0.5 * sum;
}

void ref_gradient(const dln_shape *s, double *const *W, const dln_data *d, double **G)
{
    // B_H = A_H - Y; G_i (d_i, d_{i-1}) = B_i A_{i-1}^T; B_{i-1} = W_i^T B_i
    int H = s->depth, m = d->m;
    double **A = forward(s, W, d);
    double *B = A[H];
    for (size_t e = 0; e < (size_t)s->dims[H] * m; e++) B[e] -= d->Y[e];
    A[H] = NULL;
    for (int i = H; i >= 1; i--) {
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, s->dims[i], s->dims[i - 1], m, 1.0, B, s->dims[i],
                    A[i - 1], s->dims[i - 1], 0.0, G[i - 1], s->dims[i]);
        double *Bn = malloc(sizeof(double) * (size_t)s->dims[i - 1] * (size_t)m);
        if (!Bn) abort();
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, s->dims[i - 1], m, s->dims[i], 1.0, W[i - 1],
                    s->dims[i], B, s->dims[i], 0.0, Bn, s->dims[i - 1]);
        free(B);
        B = Bn;
    }
    free(B);
    free_forward(H, A);
}

static double **zero_like(const dln_shape *s)
{
    double **Z = calloc((size_t)s->depth, sizeof(double *));
    if (!Z) abort();
    for (int i = 0; i < s->depth; i++)
        if (!(Z[i] = calloc((size_t)s->dims[i + 1] * (size_t)s->dims[i], sizeof(double)))) abort();
    return Z;
}

void ref_descent(const dln_shape *s, double **W, const dln_data *d, double lr, double mu, long steps)
{
    double **G = zero_like(s), **V = zero_like(s);
    for (long t = 0; t < steps; t++) {
        ref_gradient(s, W, d, G);
        for (int i = 0; i < s->depth; i++)
            for (size_t e = 0; e < (size_t)s->dims[i + 1] * s->dims[i]; e++) {
                V[i][e] = mu * V[i][e] + G[i][e];
                W[i][e] -= lr * V[i][e];
            }
    }
    dln_weights_free(s->depth, G);
    dln_weights_free(s->depth, V);
}

long ref_line_search_descent(const dln_shape *s, double **W, const dln_data *d, double *lr0, double cap, long steps,
                             double *loss)
{
    double **G = zero_like(s), **T = zero_like(s), L = ref_loss(s, W, d);
    long t = 0;
    loss[0] = L;
    for (; t < steps; t++) {
        ref_gradient(s, W, d, G);
        double gsq = 0.0, lr = fmin(2.0 * *lr0, cap), trial = NAN;
        for (int i = 0; i < s->depth; i++)
            for (size_t e = 0; e < (size_t)s->dims[i + 1] * s->dims[i]; e++) gsq += G[i][e] * G[i][e];
        int ok = 0;
        if (!(gsq > 0)) break;
        for (int h = 0; h < 60 && !ok; h++, lr *= 0.5) {
            for (int i = 0; i < s->depth; i++)
                for (size_t e = 0; e < (size_t)s->dims[i + 1] * s->dims[i]; e++) T[i][e] = W[i][e] - lr * G[i][e];
            trial = ref_loss(s, T, d);
            ok = isfinite(trial) && trial <= L - 0.5 * lr * gsq;
            if (ok) *lr0 = lr;
        }
        if (!ok) break;
        for (int i = 0; i < s->depth; i++)
            memcpy(W[i], T[i], sizeof(double) * (size_t)s->dims[i + 1] * s->dims[i]);
        L = trial;
        loss[t + 1] = L;
    }
    dln_weights_free(s->depth, G);
    dln_weights_free(s->depth, T);
    return t;
}

/* W += a D over every layer */
static void add_scaled(const dln_shape *s, double *const *W, double a, double *const *D)
{
    for (int i = 0; i < s->depth; i++)
        for (size_t e = 0; e < (size_t)s->dims[i + 1] * s->dims[i]; e++) W[i][e] += a * D[i][e];
}

double ref_directional_derivative(const dln_shape *s, double *const *W, double *const *D, const dln_data *d,
                                  double h)
{
    double **Wc = zero_like(s), L[4];
    const double at[4] = {h, -h, 2 * h, -2 * h};
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < s->depth; i++)
            memcpy(Wc[i], W[i], sizeof(double) * (size_t)s->dims[i + 1] * s->dims[i]);
        add_scaled(s, Wc, at[k], D);
        L[k] = ref_loss(s, Wc, d);
    }
    dln_weights_free(s->depth, Wc);
    return (8 * (L[0] - L[1]) - (L[2] - L[3])) / (12 * h);
}
