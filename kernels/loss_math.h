/* loss_math.h: the arithmetic of the losses of dln/ops.h's dln_loss, written once for both
 * backends: the CPU backend's loops (src/backends/cpu/loss_cpu.c, C) and the CUDA kernels
 * (loss.cu: nvcc, or g++ for the emulated device). Every function works in fp64 whatever the
 * storage type; e = z - y is the residual. The forms are the stable ones of docs/maths.md
 * section 4.1:
 *   lp        (1/p)|e|^p = (|e|/p) |e|^(p-1)   (no intermediate beyond the result),
 *             g = sign(e) |e|^(p-1), h = (p-1) |e|^(p-2); integral p by repeated squaring;
 *   huber     1/2 e^2 (|e| <= d), d (|e| - d/2) beyond; g = clamp(e, -d, d), h = [|e| <= d];
 *   logistic  softplus(z) - y z = y softplus(-z) + (1 - y) softplus(z), a sum of two
 *             nonnegative terms for y in [0, 1] (no cancellation), softplus(x) =
 *             max(x, 0) + log1p(exp(-|x|)) (no overflow for any finite x);
 *             g = sigmoid(z) - y, h = sigmoid(z) sigmoid(-z);
 *   softmax   per column: logsumexp(z) - y^T z = sum_i y_i ((m - z_i) + log s), m = max z,
 *             s = sum exp(z_i - m) in [1, rows]: nonnegative terms where sum y = 1, plus
 *             (1 - sum y) (m + log s) for a y whose sum is 1 only to rounding (fp32 labels),
 *             so that the value is the function whose gradient is p - y;
 *             g = p - y with p = exp(z - m) / s, and (H d) = p (d - p^T d).
 * The kind numbers are dln_loss_kind's (dln/ops.h; the backends check they agree). */
#ifndef DLN_LOSS_MATH_H
#define DLN_LOSS_MATH_H

#include <math.h>

#if defined(__CUDACC__) || defined(DLN_CUDA_EMU)
#define DLN_LOSS_FN __host__ __device__ static inline
#else
#define DLN_LOSS_FN static inline
#endif

#define DLN_LOSS_MATH_LP 1
#define DLN_LOSS_MATH_HUBER 2
#define DLN_LOSS_MATH_LOGISTIC 3
#define DLN_LOSS_MATH_SOFTMAX 4

/* a^q for a >= 0, q >= 0: by squaring for an integral q up to 64 (exact to a few ulps, and
 * 0^0 = 1), else pow. */
DLN_LOSS_FN double dln_loss_pow(double a, double q)
{
    if (q == floor(q) && q <= 64.0) {
        unsigned n = (unsigned)q;
        double r = 1.0, x = a;
        while (n) {
            if (n & 1u) r *= x;
            x *= x;
            n >>= 1;
        }
        return r;
    }
    return pow(a, q);
}

DLN_LOSS_FN double dln_softplus(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }

DLN_LOSS_FN double dln_sigmoid(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double t = exp(x);
    return t / (1.0 + t);
}

/* An elementwise loss (lp, huber, logistic) at prediction z and target y with its parameter
 * (p, delta; unused by logistic): the value, and the derivative into *g. */
DLN_LOSS_FN double dln_loss_elem(int kind, double param, double z, double y, double *g)
{
    if (kind == DLN_LOSS_MATH_LOGISTIC) {
        *g = dln_sigmoid(z) - y;
        double v = 0.0;
        if (y != 0.0) v += y * dln_softplus(-z);
        if (y != 1.0) v += (1.0 - y) * dln_softplus(z);
        return v;
    }
    double e = z - y, a = fabs(e);
    if (kind == DLN_LOSS_MATH_HUBER) {
        if (a <= param) {
            *g = e;
            return 0.5 * e * e;
        }
        *g = e > 0 ? param : -param;
        return param * (a - 0.5 * param);
    }
    double t = dln_loss_pow(a, param - 1.0); /* lp */
    *g = e < 0 ? -t : t;
    return (a / param) * t;
}

/* The second derivative of an elementwise loss at z, y. */
DLN_LOSS_FN double dln_loss_elem_h(int kind, double param, double z, double y)
{
    if (kind == DLN_LOSS_MATH_LOGISTIC) return dln_sigmoid(z) * dln_sigmoid(-z);
    double a = fabs(z - y);
    if (kind == DLN_LOSS_MATH_HUBER) return a <= param ? 1.0 : 0.0;
    return (param - 1.0) * dln_loss_pow(a, param - 2.0); /* lp */
}

/* The softmax cross-entropy of one column of `rows` entries (z at stride 1, y at stride 1):
 * its value returned, z overwritten by the gradient p - y. T is the storage type; these are
 * macros so that C (no templates) gets an fp64 and an fp32 version of each. */
#define DLN_SOFTMAX_COLUMN(NAME, T)                                                              \
    DLN_LOSS_FN double NAME(int rows, T *z, const T *y)                                          \
    {                                                                                            \
        double m = -INFINITY, s = 0.0, v = 0.0, sy = 0.0;                                        \
        for (int i = 0; i < rows; i++) m = fmax(m, (double)z[i]);                                \
        for (int i = 0; i < rows; i++) s += exp((double)z[i] - m);                               \
        if (isnan(m)) s = NAN; /* every entry NaN: fmax skipped them all */                      \
        double ls = log(s);                                                                      \
        for (int i = 0; i < rows; i++) {                                                         \
            double zi = (double)z[i], yi = (double)y[i];                                         \
            if (yi != 0.0) v += yi * ((m - zi) + ls), sy += yi;                                  \
            z[i] = (T)(exp(zi - m) / s - yi);                                                    \
        }                                                                                        \
        return sy == 1.0 ? v : v + (1.0 - sy) * (m + ls);                                        \
    }
/* The Hessian of the same loss at column z applied to column d in place: d := p (d - p^T d). */
#define DLN_SOFTMAX_HESSIAN_COLUMN(NAME, T)                                                      \
    DLN_LOSS_FN void NAME(int rows, const T *z, T *d)                                            \
    {                                                                                            \
        double m = -INFINITY, s = 0.0, c = 0.0;                                                  \
        for (int i = 0; i < rows; i++) m = fmax(m, (double)z[i]);                                \
        for (int i = 0; i < rows; i++) s += exp((double)z[i] - m);                               \
        if (isnan(m)) s = NAN;                                                                   \
        for (int i = 0; i < rows; i++) c += exp((double)z[i] - m) / s * (double)d[i];            \
        for (int i = 0; i < rows; i++) {                                                         \
            double p = exp((double)z[i] - m) / s;                                                \
            d[i] = (T)(p * ((double)d[i] - c));                                                  \
        }                                                                                        \
    }

DLN_SOFTMAX_COLUMN(dln_softmax_column_f64, double)
DLN_SOFTMAX_COLUMN(dln_softmax_column_f32, float)
DLN_SOFTMAX_HESSIAN_COLUMN(dln_softmax_hessian_column_f64, double)
DLN_SOFTMAX_HESSIAN_COLUMN(dln_softmax_hessian_column_f32, float)

#endif
