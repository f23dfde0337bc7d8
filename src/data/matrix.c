/* matrix.c: the data of matrix completion and sensing (dln/matrix.h): observed entries and
 * measurements checked and stored, the synthetic problem, the dense pair (X = I, Y) a
 * network trains on, and a product's metrics against the held-out entries (test error,
 * effective rank, nuclear norm). Positions are column-major (i + j rows), as every host
 * matrix of dln; a sensing matrix A_l arrives in numpy's C order and is stored as the
 * column-major vec, so that <A_l, R> is row l of A times vec(R). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dln/matrix.h"
#include "dln/rng.h"

void dln_matrix_free(dln_matrix_data *m)
{
    if (!m) return;
    free(m->at), free(m->A), free(m->b), free(m->test_at), free(m->test_value), free(m->target);
    memset(m, 0, sizeof *m);
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* An index column entry: an integer in [0, n). */
static int index_ok(double v, int n) { return isfinite(v) && v == floor(v) && v >= 0 && v < n; }

int dln_matrix_entries(const double *E, int k, int ncols, int rows, int cols, const char *what, long **at,
                       double **values, dln_error *err)
{
    *at = NULL, *values = NULL;
    if (rows < 1 || cols < 1 || rows > DLN_MAX_DIM || cols > DLN_MAX_DIM)
        return dln_fail(err, DLN_EINPUT, "the matrix is %d x %d: give --rows and --cols of at least 1", rows, cols);
    if (ncols != 3) return dln_fail(err, DLN_EINPUT, "%s: shape (%d, %d); expected (k, 3): row, column, value", what, k, ncols);
    if (k < 1) return dln_fail(err, DLN_EINPUT, "%s: no entries", what);
    for (int l = 0; l < k; l++) {
        double i = E[l], j = E[l + (size_t)k], v = E[l + 2 * (size_t)k];
        if (!index_ok(i, rows))
            return dln_fail(err, DLN_EINPUT, "%s: entry %d: row %g is not an integer in [0, %d)", what, l, i, rows);
        if (!index_ok(j, cols))
            return dln_fail(err, DLN_EINPUT, "%s: entry %d: column %g is not an integer in [0, %d)", what, l, j, cols);
        if (!isfinite(v)) return dln_fail(err, DLN_EINPUT, "%s: entry %d: the value %g is not finite", what, l, v);
    }
    long *p = malloc(sizeof(long) * (size_t)k), *sorted = malloc(sizeof(long) * (size_t)k);
    double *val = malloc(sizeof(double) * (size_t)k);
    if (!p || !sorted || !val) {
        free(p), free(sorted), free(val);
        return dln_fail(err, DLN_ENOMEM, "out of host memory for %d entries", k);
    }
    for (int l = 0; l < k; l++) {
        p[l] = (long)E[l] + (long)E[l + (size_t)k] * (long)rows;
        val[l] = E[l + 2 * (size_t)k];
    }
    memcpy(sorted, p, sizeof(long) * (size_t)k);
    qsort(sorted, (size_t)k, sizeof(long), cmp_long);
    for (int l = 1; l < k; l++)
        if (sorted[l] == sorted[l - 1]) {
            long q = sorted[l];
            free(p), free(sorted), free(val);
            return dln_fail(err, DLN_EINPUT, "%s: entry (%ld, %ld) is given more than once", what, q % rows, q / rows);
        }
    free(sorted);
    *at = p, *values = val;
    return DLN_OK;
}

/* Every measurement 0: the zero matrix fits them; nothing to learn (and no scale). */
static int check_nonzero(const double *b, int k, const char *what, dln_error *err)
{
    for (int l = 0; l < k; l++)
        if (b[l] != 0) return DLN_OK;
    return dln_fail(err, DLN_EINPUT, "%s: every observed value is 0: the zero matrix fits them exactly", what);
}

static int held_out(const double *T, int n_test, int rows, int cols, dln_matrix_data *out, dln_error *err)
{
    if (!T) return DLN_OK;
    DLN_TRY(dln_matrix_entries(T, n_test, 3, rows, cols, "the held-out entries", &out->test_at, &out->test_value, err));
    out->n_test = n_test;
    return DLN_OK;
}

int dln_matrix_completion(const double *E, int k, const double *T, int n_test, int rows, int cols,
                          dln_matrix_data *out, dln_error *err)
{
    memset(out, 0, sizeof *out);
    *out = (dln_matrix_data){.kind = DLN_MATRIX_COMPLETION, .rows = rows, .cols = cols, .k = k};
    int rc = dln_matrix_entries(E, k, 3, rows, cols, "the entries", &out->at, &out->b, err);
    if (!rc) rc = check_nonzero(out->b, k, "the entries", err);
    if (!rc) rc = held_out(T, n_test, rows, cols, out, err);
    if (rc) dln_matrix_free(out);
    return rc;
}

