/* test_matrix.c: matrix completion and sensing (dln/matrix.h, src/objective/completion.c,
 * sensing.c, src/solver/nuclear.c) on every backend, against host computations written here
 * from the definitions and independent of the library's: the loss from the (row, col, value)
 * array or numpy's C-order A directly, its exact gradient through the product in closed form
 * (G_i = P_>i^T E P_<i^T with E = dL/dR), H V by central differences of that gradient; a
 * batch of three on two threads each equal to its single run; the observations' checks; the
 * synthetic problem's rank, scale and split; the nuclear-norm baseline where the answer is
 * known (every entry observed, or as many independent measurements as entries: the one
 * feasible matrix). (Trajectories against numpy and the baseline against a convex solver:
 * python/tests/test_matrix.py.) Fresh random data every run; the seed is in every message. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

typedef struct {
    dln_error err;
    dln_backend *be;
    dln_shape s;
    dln_matrix_data m;
    dln_data d;
    dln_objective *obj;
    int rows, cols, k;
    double *E;  /* completion: (k, 3) entries */
    double *A;  /* sensing: (k, rows cols) in C order, ld = k */
    double *b;
    uint64_t seed;
    dln_rng g;
    char label[64];
} mx_case;

#define OK(c, call) cr_assert_eq((call), DLN_OK, "%s: %s: %s (seed %llu)", (c)->label, #call, (c)->err.msg, \
                                 (unsigned long long)(c)->seed)

/* A completion (sensing = 0) or sensing problem on a rank-2 target with k observations. */
static void case_make(mx_case *c, dln_backend_kind kind, int sensing, int rows, int cols, int k)
{
    memset(c, 0, sizeof *c);
    c->be = ts_backend(kind, &c->err);
    c->seed = ts_seed();
    c->rows = rows, c->cols = cols, c->k = k;
    snprintf(c->label, sizeof c->label, "%s %s", ts_backend_label(kind), sensing ? "sensing" : "completion");
    dln_rng_seed(&c->g, c->seed, 71);
    double *U = ts_randn(&c->g, rows, 2), *V = ts_randn(&c->g, 2, cols), *T = ts_mul(0, 0, rows, cols, 2, U, V);
    if (!sensing) { /* k distinct entries by rejection */
        c->E = malloc(sizeof(double) * 3 * (size_t)k);
        char *taken = calloc((size_t)rows * cols, 1);
        for (int l = 0; l < k;) {
            int i = (int)(dln_rng_uniform(&c->g) * rows), j = (int)(dln_rng_uniform(&c->g) * cols);
            if (taken[i + j * rows]) continue;
            taken[i + j * rows] = 1;
            c->E[l] = i, c->E[l + k] = j, c->E[l + 2 * k] = T[i + j * rows] + 0.1 * dln_rng_normal(&c->g);
            l++;
        }
        free(taken);
        OK(c, dln_matrix_completion(c->E, k, NULL, 0, rows, cols, &c->m, &c->err));
    } else {
        c->A = ts_randn(&c->g, k, rows * cols);
        c->b = malloc(sizeof(double) * (size_t)k);
        for (int l = 0; l < k; l++) {
            double s = 0.0;
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) s += c->A[l + (size_t)(i * cols + j) * k] * T[i + j * rows];
            c->b[l] = s + 0.1 * dln_rng_normal(&c->g);
        }
        OK(c, dln_matrix_sensing(c->A, k, rows * cols, c->b, k, NULL, 0, rows, cols, &c->m, &c->err));
    }
    free(U), free(V), free(T);
    OK(c, dln_matrix_dense(&c->m, &c->d, &c->err));
    dln_objective_params p = {.matrix = &c->m};
    OK(c, dln_objective_create(sensing ? "sensing" : "completion", &p, &c->obj, &c->err));
}

static void case_free(mx_case *c)
{
    dln_objective_destroy(c->obj);
    dln_data_free(&c->d);
    dln_matrix_free(&c->m);
    dln_shape_free(&c->s);
    free(c->E), free(c->A), free(c->b);
    dln_backend_destroy(c->be);
}

