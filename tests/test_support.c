/* test_support.c: helpers shared by the numerical tests; see test_support.h. */
#include "test_support.h"

#include <cblas.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t ts_seed(void)
{
    const char *env = getenv("DLN_TEST_SEED");
    uint64_t seed;
    if (env && *env) {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    }
    cr_log_info("seed %llu (replay with DLN_TEST_SEED=%llu)", (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}

double *ts_randn(dln_rng *g, int rows, int cols)
{
    size_t n = (size_t)rows * (size_t)cols;
    double *A = malloc(sizeof(double) * (n ? n : 1));
    cr_assert_not_null(A);
    for (size_t i = 0; i < n; i++) A[i] = dln_rng_normal(g);
    return A;
}

double *ts_orth_columns(const double *B, int rows, int cols)
{
    cr_assert_geq(rows, cols);
    double *Q = ts_copy(B, (size_t)rows * cols), *tau = malloc(sizeof(double) * (size_t)(cols + 1));
    cr_assert_not_null(tau);
    cr_assert_eq(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, rows, cols, Q, rows, tau), 0);
    cr_assert_eq(LAPACKE_dorgqr(LAPACK_COL_MAJOR, rows, cols, cols, Q, rows, tau), 0);
    free(tau);
    return Q;
}

double *ts_orthonormal(dln_rng *g, int rows, int cols)
{
    double *G = ts_randn(g, rows, cols), *Q = ts_orth_columns(G, rows, cols);
    free(G);
    return Q;
}

double *ts_transpose(int rows, int cols, const double *A)
{
    double *T = malloc(sizeof(double) * ((size_t)rows * cols + 1));
    cr_assert_not_null(T);
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++) T[j + (size_t)i * cols] = A[i + (size_t)j * rows];
    return T;
}

double *ts_with_singular_values(dln_rng *g, int rows, int cols, const double *s, double **Vout)
{
    int n = rows < cols ? rows : cols;
    double *U = ts_orthonormal(g, rows, n), *V = ts_orthonormal(g, cols, n);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < rows; i++) U[i + (size_t)j * rows] *= s[j];
    double *A = ts_mul(0, 1, rows, cols, n, U, V);
    free(U);
    if (Vout)
        *Vout = V;
    else
        free(V);
    return A;
}

double *ts_copy(const double *A, size_t n)
{
    double *B = malloc(sizeof(double) * (n ? n : 1));
    cr_assert_not_null(B);
    memcpy(B, A, sizeof(double) * n);
    return B;
}

double *ts_mul(int ta, int tb, int m, int n, int k, const double *A, const double *B)
{
    double *C = calloc((size_t)m * (size_t)n + 1, sizeof(double));
    cr_assert_not_null(C);
    cblas_dgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0, A,
                ta ? k : m, B, tb ? n : k, 0.0, C, m);
    return C;
}

double *ts_singular_values(int rows, int cols, const double *A)
{
    int n = rows < cols ? rows : cols;
    double *a = ts_copy(A, (size_t)rows * cols), *s = malloc(sizeof(double) * (size_t)(n + 1));
    double *superb = malloc(sizeof(double) * (size_t)(n + 1)), dummy = 0;
    cr_assert(s && superb);
    cr_assert_eq(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'N', 'N', rows, cols, a, rows, s, &dummy, 1, &dummy, 1, superb),
                 0);
    free(a), free(superb);
    return s;
}

double ts_sumsq(const double *A, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += A[i] * A[i];
    return s;
}

int ts_says(const char *text, const char *word) { return text && word && strstr(text, word) != NULL; }

double ts_rel(double a, double b)
{
    double d = fabs(a - b);
    return b != 0.0 ? d / fabs(b) : d;
}

double ts_rel_mat(const double *A, const double *B, size_t n)
{
    double d = 0.0, r = 0.0;
    for (size_t i = 0; i < n; i++) {
        d += (A[i] - B[i]) * (A[i] - B[i]);
        r += B[i] * B[i];
    }
    return r > 0 ? sqrt(d / r) : sqrt(d);
}

const dln_backend_kind ts_backend_kinds[TS_BACKENDS] = {DLN_BACKEND_CPU, DLN_BACKEND_CUDA};

const char *ts_backend_label(dln_backend_kind kind) { return kind == DLN_BACKEND_CUDA ? "cuda" : "cpu"; }