int dln_matrix_sensing(const double *A, int k, int a_cols, const double *b, int n_b, const double *T, int n_test,
                       int rows, int cols, dln_matrix_data *out, dln_error *err)
{
    memset(out, 0, sizeof *out);
    if (rows < 1 || cols < 1 || rows > DLN_MAX_DIM || cols > DLN_MAX_DIM)
        return dln_fail(err, DLN_EINPUT, "the matrix is %d x %d: give --rows and --cols of at least 1", rows, cols);
    size_t rc_ = (size_t)rows * (size_t)cols;
    if (k < 1 || (size_t)a_cols != rc_)
        return dln_fail(err, DLN_EINPUT, "the sensing matrices: shape (%d, %d); expected (k, rows x cols) = (k, %zu) "
                        "with k >= 1", k, a_cols, rc_);
    if (n_b != k)
        return dln_fail(err, DLN_EINPUT, "the measurements b: %d values for %d sensing matrices", n_b, k);
    for (size_t e = 0; e < (size_t)k * rc_; e++)
        if (!isfinite(A[e])) return dln_fail(err, DLN_EINPUT, "the sensing matrices: entry %zu of A_%zu is not finite",
                                             e / (size_t)k, e % (size_t)k);
    for (int l = 0; l < k; l++)
        if (!isfinite(b[l])) return dln_fail(err, DLN_EINPUT, "the measurements b: b_%d = %g is not finite", l, b[l]);
    DLN_TRY(check_nonzero(b, k, "the measurements b", err));
    *out = (dln_matrix_data){.kind = DLN_MATRIX_SENSING, .rows = rows, .cols = cols, .k = k};
    out->A = malloc(sizeof(double) * (size_t)k * rc_);
    out->b = malloc(sizeof(double) * (size_t)k);
    if (!out->A || !out->b) {
        dln_matrix_free(out);
        return dln_fail(err, DLN_ENOMEM, "out of host memory for %d sensing matrices", k);
    }
    memcpy(out->b, b, sizeof(double) * (size_t)k);
    for (int i = 0; i < rows; i++) /* C-order column i cols + j -> column-major column i + j rows */
        for (int j = 0; j < cols; j++)
            memcpy(out->A + ((size_t)i + (size_t)j * rows) * k, A + ((size_t)i * cols + j) * k, sizeof(double) * (size_t)k);
    int rc = held_out(T, n_test, rows, cols, out, err);
    if (rc) dln_matrix_free(out);
    return rc;
}

int dln_matrix_load(dln_matrix_kind kind, const char *data_path, const char *b_path, const char *test_path, int rows,
                    int cols, dln_matrix_data *out, dln_error *err)
{
    memset(out, 0, sizeof *out);
    double *D = NULL, *b = NULL, *T = NULL;
    int k = 0, dc = 0, nb = 0, nt = 0, tc = 3;
    int rc = dln_npy_read(data_path, &k, &dc, &D, err);
    if (!rc && kind == DLN_MATRIX_SENSING) rc = dln_npy_read_vector(b_path, &nb, &b, err);
    if (!rc && test_path) rc = dln_npy_read(test_path, &nt, &tc, &T, err);
    if (!rc && tc != 3)
        rc = dln_fail(err, DLN_EINPUT, "%s: shape (%d, %d); expected (n, 3): row, column, value", test_path, nt, tc);
    if (!rc && kind == DLN_MATRIX_COMPLETION && dc != 3)
        rc = dln_fail(err, DLN_EINPUT, "%s: shape (%d, %d); expected (k, 3): row, column, value", data_path, k, dc);
    int checked = rc; /* the files read; what their contents break is named with the file */
    if (!rc && kind == DLN_MATRIX_COMPLETION) rc = dln_matrix_completion(D, k, T, nt, rows, cols, out, err);
    if (!rc && kind == DLN_MATRIX_SENSING) rc = dln_matrix_sensing(D, k, dc, b, nb, T, nt, rows, cols, out, err);
    if (rc && !checked) {
        char prefix[4200];
        const char *which = strstr(err->msg, "held-out") ? test_path : strstr(err->msg, "measurements b") ? b_path
                                                                                                           : data_path;
        snprintf(prefix, sizeof prefix, "%s: ", which);
        dln_error_prefix(err, prefix);
    }
    free(D), free(b), free(T);
    return rc;
}

/* A uniform integer in [0, n). */
static long uniform_below(dln_rng *g, long n)
{
    long v = (long)(dln_rng_uniform(g) * (double)n);
    return v < n ? v : n - 1;
}