/* The host product R = W_H...W_1 (rows, cols). */
static double *host_product(const dln_shape *s, double *const *W)
{
    double *R = ts_copy(W[0], (size_t)s->dims[1] * s->dims[0]);
    for (int i = 1; i < s->depth; i++) {
        double *next = ts_mul(0, 0, s->dims[i + 1], s->dims[0], s->dims[i], W[i], R);
        free(R);
        R = next;
    }
    return R;
}

/* The loss at R from the definition, and dL/dR into ER (rows, cols) when not NULL. */
static double host_loss_at(const mx_case *c, const double *R, double *ER)
{
    double v = 0.0;
    int k = c->k;
    if (ER) memset(ER, 0, sizeof(double) * (size_t)c->rows * c->cols);
    for (int l = 0; l < k; l++) {
        double r;
        if (c->E) {
            int i = (int)c->E[l], j = (int)c->E[l + k];
            r = R[i + j * c->rows] - c->E[l + 2 * k];
            if (ER) ER[i + j * c->rows] += r;
        } else {
            r = -c->b[l];
            for (int i = 0; i < c->rows; i++)
                for (int j = 0; j < c->cols; j++) r += c->A[l + (size_t)(i * c->cols + j) * k] * R[i + j * c->rows];
            for (int i = 0; ER && i < c->rows; i++)
                for (int j = 0; j < c->cols; j++) ER[i + j * c->rows] += r * c->A[l + (size_t)(i * c->cols + j) * k];
        }
        v += 0.5 * r * r;
    }
    return v;
}

/* The loss at W and its gradient G_i = (W_H..W_{i+1})^T E (W_{i-1}..W_1)^T into G. */
static double host_loss(const mx_case *c, double *const *W, double **G)
{
    const dln_shape *s = &c->s;
    double *R = host_product(s, W), *ER = malloc(sizeof(double) * (size_t)c->rows * c->cols);
    double v = host_loss_at(c, R, ER);
    for (int i = 0; G && i < s->depth; i++) {
        double *below = NULL, *above = NULL, *t; /* W_{i-1}..W_1 (d_i, d_0), W_H..W_{i+2} as (d_H, d_{i+1}) */
        for (int j = 0; j < i; j++) {
            t = below ? ts_mul(0, 0, s->dims[j + 1], s->dims[0], s->dims[j], W[j], below) : ts_copy(W[0], (size_t)s->dims[1] * s->dims[0]);
            free(below);
            below = t;
        }
        for (int j = s->depth - 1; j > i; j--) {
            t = above ? ts_mul(0, 0, s->dims[s->depth], s->dims[j], s->dims[j + 1], above, W[j])
                      : ts_copy(W[j], (size_t)s->dims[j + 1] * s->dims[j]);
            free(above);
            above = t;
        }
        double *left = above ? ts_mul(1, 0, s->dims[i + 1], s->dims[0], s->dims[s->depth], above, ER)
                             : ts_copy(ER, (size_t)c->rows * c->cols); /* (d_{i+1}, d_0) */
        double *g = below ? ts_mul(0, 1, s->dims[i + 1], s->dims[i], s->dims[0], left, below) : ts_copy(left, (size_t)s->dims[1] * s->dims[0]);
        memcpy(G[i], g, sizeof(double) * (size_t)s->dims[i + 1] * s->dims[i]);
        free(below), free(above), free(left), free(g);
    }
    free(R), free(ER);
    return v;
}

