/* test_shallow_rank_k.c: the shallow problem with an active rank bound (dln_shallow_rank_k,
 * src/solver/rank_k.c) and the local-minimum certificate (dln_shallow_certify_at,
 * src/solver/certify.c), on every backend, against independent computations: the square
 * loss's closed-form optimum L*_k and its rank-k critical points (the SVD of the compressed
 * target); the Riemannian Hessian's extremes against the matrix of second differences of
 * f along the SVD-truncation retraction (a second-order retraction: d^2/dt^2 f(P_k(R + t
 * xi)) at 0 is <xi, Hess f[xi]> at any point), built from the long-double oracle. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/parameterized.h>

#include "convex_cases.h"

/* P_k(A): the best rank-k approximation of A (dy, dx) into out. */
static void truncate_svd(int dy, int dx, int k, const double *A, double *out)
{
    int full = dy < dx ? dy : dx;
    double *a = malloc(sizeof(double) * (size_t)dy * dx), *s = malloc(sizeof(double) * (size_t)full);
    double *U = malloc(sizeof(double) * (size_t)dy * full), *VT = malloc(sizeof(double) * (size_t)full * dx);
    memcpy(a, A, sizeof(double) * (size_t)dy * dx);
    cr_assert_eq(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', dy, dx, a, dy, s, U, dy, VT, full), 0);
    for (int j = 0; j < k; j++) cblas_dscal(dy, s[j], U + (size_t)j * dy, 1);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, dx, k, 1.0, U, dy, VT, full, 0.0, out, dy);
    free(a), free(s), free(U), free(VT);
}

/* A random rank-k point: U V^T, Gaussian factors of scale `scale`. */
static void random_rank_k(convex_case *c, int k, double scale, double *R)
{
    int dy = c->d.dy, dx = c->d.dx;
    double *U = malloc(sizeof(double) * (size_t)dy * k), *V = malloc(sizeof(double) * (size_t)dx * k);
    for (int i = 0; i < dy * k; i++) U[i] = scale * dln_rng_normal(&c->g);
    for (int i = 0; i < dx * k; i++) V[i] = scale * dln_rng_normal(&c->g);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, dy, dx, k, 1.0, U, dy, V, dx, 0.0, R, dy);
    free(U), free(V);
}

TestOnBackends(shallow_rank_k, the_square_loss_best_value_is_the_closed_form)
{
    for (int k = 1; k <= 3; k++) {
        convex_case c;
        case_make(&c, TS_KIND, NULL, NULL, 7, 5, 40, 0);
        dln_shallow sh;
        OK(&c, dln_shallow_solve(c.be, &c.d, k, 0.0, 0, &sh, &c.err));
        dln_rank_k_result r;
        OK(&c, dln_shallow_rank_k(c.be, NULL, &c.d, k, 4, c.seed, &r, &c.err));
        /* the square loss has no bad local minima (Thm 2.2): every restart certified at L*_k;
         * the local solve stops at a relative gradient of 1e-11, a value error of ~1e-22 of
         * the scale: 1e-10 leaves room for the rounding of f itself (~1e-14) */
        cr_expect(fabs(r.best - sh.optimum) <= 1e-10 * sh.y_half, "%s k %d: best %.17g vs L* %.17g (seed %llu)",
                  c.label, k, r.best, sh.optimum, (unsigned long long)c.seed);
        cr_expect_eq(r.certified, 4, "%s k %d: %d of 4 certified (%d saddles, %d unconverged)", c.label, k,
                     r.certified, r.saddles, r.unconverged);
        cr_expect_eq(r.n_minima, 1, "%s k %d: %d distinct minima", c.label, k, r.n_minima);
        cr_expect(r.lower_bound <= r.best && fabs(r.lower_bound - sh.lstsq) <= 1e-10 * sh.y_half,
                  "%s k %d: lower bound %.17g, least squares %.17g", c.label, k, r.lower_bound, sh.lstsq);
        dln_rank_k_free(&r);
        dln_shallow_free(&sh);
        case_free(&c);
    }
}