int dln_matrix_synth(const dln_matrix_synth_opts *o, dln_matrix_data *out, dln_error *err)
{
    memset(out, 0, sizeof *out);
    int rows = o->rows, cols = o->cols, r = o->target_rank;
    if (rows < 1 || cols < 1 || r < 1 || o->observed < 1 || rows > DLN_MAX_DIM || cols > DLN_MAX_DIM)
        return dln_fail(err, DLN_EINPUT, "synthetic sizes must be positive (rows=%d, cols=%d, target rank=%d, "
                        "observed=%d)", rows, cols, r, o->observed);
    if (!(o->noise >= 0.0) || !isfinite(o->noise))
        return dln_fail(err, DLN_EINPUT, "noise must be a finite number >= 0 (got %g)", o->noise);
    size_t n = (size_t)rows * (size_t)cols, k = (size_t)o->observed;
    int completion = o->kind == DLN_MATRIX_COMPLETION;
    if (completion && k > n)
        return dln_fail(err, DLN_EINPUT, "--observed %zu: a %d x %d matrix has %zu entries", k, rows, cols, n);
    if (!completion && (double)k * (double)n > 1e9)
        return dln_fail(err, DLN_EINPUT, "--observed %zu measurements of a %d x %d matrix: %.3g numbers, more than "
                        "1e9", k, rows, cols, (double)k * (double)n);
    if (r > rows) r = rows;
    if (r > cols) r = cols;
    *out = (dln_matrix_data){.kind = o->kind, .rows = rows, .cols = cols, .k = (int)k};
    double *U = malloc(sizeof(double) * (size_t)rows * r), *V = malloc(sizeof(double) * (size_t)cols * r);
    long *perm = completion ? malloc(sizeof(long) * n) : NULL;
    out->target = malloc(sizeof(double) * n);
    out->b = malloc(sizeof(double) * k);
    out->n_test = completion ? (int)(n - k) : (int)n;
    out->test_at = malloc(sizeof(long) * (size_t)(out->n_test ? out->n_test : 1));
    out->test_value = malloc(sizeof(double) * (size_t)(out->n_test ? out->n_test : 1));
    if (completion) out->at = malloc(sizeof(long) * k);
    else out->A = malloc(sizeof(double) * k * n);
    if (!U || !V || (completion && (!perm || !out->at)) || (!completion && !out->A) || !out->target || !out->b ||
        !out->test_at || !out->test_value) {
        free(U), free(V), free(perm);
        dln_matrix_free(out);
        return dln_fail(err, DLN_ENOMEM, "out of host memory for a %d x %d synthetic problem", rows, cols);
    }
    dln_rng g;
    dln_rng_seed(&g, o->seed, DLN_STREAM_DATA);
    for (size_t i = 0; i < (size_t)rows * r; i++) U[i] = dln_rng_normal(&g);
    for (size_t i = 0; i < (size_t)cols * r; i++) V[i] = dln_rng_normal(&g);
    // R* (rows, cols) = U V^T, scaled to ||R*||_F = sqrt(rows cols)
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, rows, cols, r, 1.0, U, rows, V, cols, 0.0, out->target, rows);
    double norm = cblas_dnrm2((int)n, out->target, 1), scale = sqrt((double)n) / norm;
    cblas_dscal((int)n, scale, out->target, 1);
    free(U), free(V);
    if (completion) { /* the first k of a partial Fisher-Yates shuffle, in increasing order */
        for (size_t i = 0; i < n; i++) perm[i] = (long)i;
        for (size_t i = 0; i < k; i++) {
            size_t j = i + (size_t)uniform_below(&g, (long)(n - i));
            long t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        qsort(perm, k, sizeof(long), cmp_long);
        qsort(perm + k, n - k, sizeof(long), cmp_long);
        for (size_t l = 0; l < k; l++) out->at[l] = perm[l], out->b[l] = out->target[perm[l]] + o->noise * dln_rng_normal(&g);
        for (size_t l = k; l < n; l++) out->test_at[l - k] = perm[l], out->test_value[l - k] = out->target[perm[l]];
        free(perm);
    } else { /* A_l with N(0, 1) entries; b = A vec(R*) + noise */
        for (size_t e = 0; e < k * n; e++) out->A[e] = dln_rng_normal(&g);
        for (size_t l = 0; l < k; l++) out->b[l] = o->noise * dln_rng_normal(&g);
        cblas_dgemv(CblasColMajor, CblasNoTrans, (int)k, (int)n, 1.0, out->A, (int)k, out->target, 1, 1.0, out->b, 1);
        for (size_t e = 0; e < n; e++) out->test_at[e] = (long)e, out->test_value[e] = out->target[e];
    }
    return DLN_OK;
}