static void check_at(mx_case *c, double **W, const char *where)
{
    const dln_shape *s = &c->s;
    int depth = s->depth, m = c->d.m;
    double **V = ts_rand_weights(&c->g, s, 1.0), **G = ts_zero_weights(s), **HV = ts_zero_weights(s);
    double **Gh = ts_zero_weights(s), loss;
    OK(c, dln_loss_at(c->be, c->obj, s, c->d.X, c->d.Y, m, W, &loss, G, &c->err));
    OK(c, dln_hvp_at(c->be, c->obj, s, c->d.X, c->d.Y, m, W, V, HV, &c->err));
    /* loss and gradient: the same sums in another order: 1e-12 */
    double L = host_loss(c, W, Gh);
    cr_expect_lt(ts_rel(loss, L), 1e-12, "%s %s: loss %.17g vs host %.17g (seed %llu)", c->label, where, loss, L,
                 (unsigned long long)c->seed);
    for (int i = 0; i < depth; i++) {
        double e = ts_rel_mat(G[i], Gh[i], (size_t)s->dims[i + 1] * s->dims[i]);
        cr_expect_lt(e, 1e-12, "%s %s layer %d: gradient vs the host's %.3e (seed %llu)", c->label, where, i + 1, e,
                     (unsigned long long)c->seed);
    }
    /* H V against central differences of the host gradient at h = 1e-5: the gradient is a
     * polynomial of degree 2H - 1 along V, truncation h^2 |G'''| / 6 ~ 1e-10, rounding
     * eps |G| / h ~ 1e-11: 1e-6 */
    double h = 1e-5, **Gp = ts_zero_weights(s), **Gm = ts_zero_weights(s);
    double **Wp = ts_moved_weights(s, W, h, V), **Wm = ts_moved_weights(s, W, -h, V);
    host_loss(c, Wp, Gp), host_loss(c, Wm, Gm);
    for (int i = 0; i < depth; i++) {
        size_t n = (size_t)s->dims[i + 1] * s->dims[i];
        for (size_t e = 0; e < n; e++) Gp[i][e] = (Gp[i][e] - Gm[i][e]) / (2 * h);
        double err = ts_rel_mat(HV[i], Gp[i], n);
        cr_expect_lt(err, 1e-6, "%s %s layer %d: H V vs differences of the gradient %.3e (seed %llu)", c->label, where,
                     i + 1, err, (unsigned long long)c->seed);
    }
    dln_weights_free(depth, Wp), dln_weights_free(depth, Wm), dln_weights_free(depth, Gp), dln_weights_free(depth, Gm);
    dln_weights_free(depth, V), dln_weights_free(depth, G), dln_weights_free(depth, HV), dln_weights_free(depth, Gh);
}

static void check_derivatives(dln_backend_kind kind, int sensing, int depth, const int *hidden)
{
    mx_case c;
    int rows = 6, cols = 5, dims[5];
    case_make(&c, kind, sensing, rows, cols, sensing ? 18 : 17);
    dims[0] = cols, dims[depth] = rows;
    for (int i = 1; i < depth; i++) dims[i] = hidden[i - 1];
    ts_shape(&c.s, depth, dims);
    double **W = ts_rand_weights(&c.g, &c.s, 1.0);
    check_at(&c, W, "at random weights");
    dln_weights_free(depth, W);
    case_free(&c);
}

TestOnBackends(matrix, derivatives_of_completion_and_sensing_at_depths_1_2_3)
{
    int h2[] = {3}, h3[] = {7, 2};
    for (int sensing = 0; sensing <= 1; sensing++) {
        check_derivatives(TS_KIND, sensing, 1, NULL);
        check_derivatives(TS_KIND, sensing, 2, h2);
        check_derivatives(TS_KIND, sensing, 3, h3);
    }
}

