/* loss_cpu.c: the CPU backend's loss operations (dln/ops.h: dln_loss_gradient_batched,
 * dln_loss_hessian_batched): plain loops over each member's columns with the arithmetic of
 * kernels/loss_math.h, the one place the losses' formulas are written (the CUDA kernels use
 * it too). A member's value is summed in fp64 whatever the storage, column by column, the
 * columns' sums added in order within each piece of columns and the pieces' in order: the
 * order is fixed by the shape, so a member's result is the same alone, in a batch, or on any
 * number of threads. */
#include "backends/cpu/cpu_internal.h"
#include "dln/pool.h"
#include <math.h>

/* Vector loops. With GCC on x86-64 glibc (the Makefile then compiles this file with
 * -fopenmp-simd -fno-math-errno -DDLN_CPU_LOSS_SIMD and links -lmvec), exp is declared with
 * its SIMD variants (glibc's libmvec, _ZGVdN4v_exp and the like: at most 4 ulp from the
 * scalar exp, the same value for the same input on every call), the loops over a column
 * carry `omp simd`, and each column function gets an AVX2 clone, chosen at load time, beside
 * the baseline (SSE2) one. A loop's lanes and its sum's order are fixed by the shape, so a
 * member's result still does not depend on the batch or the thread. Measured on the
 * 64 x 4096 logistic gradient without the value (dev VM, AMD EPYC, 2026-12-07): the whole
 * step 3.97 -> 0.99 ms. The value's loop (log1p) stays scalar. Elsewhere: the plain loops. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && defined(DLN_CPU_LOSS_SIMD)
__attribute__((simd("notinbranch"))) double exp(double);
#define SIMD_LOOP _Pragma("omp simd")
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CLONES /* a clone's resolver runs before the sanitizer's runtime is up, and crashes */
#else
#define CLONES __attribute__((target_clones("avx2", "default")))
#endif
#define DLN_LOSS_SIMD_LOOP SIMD_LOOP
#else
#define SIMD_LOOP
#define CLONES
#endif
#include "loss_math.h"

_Static_assert(DLN_LOSS_LP == DLN_LOSS_MATH_LP && DLN_LOSS_HUBER == DLN_LOSS_MATH_HUBER &&
                   DLN_LOSS_LOGISTIC == DLN_LOSS_MATH_LOGISTIC && DLN_LOSS_SOFTMAX == DLN_LOSS_MATH_SOFTMAX &&
                   DLN_LOSS_MASKED == DLN_LOSS_MATH_MASKED,
               "dln_loss_kind and loss_math.h number the losses alike");

/* One column of an elementwise loss of the constant kind K with parameter P (a function per
 * kind and type, so that the kind's branches fold away and the loop vectorizes), its gradient
 * in place; its value returned when want_value (else 0), from a pass of its own before the
 * gradient's (so that the gradient's bits do not depend on whether the value was asked). P is
 * the argument param, or a constant: lp with an integral p from 2 to 8 (p = 4 is Arora et
 * al.'s) has the exponent fixed, so that the power's squaring loop unrolls and the column
 * vectorizes, with the same products in the same order (the same bits) as the general one. */
#define ELEM_COLUMN_P(NAME, T, K, P)                                                              \
    CLONES static double NAME(double param, int rows, T *z, const T *y, int want_value)           \
    {                                                                                             \
        double v = 0.0;                                                                           \
        (void)param;                                                                              \
        if (want_value)                                                                           \
            for (int i = 0; i < rows; i++) v += dln_loss_elem_value(K, P, (double)z[i], (double)y[i]); \
        SIMD_LOOP                                                                                 \
        for (int i = 0; i < rows; i++) z[i] = (T)dln_loss_elem_grad(K, P, (double)z[i], (double)y[i]); \
        return v;                                                                                 \
    }
#define ELEM_COLUMN(NAME, T, K) ELEM_COLUMN_P(NAME, T, K, param)
#define LP_INT_COLUMN(NAME, T, P) ELEM_COLUMN_P(NAME, T, DLN_LOSS_MATH_LP, P)
ELEM_COLUMN(lp_column_any_f64, double, DLN_LOSS_MATH_LP)
ELEM_COLUMN(lp_column_any_f32, float, DLN_LOSS_MATH_LP)