int dln_matrix_dense(const dln_matrix_data *m, dln_data *out, dln_error *err)
{
    size_t n = (size_t)m->rows * (size_t)m->cols;
    *out = (dln_data){.dx = m->cols, .dy = m->rows, .m = m->cols};
    out->X = calloc((size_t)m->cols * (size_t)m->cols, sizeof(double));
    out->Y = calloc(n, sizeof(double));
    if (!out->X || !out->Y) {
        dln_data_free(out);
        return dln_fail(err, DLN_ENOMEM, "out of host memory for the %d x %d matrix", m->rows, m->cols);
    }
    for (int j = 0; j < m->cols; j++) out->X[j + (size_t)j * m->cols] = 1.0;
    if (m->kind == DLN_MATRIX_COMPLETION)
        for (int l = 0; l < m->k; l++) out->Y[m->at[l]] = m->b[l];
    else // vec(Y) (rows cols) = A^T b: the back-projection sum_l b_l A_l
        cblas_dgemv(CblasColMajor, CblasTrans, m->k, (int)n, 1.0, m->A, m->k, m->b, 1, 0.0, out->Y, 1);
    return DLN_OK;
}

/* The residuals <A_l, R> - b_l into r (k). */
static void residuals(const dln_matrix_data *m, const double *R, double *r)
{
    if (m->kind == DLN_MATRIX_COMPLETION) {
        for (int l = 0; l < m->k; l++) r[l] = R[m->at[l]] - m->b[l];
        return;
    }
    memcpy(r, m->b, sizeof(double) * (size_t)m->k);
    cblas_dgemv(CblasColMajor, CblasNoTrans, m->k, m->rows * m->cols, 1.0, m->A, m->k, R, 1, -1.0, r, 1);
}

double dln_matrix_loss(const dln_matrix_data *m, const double *R)
{
    double *r = malloc(sizeof(double) * (size_t)m->k), s = 0.0;
    if (!r) return NAN;
    residuals(m, R, r);
    for (int l = 0; l < m->k; l++) s += r[l] * r[l];
    free(r);
    return 0.5 * s;
}

double dln_matrix_test_error(const dln_matrix_data *m, const double *R)
{
    double num = 0.0, den = 0.0;
    for (int l = 0; l < m->n_test; l++) {
        double d = R[m->test_at[l]] - m->test_value[l];
        num += d * d, den += m->test_value[l] * m->test_value[l];
    }
    return m->n_test > 0 && den > 0 ? sqrt(num / den) : NAN;
}

int dln_matrix_measure(const dln_matrix_data *m, const double *R, dln_matrix_metrics *out, double *sv,
                       dln_error *err)
{
    size_t n = (size_t)m->rows * (size_t)m->cols;
    int q = m->rows < m->cols ? m->rows : m->cols;
    double *A = malloc(sizeof(double) * n), *s = malloc(sizeof(double) * (size_t)q);
    if (!A || !s) {
        free(A), free(s);
        return dln_fail(err, DLN_ENOMEM, "out of host memory for the product's singular values");
    }
    memcpy(A, R, sizeof(double) * n);
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', m->rows, m->cols, A, m->rows, s, NULL, 1, NULL, 1);
    free(A);
    if (info) {
        free(s);
        return dln_fail(err, DLN_ERUNTIME, "LAPACKE_dgesdd of the product failed (info %d)", (int)info);
    }
    double sum = 0.0, ent = 0.0;
    for (int i = 0; i < q; i++) sum += s[i];
    for (int i = 0; i < q && sum > 0; i++)
        if (s[i] > 0) ent -= s[i] / sum * log(s[i] / sum);
    out->nuclear_norm = sum;
    out->effective_rank = sum > 0 ? exp(ent) : 0.0;
    out->test_error = dln_matrix_test_error(m, R);
    out->train_rmse = sqrt(2.0 * dln_matrix_loss(m, R) / m->k);
    if (sv) memcpy(sv, s, sizeof(double) * (size_t)q);
    free(s);
    return DLN_OK;
}

int dln_matrix_entries_array(const dln_matrix_data *m, int test, double **E, dln_error *err)
{
    int k = test ? m->n_test : m->k;
    const long *at = test ? m->test_at : m->at;
    const double *v = test ? m->test_value : m->b;
    if (!(*E = malloc(sizeof(double) * 3 * (size_t)(k ? k : 1)))) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    for (int l = 0; l < k; l++) {
        (*E)[l] = (double)(at[l] % m->rows);
        (*E)[l + (size_t)k] = (double)(at[l] / m->rows);
        (*E)[l + 2 * (size_t)k] = v[l];
    }
    return DLN_OK;
}

int dln_matrix_sensing_array(const dln_matrix_data *m, double **A, dln_error *err)
{
    size_t k = (size_t)m->k;
    if (!(*A = malloc(sizeof(double) * k * m->rows * m->cols))) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    for (int i = 0; i < m->rows; i++)
        for (int j = 0; j < m->cols; j++)
            memcpy(*A + ((size_t)i * m->cols + j) * k, m->A + ((size_t)i + (size_t)j * m->rows) * k, sizeof(double) * k);
    return DLN_OK;
}
