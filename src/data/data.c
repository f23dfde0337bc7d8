/* data.c: the problem data (X, Y): the synthetic teacher problem, loading from .npy
 * files, and the checks every dataset passes before anything is computed. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/data.h"
#include "dln/rng.h"

void dln_data_free(dln_data *d)
{
    free(d->X);
    free(d->Y);
    d->X = d->Y = NULL;
}

static int check_finite(const char *name, const double *a, int rows, int cols, dln_error *err)
{
    // a is (rows, cols), ld = rows
    size_t n = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i]))
            return dln_fail(err, DLN_EINPUT, "%s contains %s at row %zu, column %zu", name,
                            isnan(a[i]) ? "NaN" : "Inf", i % (size_t)rows, i / (size_t)rows);
    return DLN_OK;
}

/* The scale the data may have. The solver and the trainer square norms and products of
 * two norms: 1/2 ||Y||^2, ||E||^2 (E is of Y's scale), sigma_1(X)^2 in the step size, and
 * ||G||^2 with G = B A^T of the scale of ||Y|| ||X||. With both norms within 2^+-250, such a
 * product squared lies within 2^+-1000, inside fp64's normal range (2^-1022 .. 2^1024)
 * with room for the widths' and the weights' factors; beyond it a square overflows to Inf
 * or underflows to 0 and the results become null (or a false divergence). */
#define SCALE_MIN 0x1p-250 /* about 5.5e-76 */
#define SCALE_MAX 0x1p+250 /* about 1.8e+75 */

/* ||a||_F without overflow or underflow: scaled by the largest magnitude. */
static double safe_norm(const double *a, size_t n)
{
    double big = 0, s = 0;
    for (size_t i = 0; i < n; i++) big = fmax(big, fabs(a[i]));
    if (big == 0 || !isfinite(big)) return big;
    for (size_t i = 0; i < n; i++) s += (a[i] / big) * (a[i] / big);
    return big * sqrt(s);
}

static int check_scale(const char *name, const double *a, size_t n, dln_error *err)
{
    double nrm = safe_norm(a, n);
    if (nrm == 0 || (nrm >= SCALE_MIN && nrm <= SCALE_MAX)) return DLN_OK; /* zero is refused elsewhere */
    return dln_fail(err, DLN_EINPUT, "%s is badly scaled for fp64: its norm is %.3g, outside [%.2g, %.2g], so the "
                    "squared norms in the loss and gradients would %s; rescale it (divide %s by %.3g)", name, nrm,
                    SCALE_MIN, SCALE_MAX, nrm > SCALE_MAX ? "overflow" : "underflow", name, nrm);
}

int dln_data_validate(const dln_data *d, dln_error *err)
{
    if (d->dx <= 0 || d->dy <= 0 || d->m <= 0)
        return dln_fail(err, DLN_EINPUT, "data sizes must be positive (dx=%d, dy=%d, samples=%d)", d->dx,
                        d->dy, d->m);
    if (d->dx > DLN_MAX_DIM || d->dy > DLN_MAX_DIM || d->m > DLN_MAX_DIM)
        return dln_fail(err, DLN_EINPUT, "data sizes exceed %d (dx=%d, dy=%d, samples=%d)", DLN_MAX_DIM,
                        d->dx, d->dy, d->m);
    DLN_TRY(check_finite("X", d->X, d->dx, d->m, err));
    DLN_TRY(check_finite("Y", d->Y, d->dy, d->m, err));
    size_t n = (size_t)d->dy * (size_t)d->m;
    size_t nz = 0;
    for (size_t i = 0; i < n; i++) nz += d->Y[i] != 0.0;
    if (nz == 0) return dln_fail(err, DLN_EINPUT, "Y is identically zero: there is nothing to fit");
    DLN_TRY(check_scale("X", d->X, (size_t)d->dx * (size_t)d->m, err));
    return check_scale("Y", d->Y, n, err);
}

double dln_synth_scratch_bytes(int dx, int dy, int teacher_rank)
{
    double r = teacher_rank < dx ? teacher_rank : dx;
    r = r < dy ? r : dy;
    return 8.0 * ((double)dy * r + r * dx + (double)dy * dx); /* A, B and T below */
}