dln_backend *ts_backend(dln_backend_kind kind, dln_error *err)
{
    dln_backend *be = NULL;
    dln_error_clear(err);
    if (!dln_backend_available(kind)) { /* the refusal says why: not built, or no device */
        cr_assert_neq(dln_backend_create(kind, err, &be, NULL), DLN_OK, "an unavailable backend was created");
        cr_skip_test("%s", err->msg);
    }
    cr_assert_eq(dln_backend_create(kind, err, &be, NULL), DLN_OK, "%s: %s", ts_backend_label(kind), err->msg);
    return be;
}

dln_backend *ts_cpu(dln_error *err) { return ts_backend(DLN_BACKEND_CPU, err); }

void ts_shape(dln_shape *s, int depth, const int *dims)
{
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_shape_make(depth, dims[0], dims[depth], dims + 1, depth - 1, s, &err), DLN_OK, "%s", err.msg);
}

double **ts_rand_weights(dln_rng *g, const dln_shape *s, double scale)
{
    double **W = calloc((size_t)s->depth, sizeof(double *));
    cr_assert_not_null(W);
    for (int i = 0; i < s->depth; i++) {
        W[i] = ts_randn(g, s->dims[i + 1], s->dims[i]);
        for (size_t e = 0; e < (size_t)s->dims[i + 1] * s->dims[i]; e++) W[i][e] *= scale / sqrt(s->dims[i]);
    }
    return W;
}

double **ts_copy_weights(const dln_shape *s, double *const *W)
{
    double **C = calloc((size_t)s->depth, sizeof(double *));
    cr_assert_not_null(C);
    for (int i = 0; i < s->depth; i++) C[i] = ts_copy(W[i], (size_t)s->dims[i + 1] * s->dims[i]);
    return C;
}

double **ts_zero_weights(const dln_shape *s)
{
    double **W = NULL;
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_weights_alloc(s, &W, &err), DLN_OK, "%s", err.msg);
    return W;
}

double **ts_moved_weights(const dln_shape *s, double *const *W, double a, double *const *V)
{
    double **out = ts_copy_weights(s, W);
    for (int i = 0; i < s->depth; i++)
        for (size_t e = 0; e < (size_t)s->dims[i + 1] * s->dims[i]; e++) out[i][e] += a * V[i][e];
    return out;
}

double ts_dot_weights(const dln_shape *s, double *const *A, double *const *B)
{
    double d = 0.0;
    for (int i = 0; i < s->depth; i++)
        for (size_t e = 0; e < (size_t)s->dims[i + 1] * s->dims[i]; e++) d += A[i][e] * B[i][e];
    return d;
}

double ts_rel_weights(const dln_shape *s, double *const *A, double *const *B)
{
    double worst = 0.0;
    for (int i = 0; i < s->depth; i++) {
        double e = ts_rel_mat(A[i], B[i], (size_t)s->dims[i + 1] * s->dims[i]);
        if (!(e <= worst)) worst = e; /* NaN propagates */
    }
    return worst;
}

dln_data ts_data(int dx, int dy, int m, double *X, double *Y)
{
    dln_data d = {dx, dy, m, X, Y};
    return d;
}

int ts_record(void *ctx, const dln_observation *obs)
{
    ts_trace *t = ctx;
    if (obs->final && t->n > 0 && t->obs[t->n - 1].step == obs->step) return 0;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->obs = realloc(t->obs, sizeof(dln_observation) * (size_t)t->cap);
        cr_assert_not_null(t->obs);
    }
    t->obs[t->n++] = *obs;
    return 0;
}

void ts_trace_free(ts_trace *t)
{
    free(t->obs);
    memset(t, 0, sizeof *t);
}

void ts_tempdir(char *buf, size_t cap, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, cap, "%s/dln_test_%s_XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    cr_assert_not_null(mkdtemp(buf), "mkdtemp failed for %s", buf);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void ts_rmtree(const char *dir)
{
    cr_assert_eq(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS), 0, "cannot remove %s", dir);
}

int ts_train(dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s, int count, double ***W,
             const dln_train_opts *o, dln_train_result *res, dln_error *err)
{
    dln_fit fit;
    dln_reference ref;
    int rc = dln_shallow_problem(sh, d, &fit, &ref, err);
    if (!rc) rc = dln_train(be, &fit, &ref, s, count, W, o, res, err);
    dln_reference_free(&ref);
    return rc;
}

double ts_auto_lr(const dln_shape *s, double *const *W, const dln_shallow *sh, const dln_data *d)
{
    dln_fit fit;
    dln_reference ref;
    dln_error err;
    dln_error_clear(&err);
    if (dln_shallow_problem(sh, d, &fit, &ref, &err)) return NAN;
    double lr = dln_auto_lr(s, W, &ref);
    dln_reference_free(&ref);
    return lr;
}