TestOnBackends(matrix, a_batch_on_two_threads_is_its_members_single_runs)
{
    enum { B = 4 };
    for (int sensing = 0; sensing <= 1; sensing++) {
        mx_case c;
        case_make(&c, TS_KIND, sensing, 7, 6, sensing ? 30 : 25);
        int dims[] = {6, 6, 6, 7};
        ts_shape(&c.s, 3, dims);
        (void)dln_backend_set_threads(c.be, 0); /* members over a thread per CPU where the backend has them */
        dln_fit fit = {c.obj, c.d.dx, c.d.dy, c.d.m, c.d.X, c.d.Y, 0, NULL, NULL, 0.0};
        dln_reference ref;
        dln_reference_none(&ref, dln_objective_zero_loss(c.obj, c.d.Y, c.d.dy, c.d.m));
        double **Wb[B], **Ws[B];
        dln_train_opts o[B];
        dln_train_result rb[B], rs;
        for (int b = 0; b < B; b++) {
            OK(&c, dln_init_weights(&c.s, DLN_INIT_GAUSSIAN, 0.3, c.seed + (uint64_t)b, &Wb[b], &c.err));
            Ws[b] = ts_copy_weights(&c.s, Wb[b]);
            dln_train_opts_default(&o[b]);
            o[b].steps = 400, o[b].tol = 0, o[b].grad_tol = 1e-8;
        }
        OK(&c, dln_train(c.be, &fit, &ref, &c.s, B, Wb, o, rb, &c.err));
        for (int b = 0; b < B; b++) {
            OK(&c, dln_train(c.be, &fit, &ref, &c.s, 1, &Ws[b], &o[b], &rs, &c.err));
            /* bit for bit on the CPU; on CUDA strided-batched and plain GEMMs may round differently */
            double ew = ts_rel_weights(&c.s, Wb[b], Ws[b]);
            if (TS_KIND == DLN_BACKEND_CPU)
                cr_expect_eq(ew, 0.0, "%s member %d: weights differ from alone by %.3e (seed %llu)", c.label, b, ew,
                             (unsigned long long)c.seed);
            else
                cr_expect_lt(ew, 1e-10, "%s member %d: weights differ from alone by %.3e (seed %llu)", c.label, b, ew,
                             (unsigned long long)c.seed);
            cr_expect(!rb[b].diverged && rb[b].loss < 0.5 * rb[b].loss_init, "%s member %d: %g -> %g (seed %llu)",
                      c.label, b, rb[b].loss_init, rb[b].loss, (unsigned long long)c.seed);
            /* the loss reported is the host's at the returned weights (1e-12 of the zero loss) */
            double L = host_loss(&c, Wb[b], NULL);
            cr_expect_lt(fabs(rb[b].loss - L), 1e-12 * ref.zero_loss, "%s member %d: loss %.17g vs host %.17g",
                         c.label, b, rb[b].loss, L);
            dln_weights_free(3, Wb[b]), dln_weights_free(3, Ws[b]);
        }
        case_free(&c);
    }
}

/* ---- the observations' checks ------------------------------------------------------------- */

static void expect_refused(int rc, const dln_error *err, const char *says, const char *what)
{
    cr_expect_eq(rc, DLN_EINPUT, "%s: rc %d (%s)", what, rc, err->msg);
    cr_expect(ts_says(err->msg, says), "%s: message '%s' lacks '%s'", what, err->msg, says);
}

