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
 *   softmax   per column: logsumexp(z) - y^T z = sum_i y_i (m - z_i) + (sum y) log s,
 *             m = max z, s = sum exp(z_i - m) in [1, rows]: nonnegative terms, plus
 *             (1 - sum y) (m + log s) for a y whose sum is 1 only to rounding (fp32 labels),
 *             so that the value is the function whose gradient is p - y;
 *             g = p - y with p = exp(z - m) / s, and (H d) = p (d - p^T d).
 *   masked    the square loss on the observed entries only (matrix completion): an entry
 *             whose target is NaN is unobserved and contributes nothing: 1/2 e^2, g = e,
 *             h = 1 where y is a number, 0 where it is NaN (a select, so the loop still
 *             vectorizes; the NaN never reaches an arithmetic result).
 * The kind numbers are dln_loss_kind's (dln/ops.h; the backends check they agree). */
#ifndef DLN_LOSS_MATH_H
#define DLN_LOSS_MATH_H

#include <math.h>

#if defined(__CUDACC__) || defined(DLN_CUDA_EMU)
#define DLN_LOSS_FN __host__ __device__ static inline
#else
#define DLN_LOSS_FN static inline
#endif

/* A hook for a vectorizing pragma on the softmax column's elementwise loops (the CPU
 * backend's loss_cpu.c defines it; elsewhere it is nothing). */
#ifndef DLN_LOSS_SIMD_LOOP
#define DLN_LOSS_SIMD_LOOP
#endif

#define DLN_LOSS_MATH_LP 1
#define DLN_LOSS_MATH_HUBER 2
#define DLN_LOSS_MATH_LOGISTIC 3
#define DLN_LOSS_MATH_SOFTMAX 4
#define DLN_LOSS_MATH_MASKED 5

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

/* sigmoid(x) from t = exp(-|x|): 1 / (1 + t) for x >= 0, t / (1 + t) below (no overflow,
 * no branch around the exp, so that a loop of it vectorizes). */
DLN_LOSS_FN double dln_sigmoid_t(double x, double t) { return (x >= 0 ? 1.0 : t) / (1.0 + t); }

DLN_LOSS_FN double dln_sigmoid(double x) { return dln_sigmoid_t(x, exp(-fabs(x))); }

/* The derivative of an elementwise loss (lp, huber, logistic, masked) at prediction z and target y
 * with its parameter (p, delta; unused by logistic). Branch-free but for lp's power, so
 * that a loop of it over a constant kind vectorizes. */
DLN_LOSS_FN double dln_loss_elem_grad(int kind, double param, double z, double y)
{
    if (kind == DLN_LOSS_MATH_LOGISTIC) return dln_sigmoid_t(z, exp(-fabs(z))) - y;
    if (kind == DLN_LOSS_MATH_MASKED) return y == y ? z - y : 0.0;
    double e = z - y;
    if (kind == DLN_LOSS_MATH_HUBER) return e < -param ? -param : (e > param ? param : e);
    double t = dln_loss_pow(fabs(e), param - 1.0); /* lp */
    return e < 0 ? -t : t;
}

/* The value of the same loss at z, y. */
DLN_LOSS_FN double dln_loss_elem_value(int kind, double param, double z, double y)
{
    if (kind == DLN_LOSS_MATH_LOGISTIC) { /* softplus(+-z) = max(+-z, 0) + log1p(exp(-|z|)) */
        double l = log1p(exp(-fabs(z)));
        return (y != 0.0 ? y * ((z < 0 ? -z : 0.0) + l) : 0.0) + (y != 1.0 ? (1.0 - y) * ((z > 0 ? z : 0.0) + l) : 0.0);
    }
    if (kind == DLN_LOSS_MATH_MASKED) return y == y ? 0.5 * (z - y) * (z - y) : 0.0;
    double e = z - y, a = fabs(e);
    if (kind == DLN_LOSS_MATH_HUBER) return a <= param ? 0.5 * e * e : param * (a - 0.5 * param);
    return (a / param) * dln_loss_pow(a, param - 1.0); /* lp */
}

/* Both: the value returned, the derivative into *g (a compiler computes exp(-|z|) or the
 * power once for the two). */
DLN_LOSS_FN double dln_loss_elem(int kind, double param, double z, double y, double *g)
{
    *g = dln_loss_elem_grad(kind, param, z, y);
    return dln_loss_elem_value(kind, param, z, y);
}

/* The second derivative of an elementwise loss at z, y. */
DLN_LOSS_FN double dln_loss_elem_h(int kind, double param, double z, double y)
{
    if (kind == DLN_LOSS_MATH_LOGISTIC) return dln_sigmoid(z) * dln_sigmoid(-z);
    if (kind == DLN_LOSS_MATH_MASKED) return y == y ? 1.0 : 0.0;
    double a = fabs(z - y);
    if (kind == DLN_LOSS_MATH_HUBER) return a <= param ? 1.0 : 0.0;
    return (param - 1.0) * dln_loss_pow(a, param - 2.0); /* lp */
}

/* The softmax cross-entropy of one column of `rows` entries (z at stride 1, y at stride 1):
 * z overwritten by the gradient p - y and, where value is not NULL, *value = the loss, from
 * a pass of its own in fp64 (so that the gradient's bits do not depend on whether the value
 * was asked). The gradient's exp(z_i - m) are computed once (kept in z until s is known), in
 * a loop with no sum, so that it vectorizes where DLN_LOSS_SIMD_LOOP says so; the sums run
 * in index order. T is the storage type; these are macros so that C (no templates) gets an
 * fp64 and an fp32 version of each. */
#define DLN_SOFTMAX_COLUMN(NAME, T)                                                              \
    DLN_LOSS_FN void NAME(int rows, T *z, const T *y, double *value)                             \
    {                                                                                            \
        double m = -INFINITY, s = 0.0;                                                           \
        for (int i = 0; i < rows; i++) m = (double)z[i] > m ? (double)z[i] : m; /* skips NaN */  \
        if (value) {                                                                             \
            double v = 0.0, sy = 0.0, sv = 0.0;                                                  \
            for (int i = 0; i < rows; i++) {                                                     \
                sv += exp((double)z[i] - m);                                                     \
                if (y[i] != 0) v += (double)y[i] * (m - (double)z[i]), sy += (double)y[i];       \
            }                                                                                    \
            double ls = log(sv);                                                                 \
            *value = v + sy * ls + (sy == 1.0 ? 0.0 : (1.0 - sy) * (m + ls));                    \
        }                                                                                        \
        DLN_LOSS_SIMD_LOOP                                                                       \
        for (int i = 0; i < rows; i++) z[i] = (T)exp((double)z[i] - m);                          \
        for (int i = 0; i < rows; i++) s += (double)z[i];                                        \
        DLN_LOSS_SIMD_LOOP                                                                       \
        for (int i = 0; i < rows; i++) z[i] = (T)((double)z[i] / s - (double)y[i]);              \
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