#define LP_COLUMNS(T, SUFFIX)                                                                     \
    LP_INT_COLUMN(lp2_##SUFFIX, T, 2.0)                                                           \
    LP_INT_COLUMN(lp3_##SUFFIX, T, 3.0)                                                           \
    LP_INT_COLUMN(lp4_##SUFFIX, T, 4.0)                                                           \
    LP_INT_COLUMN(lp5_##SUFFIX, T, 5.0)                                                           \
    LP_INT_COLUMN(lp6_##SUFFIX, T, 6.0)                                                           \
    LP_INT_COLUMN(lp7_##SUFFIX, T, 7.0)                                                           \
    LP_INT_COLUMN(lp8_##SUFFIX, T, 8.0)                                                           \
    CLONES static double lp_column_##SUFFIX(double p, int rows, T *z, const T *y, int want_value) \
    {                                                                                             \
        switch (p == floor(p) && p >= 2 && p <= 8 ? (int)p : 0) {                                 \
        case 2: return lp2_##SUFFIX(p, rows, z, y, want_value);                                  \
        case 3: return lp3_##SUFFIX(p, rows, z, y, want_value);                                  \
        case 4: return lp4_##SUFFIX(p, rows, z, y, want_value);                                  \
        case 5: return lp5_##SUFFIX(p, rows, z, y, want_value);                                  \
        case 6: return lp6_##SUFFIX(p, rows, z, y, want_value);                                  \
        case 7: return lp7_##SUFFIX(p, rows, z, y, want_value);                                  \
        case 8: return lp8_##SUFFIX(p, rows, z, y, want_value);                                  \
        default: return lp_column_any_##SUFFIX(p, rows, z, y, want_value);                       \
        }                                                                                         \
    }
LP_COLUMNS(double, f64)
LP_COLUMNS(float, f32)
ELEM_COLUMN(huber_column_f64, double, DLN_LOSS_MATH_HUBER)
ELEM_COLUMN(huber_column_f32, float, DLN_LOSS_MATH_HUBER)
ELEM_COLUMN(logistic_column_f64, double, DLN_LOSS_MATH_LOGISTIC)
ELEM_COLUMN(logistic_column_f32, float, DLN_LOSS_MATH_LOGISTIC)
ELEM_COLUMN(masked_column_f64, double, DLN_LOSS_MATH_MASKED)
ELEM_COLUMN(masked_column_f32, float, DLN_LOSS_MATH_MASKED)

#define ELEM_HESSIAN_COLUMN(NAME, T)                                                              \
    static inline void NAME(int K, double param, int rows, const T *z, const T *y, T *d)         \
    {                                                                                             \
        for (int i = 0; i < rows; i++) d[i] = (T)(dln_loss_elem_h(K, param, (double)z[i], (double)y[i]) * (double)d[i]); \
    }
ELEM_HESSIAN_COLUMN(elem_hessian_column_f64, double)
ELEM_HESSIAN_COLUMN(elem_hessian_column_f32, float)

/* Member Z (rows, cols) against Y: Z := dL/dZ, the value returned when want_value. */
#define GRADIENT_MEMBER(NAME, T, SUFFIX)                                                          \
    CLONES static double NAME(const dln_loss *l, const dln_mat *Y, dln_mat *Z, int want_value)    \
    {                                                                                             \
        double total = 0.0, p = l->param, col;                                                    \
        for (int j = 0; j < Z->cols; j++) {                                                       \
            T *z = (T *)Z->data + IDX(Z, 0, j);                                                   \
            const T *y = (const T *)Y->data + IDX(Y, 0, j);                                       \
            switch (l->kind) {                                                                    \
            case DLN_LOSS_LP: total += lp_column_##SUFFIX(p, Z->rows, z, y, want_value); break;   \
            case DLN_LOSS_HUBER: total += huber_column_##SUFFIX(p, Z->rows, z, y, want_value); break; \
            case DLN_LOSS_LOGISTIC: total += logistic_column_##SUFFIX(p, Z->rows, z, y, want_value); break; \
            case DLN_LOSS_MASKED: total += masked_column_##SUFFIX(p, Z->rows, z, y, want_value); break; \
            case DLN_LOSS_SOFTMAX:                                                                \
                dln_softmax_column_##SUFFIX(Z->rows, z, y, want_value ? &col : NULL);             \
                if (want_value) total += col;                                                     \
                break;                                                                            \
            }                                                                                     \
        }                                                                                         \
        return total;                                                                             \
    }
GRADIENT_MEMBER(gradient_member_f64, double, f64)
GRADIENT_MEMBER(gradient_member_f32, float, f32)

/* Member D := H(Z) D. */
#define HESSIAN_MEMBER(NAME, T, ELEM, SOFTMAX)                                                    \
    static void NAME(const dln_loss *l, const dln_mat *Y, const dln_mat *Z, dln_mat *D)          \
    {                                                                                             \
        double p = l->param;                                                                      \
        for (int j = 0; j < Z->cols; j++) {                                                       \
            const T *z = (const T *)Z->data + IDX(Z, 0, j);                                       \
            const T *y = (const T *)Y->data + IDX(Y, 0, j);                                       \
            T *d = (T *)D->data + IDX(D, 0, j);                                                   \
            switch (l->kind) {                                                                    \
            case DLN_LOSS_LP: ELEM(DLN_LOSS_MATH_LP, p, Z->rows, z, y, d); break;                 \
            case DLN_LOSS_HUBER: ELEM(DLN_LOSS_MATH_HUBER, p, Z->rows, z, y, d); break;           \
            case DLN_LOSS_LOGISTIC: ELEM(DLN_LOSS_MATH_LOGISTIC, p, Z->rows, z, y, d); break;     \
            case DLN_LOSS_MASKED: ELEM(DLN_LOSS_MATH_MASKED, p, Z->rows, z, y, d); break;         \
            case DLN_LOSS_SOFTMAX: SOFTMAX(Z->rows, z, d); break;                                 \
            }                                                                                     \
        }                                                                                         \
    }
HESSIAN_MEMBER(hessian_member_f64, double, elem_hessian_column_f64, dln_softmax_hessian_column_f64)
HESSIAN_MEMBER(hessian_member_f32, float, elem_hessian_column_f32, dln_softmax_hessian_column_f32)

/* A member with many entries is cut into pieces of columns (by its shape alone: at least
 * LOSS_PIECE_COLS columns, at most LOSS_PIECES_MAX pieces, where it has at least
 * LOSS_SPLIT_MIN entries) that run on the backend's threads for a network of one member; the value is
 * each piece's column-order sum, added in piece order, so the bits do not depend on the
 * threads. A smaller member is one piece: its columns in order. */
#define LOSS_SPLIT_MIN 65536
#define LOSS_PIECE_COLS 128
#define LOSS_PIECES_MAX 64

typedef struct {
    const dln_loss *loss;
    dln_mat y, z;
    int want_value, piece;
    double *partial;
} loss_job;

static void loss_piece(void *ctx, int p, int worker)
{
    loss_job *j = ctx;
    (void)worker;
    int c0 = p * j->piece, n = j->z.cols - c0 < j->piece ? j->z.cols - c0 : j->piece;
    dln_mat y = dln_mat_view(&j->y, 0, c0, j->y.rows, n), z = dln_mat_view(&j->z, 0, c0, j->z.rows, n);
    j->partial[p] = z.dtype == DLN_F64 ? gradient_member_f64(j->loss, &y, &z, j->want_value)
                                       : gradient_member_f32(j->loss, &y, &z, j->want_value);
}

int dln_cpu_loss_gradient(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, dln_mat *Z,
                          size_t stride_z, int count, dln_mat *out, int index)
{
    // Z_b (rows, cols) := dL/dZ at Z_b; out[index + b] = L(Z_b)
    double partial[LOSS_PIECES_MAX];
    for (int b = 0; b < count; b++) {
        loss_job j = {loss, dln_cpu_member(Y, stride_y, b), dln_cpu_member(Z, stride_z, b), out != NULL, Z->cols,
                      partial};
        if ((double)Z->rows * (double)Z->cols >= LOSS_SPLIT_MIN && Z->cols >= 2 * LOSS_PIECE_COLS) {
            int per = (Z->cols + LOSS_PIECES_MAX - 1) / LOSS_PIECES_MAX;
            j.piece = per > LOSS_PIECE_COLS ? per : LOSS_PIECE_COLS;
        }
        int pieces = (Z->cols + j.piece - 1) / j.piece;
        dln_pool_for(count == 1 ? dln_backend_pool(be) : NULL, pieces, loss_piece, &j); /* as gemm_cpu.c */
        double v = 0.0;
        for (int p = 0; p < pieces; p++) v += partial[p];
        if (out) ((double *)out->data)[index + b] = v;
    }
    return DLN_OK;
}

int dln_cpu_loss_hessian(dln_backend *be, const dln_loss *loss, const dln_mat *Y, size_t stride_y, const dln_mat *Z,
                         size_t stride_z, dln_mat *D, size_t stride_d, int count)
{
    // D_b (rows, cols) := (d^2 L / dZ^2 at Z_b) D_b
    (void)be;
    for (int b = 0; b < count; b++) {
        dln_mat y = dln_cpu_member(Y, stride_y, b), z = dln_cpu_member(Z, stride_z, b),
                d = dln_cpu_member(D, stride_d, b);
        if (Z->dtype == DLN_F64) hessian_member_f64(loss, &y, &z, &d);
        else hessian_member_f32(loss, &y, &z, &d);
    }
    return DLN_OK;
}