Test(matrix, bad_observations_are_refused_with_their_reason)
{
    dln_error err = {0};
    dln_matrix_data m;
    /* (row, col, value) columns of k = 3 entries of a 4 x 5 matrix */
    double good[] = {0, 1, 3, 0, 2, 4, 1.0, 2.0, 3.0};
    struct {
        int idx;
        double v;
        const char *says;
    } bad[] = {{0, 1.5, "row 1.5 is not an integer"}, {1, 4, "row 4 is not an integer in [0, 4)"},
               {3, -1, "column -1"},                   {5, 5, "column 5 is not an integer in [0, 5)"},
               {6, NAN, "not finite"},                 {4, INFINITY, "column inf"},
               {2, 0, "entry (0, 0) is given more than once"}};
    for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
        double E[9];
        memcpy(E, good, sizeof E);
        E[bad[t].idx] = bad[t].v;
        if (bad[t].idx == 2) E[5] = 0; /* entry 2 at (0, 0), as entry 0 */
        dln_error_clear(&err);
        expect_refused(dln_matrix_completion(E, 3, NULL, 0, 4, 5, &m, &err), &err, bad[t].says, bad[t].says);
    }
    dln_error_clear(&err);
    expect_refused(dln_matrix_entries(good, 0, 3, 4, 5, "the entries", &m.at, &m.b, &err), &err, "no entries", "k = 0");
    dln_error_clear(&err);
    expect_refused(dln_matrix_entries(good, 3, 2, 4, 5, "the entries", &m.at, &m.b, &err), &err, "expected (k, 3)",
                   "two columns");
    double zeros[] = {0, 1, 0, 0, 0, 0};
    dln_error_clear(&err);
    expect_refused(dln_matrix_completion(zeros, 2, NULL, 0, 4, 5, &m, &err), &err, "every observed value is 0", "zeros");
    dln_error_clear(&err);
    double held[] = {0, 9, 1.0};
    expect_refused(dln_matrix_completion(good, 3, held, 1, 4, 5, &m, &err), &err, "held-out entries: entry 0: column 9",
                   "a held-out column out of range");
    /* sensing: A's width, b's length, a NaN in each */
    double A[2 * 6] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, b[2] = {1, 2};
    dln_error_clear(&err);
    expect_refused(dln_matrix_sensing(A, 2, 6, b, 2, NULL, 0, 2, 2, &m, &err), &err, "expected (k, rows x cols)",
                   "A of 6 columns for a 2 x 2 matrix");
    dln_error_clear(&err);
    expect_refused(dln_matrix_sensing(A, 2, 6, b, 1, NULL, 0, 2, 3, &m, &err), &err, "1 values for 2", "short b");
    A[7] = NAN;
    dln_error_clear(&err);
    expect_refused(dln_matrix_sensing(A, 2, 6, b, 2, NULL, 0, 2, 3, &m, &err), &err, "is not finite", "NaN in A");
    A[7] = 8, b[1] = INFINITY;
    dln_error_clear(&err);
    expect_refused(dln_matrix_sensing(A, 2, 6, b, 2, NULL, 0, 2, 3, &m, &err), &err, "b_1 = inf", "inf in b");
    /* the objective without its observations */
    dln_objective *o = NULL;
    dln_error_clear(&err);
    expect_refused(dln_objective_create("completion", NULL, &o, &err), &err, "needs its observed entries", "no matrix");
    dln_objective_params lp = {.p = 4};
    dln_error_clear(&err);
    expect_refused(dln_objective_create("sensing", &lp, &o, &err), &err, "no exponent p", "a parameter of lp");
}

/* ---- the synthetic problem -------------------------------------------------------------- */

Test(matrix, the_synthetic_problem_has_its_rank_scale_and_split)
{
    dln_error err = {0};
    uint64_t seed = ts_seed();
    for (int sensing = 0; sensing <= 1; sensing++) {
        dln_matrix_synth_opts o = {sensing ? DLN_MATRIX_SENSING : DLN_MATRIX_COMPLETION, 9, 7, 3, sensing ? 40 : 30,
                                   0.0, seed};
        dln_matrix_data m;
        cr_assert_eq(dln_matrix_synth(&o, &m, &err), DLN_OK, "%s", err.msg);
        double *sv = ts_singular_values(9, 7, m.target);
        cr_expect_lt(sv[3], 1e-12 * sv[0], "rank %d target: sigma_4 = %g (seed %llu)", 3, sv[3], (unsigned long long)seed);
        cr_expect_gt(sv[2], 1e-6 * sv[0], "rank 3 target: sigma_3 = %g", sv[2]);
        cr_expect_lt(fabs(sqrt(ts_sumsq(m.target, 63)) - sqrt(63.0)), 1e-12 * sqrt(63.0), "||R*||_F is not sqrt(63)");
        free(sv);
        /* noise 0: the loss at R* is 0 to rounding, and the test error of R* is 0 */
        cr_expect_lt(dln_matrix_loss(&m, m.target), 1e-24 * ts_sumsq(m.b, (size_t)m.k), "loss at R*");
        cr_expect_eq(dln_matrix_test_error(&m, m.target), 0.0, "test error at R*");
        if (!sensing) { /* k distinct observed entries, the rest held out: a partition */
            char *seen = calloc(63, 1);
            for (int l = 0; l < m.k; l++) seen[m.at[l]]++;
            for (int l = 0; l < m.n_test; l++) seen[m.test_at[l]]++;
            for (int e = 0; e < 63; e++) cr_expect_eq(seen[e], 1, "entry %d seen %d times", e, seen[e]);
            cr_expect_eq(m.n_test, 63 - 30, "held out %d", m.n_test);
            free(seen);
        } else {
            cr_expect_eq(m.n_test, 63, "sensing holds out every entry");
        }
        dln_matrix_free(&m);
    }
    dln_matrix_synth_opts big = {DLN_MATRIX_COMPLETION, 3, 3, 1, 10, 0.0, seed};
    dln_matrix_data m;
    cr_expect_eq(dln_matrix_synth(&big, &m, &err), DLN_EINPUT, "10 entries of a 3 x 3 matrix");
}