/* The Riemannian Hessian on the tangent space at R (rank k), by second differences of the
 * oracle's f along P_k(R + t xi) for the tangent basis xi_i and the pairs xi_i + xi_j. */
static void hessian_by_differences(convex_case *c, const dln_loss *l, const double *R, int k, double *Hm, int *dim_out)
{
    int dy = c->d.dy, dx = c->d.dx, full = dy < dx ? dy : dx;
    size_t n = (size_t)dy * dx;
    double *a = malloc(sizeof(double) * n), *s = malloc(sizeof(double) * (size_t)full);
    double *U = malloc(sizeof(double) * (size_t)dy * dy), *VT = malloc(sizeof(double) * (size_t)dx * dx);
    memcpy(a, R, sizeof(double) * n);
    cr_assert_eq(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'A', dy, dx, a, dy, s, U, dy, VT, dx), 0);
    int dim = k * (dy + dx - k);
    double *basis = malloc(sizeof(double) * n * (size_t)dim), *x = malloc(sizeof(double) * n);
    double *y = malloc(sizeof(double) * n);
    int b = 0; /* u_i v_j^T for (i < k or j < k): the tangent space's orthonormal basis */
    for (int j = 0; j < dx; j++)
        for (int i = 0; i < dy; i++) {
            if (i >= k && j >= k) continue;
            for (int q = 0; q < dx; q++)
                for (int p = 0; p < dy; p++) basis[b * n + p + (size_t)q * dy] = U[p + (size_t)i * dy] * VT[j + (size_t)q * dx];
            b++;
        }
    cr_assert_eq(b, dim);
    double t = 1e-4, f0 = oracle(c, l, R, NULL);
    double *diag = malloc(sizeof(double) * (size_t)dim);
#define ALONG(dir, h, out)                                                                                         \
    do {                                                                                                           \
        for (size_t e = 0; e < n; e++) y[e] = R[e] + (h) * (dir)[e];                                               \
        truncate_svd(dy, dx, k, y, x);                                                                             \
        out = oracle(c, l, x, NULL);                                                                               \
    } while (0)
    for (int i = 0; i < dim; i++) {
        double fp, fm;
        ALONG(basis + i * n, t, fp);
        ALONG(basis + i * n, -t, fm);
        diag[i] = Hm[i + (size_t)i * dim] = (fp - 2 * f0 + fm) / (t * t);
    }
    double *sum = malloc(sizeof(double) * n);
    for (int i = 0; i < dim; i++)
        for (int j = i + 1; j < dim; j++) {
            double fp, fm;
            for (size_t e = 0; e < n; e++) sum[e] = basis[i * n + e] + basis[j * n + e];
            ALONG(sum, t, fp);
            ALONG(sum, -t, fm);
            double q = (fp - 2 * f0 + fm) / (t * t); /* <e_i + e_j, H (e_i + e_j)> */
            Hm[i + (size_t)j * dim] = Hm[j + (size_t)i * dim] = 0.5 * (q - diag[i] - diag[j]);
        }
#undef ALONG
    *dim_out = dim;
    free(a), free(s), free(U), free(VT), free(basis), free(x), free(y), free(diag), free(sum);
}