int dln_synth_make(const dln_synth_opts *o, dln_data *out, dln_error *err)
{
    memset(out, 0, sizeof *out);
    if (o->dx <= 0 || o->dy <= 0 || o->m <= 0 || o->teacher_rank <= 0)
        return dln_fail(err, DLN_EINPUT, "synthetic sizes must be positive (dx=%d, dy=%d, samples=%d, "
                        "teacher rank=%d)", o->dx, o->dy, o->m, o->teacher_rank);
    if (!(o->noise >= 0.0) || !isfinite(o->noise))
        return dln_fail(err, DLN_EINPUT, "noise must be a finite number >= 0 (got %g)", o->noise);
    int dx = o->dx, dy = o->dy, m = o->m;
    int r = o->teacher_rank;
    if (r > dx) r = dx;
    if (r > dy) r = dy;
    out->dx = dx;
    out->dy = dy;
    out->m = m;
    out->X = malloc(sizeof(double) * (size_t)dx * (size_t)m);
    out->Y = malloc(sizeof(double) * (size_t)dy * (size_t)m);
    double *A = malloc(sizeof(double) * (size_t)dy * (size_t)r);
    double *B = malloc(sizeof(double) * (size_t)r * (size_t)dx);
    double *T = malloc(sizeof(double) * (size_t)dy * (size_t)dx);
    if (!out->X || !out->Y || !A || !B || !T) {
        free(A);
        free(B);
        free(T);
        dln_data_free(out);
        return dln_fail(err, DLN_ENOMEM, "out of host memory for a %d x %d synthetic problem", dx + dy, m);
    }
    dln_rng g;
    dln_rng_seed(&g, o->seed, DLN_STREAM_DATA);
    for (size_t i = 0; i < (size_t)dx * m; i++) out->X[i] = dln_rng_normal(&g);
    for (size_t i = 0; i < (size_t)dy * r; i++) A[i] = dln_rng_normal(&g);
    for (size_t i = 0; i < (size_t)r * dx; i++) B[i] = dln_rng_normal(&g);
    // T (dy, dx) = A (dy, r) B (r, dx) / sqrt(r dx): unit-variance targets
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, dx, r, 1.0 / sqrt((double)r * dx), A, dy,
                B, r, 0.0, T, dy);
    for (size_t i = 0; i < (size_t)dy * m; i++) out->Y[i] = o->noise * dln_rng_normal(&g);
    // Y (dy, m) += T (dy, dx) X (dx, m)
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, m, dx, 1.0, T, dy, out->X, dx, 1.0, out->Y,
                dy);
    for (int j = 0; o->labels != DLN_LABELS_VALUES && j < m; j++) {
        double *y = out->Y + (size_t)j * dy;
        int top = 0;
        for (int i = 1; i < dy; i++) top = y[i] > y[top] ? i : top;
        for (int i = 0; i < dy; i++) y[i] = o->labels == DLN_LABELS_BINARY ? (y[i] > 0) : (i == top);
    }
    free(A);
    free(B);
    free(T);
    return DLN_OK;
}

int dln_data_load(const char *x_path, const char *y_path, dln_data *out, dln_error *err)
{
    memset(out, 0, sizeof *out);
    int xr, xc, yr, yc;
    DLN_TRY(dln_npy_read(x_path, &xr, &xc, &out->X, err));
    int rc = dln_npy_read(y_path, &yr, &yc, &out->Y, err);
    if (rc) {
        dln_data_free(out);
        return rc;
    }
    out->dx = xr;
    out->dy = yr;
    out->m = xc;
    if (xc != yc) {
        dln_data_free(out);
        return dln_fail(err, DLN_EINPUT,
                        "X is %d x %d and Y is %d x %d: they must have the same number of columns "
                        "(samples are columns: X is (dx, m), Y is (dy, m))", xr, xc, yr, yc);
    }
    rc = dln_data_validate(out, err);
    if (rc) dln_data_free(out);
    return rc;
}