/* ---- the nuclear-norm baseline where its answer is known ------------------------------------ */

TestOnBackends(matrix, nuclear_norm_baseline_with_one_feasible_matrix_is_that_matrix)
{
    for (int sensing = 0; sensing <= 1; sensing++) {
        mx_case c;
        int rows = 5, cols = 7, n = rows * cols;
        case_make(&c, TS_KIND, sensing, rows, cols, n); /* every entry, or n independent measurements */
        /* the one feasible matrix: the observations solved for R on the host */
        double *M = malloc(sizeof(double) * (size_t)n);
        if (!sensing) {
            for (int l = 0; l < n; l++) M[(int)c.E[l] + (int)c.E[l + n] * rows] = c.E[l + 2 * n];
        } else { /* A_cm vec(R) = b, A_cm the column-major reordering; solved by Gauss-Jordan with pivoting */
            double *G = malloc(sizeof(double) * (size_t)n * (n + 1));
            for (int l = 0; l < n; l++) {
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j < cols; j++) G[l * (n + 1) + i + j * rows] = c.A[l + (size_t)(i * cols + j) * n];
                G[l * (n + 1) + n] = c.b[l];
            }
            for (int p = 0; p < n; p++) {
                int piv = p;
                for (int r = p + 1; r < n; r++)
                    if (fabs(G[r * (n + 1) + p]) > fabs(G[piv * (n + 1) + p])) piv = r;
                for (int q = 0; q <= n; q++) {
                    double t = G[p * (n + 1) + q];
                    G[p * (n + 1) + q] = G[piv * (n + 1) + q], G[piv * (n + 1) + q] = t;
                }
                for (int r = 0; r < n; r++) {
                    if (r == p) continue;
                    double f = G[r * (n + 1) + p] / G[p * (n + 1) + p];
                    for (int q = p; q <= n; q++) G[r * (n + 1) + q] -= f * G[p * (n + 1) + q];
                }
            }
            for (int p = 0; p < n; p++) M[p] = G[p * (n + 1) + n] / G[p * (n + 1) + p];
            free(G);
        }
        double *sv = ts_singular_values(rows, cols, M), nuc = 0.0;
        for (int i = 0; i < rows; i++) nuc += sv[i];
        double *R = malloc(sizeof(double) * (size_t)n);
        dln_nuclear_result res;
        OK(&c, dln_nuclear_min(c.be, &c.m, DLN_NUCLEAR_TOL, DLN_NUCLEAR_MAX_ITER, R, &res, &c.err));
        /* ADMM to relative residuals 1e-8; the feasible set a point: R within ~1e-7 of M (the
         * sensing system's conditioning, up to ~100 for a random 35 x 35 Gaussian, on top) */
        cr_expect(res.converged, "%s: not converged in %d iterations", c.label, res.iterations);
        cr_expect_lt(ts_rel_mat(R, M, (size_t)n), 1e-5, "%s: R vs the one feasible matrix %.3e (seed %llu)", c.label,
                     ts_rel_mat(R, M, (size_t)n), (unsigned long long)c.seed);
        cr_expect_lt(ts_rel(res.value, nuc), 1e-5, "%s: ||R||_* %.17g vs %.17g (seed %llu)", c.label, res.value, nuc,
                     (unsigned long long)c.seed);
        free(M), free(sv), free(R);
        case_free(&c);
    }
}