TestOnBackends(shallow_rank_k, the_riemannian_hessian_matches_second_differences)
{
    static const convex_spec specs[] = {
        {"lp", {NULL, 0, 4.0, 0, NULL}, {DLN_LOSS_LP, 4.0}},
        {"huber", {NULL, 0, 0, 1.0, NULL}, {DLN_LOSS_HUBER, 1.0}},
        {"softmax", {NULL, 0, 0, 0, NULL}, {DLN_LOSS_SOFTMAX, 0}},
    };
    for (size_t q = 0; q < sizeof specs / sizeof specs[0]; q++) {
        convex_case c;
        int dx = 4, dy = 3, m = 30, k = 1;
        case_make(&c, TS_KIND, specs[q].name, &specs[q].p, dx, dy, m, q == 2 ? 2 : 0);
        double *R = malloc(sizeof(double) * (size_t)dx * dy);
        random_rank_k(&c, k, 0.5, R); /* not a critical point: the curvature term is exercised */
        dln_certificate cert;
        OK(&c, dln_shallow_certify_at(c.be, c.obj, &c.d, R, k, 0, 1, &cert, &c.err));
        cr_assert(cert.on_manifold && cert.product_rank == k, "%s: rank %d", c.label, cert.product_rank);
        int dim;
        double *Hm = malloc(sizeof(double) * 64 * 64), w[64];
        hessian_by_differences(&c, &specs[q].l, R, k, Hm, &dim);
        cr_assert_eq(LAPACKE_dsyev(LAPACK_COL_MAJOR, 'N', 'U', dim, Hm, dim, w), 0);
        double scale = fmax(fabs(w[0]), fabs(w[dim - 1]));
        /* second differences with t = 1e-4: truncation error O(t^2 f'''') ~ 1e-8, rounding
         * eps f / t^2 ~ 1e-8 of the scale: 1e-5 of the largest eigenvalue */
        cr_expect(fabs(cert.hess_min - w[0]) <= 1e-5 * scale && fabs(cert.hess_max - w[dim - 1]) <= 1e-5 * scale,
                  "%s: certificate [%.10g, %.10g], differences [%.10g, %.10g] (seed %llu)", c.label, cert.hess_min,
                  cert.hess_max, w[0], w[dim - 1], (unsigned long long)c.seed);
        cr_expect_eq(cert.tangent_dim, dim);
        free(R), free(Hm);
        case_free(&c);
    }
}

TestOnBackends(shallow_rank_k, a_planted_shallow_saddle_is_not_certified_and_the_optimum_is)
{
    /* the square loss with X = I (m = dx): f(R) = 1/2 ||R - Y||^2, the rank-k critical points
     * are sums of k of Y's SVD terms; the top k is the minimum, any other choice a saddle */
    convex_case c;
    int dx = 6, dy = 5, k = 2;
    case_make(&c, TS_KIND, NULL, NULL, dx, dy, dx, 0);
    memset(c.d.X, 0, sizeof(double) * dx * dx);
    for (int i = 0; i < dx; i++) c.d.X[i + (size_t)i * dx] = 1.0;
    double *Y = malloc(sizeof(double) * dy * dx), s[5], U[25], VT[36], *R = calloc(dy * dx, sizeof(double));
    memcpy(Y, c.d.Y, sizeof(double) * dy * dx);
    cr_assert_eq(LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'A', dy, dx, Y, dy, s, U, dy, VT, dx), 0);
    int modes[2][2] = {{0, 1}, {0, 2}}; /* the optimum; mode 2 left out for mode 3: a saddle */
    for (int w = 0; w < 2; w++) {
        memset(R, 0, sizeof(double) * dy * dx);
        for (int t = 0; t < k; t++) {
            int i = modes[w][t];
            cblas_dger(CblasColMajor, dy, dx, s[i], U + i * dy, 1, VT + i, dx, R, dy);
        }
        dln_certificate cert;
        OK(&c, dln_shallow_certify_at(c.be, NULL, &c.d, R, k, 0, 1, &cert, &c.err));
        cr_expect(cert.on_manifold && cert.grad_rel <= 1e-12, "%s: modes %d,%d: rank %d, Riemannian gradient %g",
                  c.label, modes[w][0] + 1, modes[w][1] + 1, cert.product_rank, cert.grad_rel);
        /* f = 1/2 ||R - Y||^2 on the rank-2 manifold: at a critical point made of modes
         * {i in} the Riemannian Hessian's smallest eigenvalue is min(1, min 1 - s_out / s_in),
         * here 1 - s_2 / s_3 < 0 at the saddle (turning mode 3 toward mode 2) and
         * 1 - s_3 / s_2 > 0 at the optimum: to 1e-8 (Lanczos on this 18-dimensional tangent
         * space is exact to rounding) */
        double want = w == 0 ? 1.0 - s[2] / s[1] : 1.0 - s[1] / s[2];
        cr_expect(fabs(cert.hess_min - want) <= 1e-8 * fabs(cert.hess_max), "%s: modes %d,%d: lambda_min %.12g, "
                  "closed form %.12g", c.label, modes[w][0] + 1, modes[w][1] + 1, cert.hess_min, want);
        if (w == 0)
            cr_expect(cert.local_min && cert.hess_min > 0, "%s: the optimum not certified: lambda_min %g",
                      c.label, cert.hess_min);
        else
            cr_expect(!cert.local_min && cert.hess_min < -1e-3 * cert.hess_max,
                      "%s: the saddle certified: lambda_min %g, lambda_max %g", c.label, cert.hess_min, cert.hess_max);
    }
    free(Y), free(R);
    case_free(&c);
}

TestOnBackends(shallow_rank_k, other_losses_bound_below_and_repeat)
{
    static const convex_spec specs[] = {
        {"lp", {NULL, 0, 4.0, 0, NULL}, {DLN_LOSS_LP, 4.0}},
        {"huber", {NULL, 0, 0, 0.5, NULL}, {DLN_LOSS_HUBER, 0.5}},
        {"softmax", {NULL, 0, 0, 0, NULL}, {DLN_LOSS_SOFTMAX, 0}},
    };
    for (size_t q = 0; q < sizeof specs / sizeof specs[0]; q++) {
        convex_case c;
        int dx = 6, dy = 4, m = 60, k = 2;
        case_make(&c, TS_KIND, specs[q].name, &specs[q].p, dx, dy, m, q == 2 ? 2 : 0);
        dln_rank_k_result r, r2;
        OK(&c, dln_shallow_rank_k(c.be, c.obj, &c.d, k, 5, c.seed, &r, &c.err));
        OK(&c, dln_shallow_rank_k(c.be, c.obj, &c.d, k, 5, c.seed, &r2, &c.err));
        cr_expect(r.certified >= 1, "%s: none of 5 restarts certified (%d saddles, %d unconverged)", c.label,
                  r.saddles, r.unconverged);
        cr_expect(r.lower_bound <= r.best, "%s: lower bound %.17g above the best %.17g", c.label, r.lower_bound, r.best);
        cr_expect(r.best < r.zero_loss, "%s: best %g, f(0) %g", c.label, r.best, r.zero_loss);
        cr_expect(r.best == r2.best && r.n_minima == r2.n_minima, "%s: not repeatable: %.17g vs %.17g", c.label,
                  r.best, r2.best);
        /* the oracle agrees with the value at the product returned */
        double fo = oracle(&c, &specs[q].l, r.R, NULL);
        cr_expect(fabs(fo - r.best) <= 1e-12 * fabs(fo), "%s: value %.17g, oracle %.17g", c.label, r.best, fo);
        int count = 0;
        for (int i = 0; i < r.n_minima; i++) count += r.minima[i].count;
        cr_expect_eq(count, r.certified);
        dln_rank_k_free(&r), dln_rank_k_free(&r2);
        case_free(&c);
    }
}

TestOnBackends(shallow_rank_k, bad_arguments_are_refused)
{
    convex_case c;
    case_make(&c, TS_KIND, NULL, NULL, 4, 3, 10, 0);
    dln_rank_k_result r;
    cr_expect_eq(dln_shallow_rank_k(c.be, NULL, &c.d, 0, 3, 1, &r, &c.err), DLN_EINPUT);
    cr_expect_eq(dln_shallow_rank_k(c.be, NULL, &c.d, 3, 3, 1, &r, &c.err), DLN_EINPUT); /* k = min(dx, dy) */
    cr_expect_eq(dln_shallow_rank_k(c.be, NULL, &c.d, 1, 0, 1, &r, &c.err), DLN_EINPUT);
    case_free(&c);
}
