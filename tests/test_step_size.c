/* test_step_size.c: the automatic step size (docs/maths.md, "Step size"). It must not
 * depend on the signs an SVD gives the singular vectors (any sign is legal, and LAPACK,
 * cuSOLVER and the emulated device choose differently): flipping the sign of random
 * columns of M together with the same columns of C (u_i, v_i -> -u_i, -v_i) leaves the
 * rule's value and a compressed trajectory unchanged bit for bit (sign flips are exact,
 * and every product the computation forms pairs two flipped factors or none). The value
 * is also checked against its formula with exact norms from LAPACK. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_cases.h"

/* Flips column j of M (dy, r) and C (dx, r) for every j whose bit is set; returns how many. */
static int flip_columns(dln_shallow *sh, dln_rng *g)
{
    int flipped = 0;
    for (int j = 0; j < sh->r; j++)
        if (dln_rng_next(g) >> 63) {
            for (int i = 0; i < sh->dy; i++) sh->M[i + (size_t)j * sh->dy] = -sh->M[i + (size_t)j * sh->dy];
            for (int i = 0; i < sh->dx; i++) sh->C[i + (size_t)j * sh->dx] = -sh->C[i + (size_t)j * sh->dx];
            flipped++;
        }
    return flipped;
}

/* A depth-3 problem whose X has rank 9 < m = 60 (so training runs compressed) on a
 * backend of this kind, and a generator for the signs. */
static void sign_case(tr_case *c, dln_backend_kind kind, dln_rng *g)
{
    int dims[] = {9, 5, 4, 7};
    tr_case_make(c, kind, 3, dims, 60, 4, 0.2, 0);
    dln_rng_seed(g, c->seed, 41);
}

TestOnBackends(step_size, auto_lr_does_not_depend_on_singular_vector_signs)
{
    tr_case c;
    dln_rng g;
    sign_case(&c, TS_KIND, &g);
    /* small layers: every a_j is the floor (1.1 ||R_ls||)^(1/H), the part that uses M */
    double **W = ts_rand_weights(&g, &c.s, 1e-3);
    double lr0 = ts_auto_lr(&c.s, W, &c.sh, &c.d);
    cr_assert(lr0 > 0 && isfinite(lr0), "lr %g", lr0);
    for (int trial = 0; trial < 20; trial++) {
        int n = flip_columns(&c.sh, &g);
        double lr = ts_auto_lr(&c.s, W, &c.sh, &c.d);
        cr_assert(memcmp(&lr, &lr0, sizeof lr) == 0, "%d columns flipped: lr %.17g, was %.17g (seed %llu)", n, lr,
                  lr0, SEED(&c));
    }
    dln_weights_free(3, W);
    tr_case_free(&c);
}

TestOnBackends(step_size, compressed_trajectory_does_not_depend_on_singular_vector_signs)
{
    tr_case c;
    dln_rng g;
    sign_case(&c, TS_KIND, &g);
    double **W = ts_rand_weights(&g, &c.s, 1e-3); /* the auto lr uses M (see above) */
    double **W2 = ts_copy_weights(&c.s, W);
    dln_train_opts o = opts(0.0, 300, 0.0, DLN_DATA_COMPRESSED);
    dln_train_result a = train(&c, W, &o);
    int n = flip_columns(&c.sh, &g);
    dln_train_result b = train(&c, W2, &o);
    cr_expect(memcmp(&a.lr, &b.lr, sizeof a.lr) == 0, "lr %.17g vs %.17g", a.lr, b.lr);
    cr_expect(memcmp(&a.loss, &b.loss, sizeof a.loss) == 0, "%d flipped: loss %.17g vs %.17g (seed %llu)", n, a.loss,
              b.loss, SEED(&c));
    cr_expect_eq(ts_rel_weights(&c.s, W, W2), 0.0, "%d flipped: the weights differ (seed %llu)", n, SEED(&c));
    dln_weights_free(3, W), dln_weights_free(3, W2);
    tr_case_free(&c);
}

/* sigma_1 and sigma_2 (0 when there is none) of A (rows, cols) by LAPACKE_dgesvd. */
static double exact_norm(int rows, int cols, const double *A, double *second)
{
    double *s = ts_singular_values(rows, cols, A), v = s[0];
    *second = (rows < cols ? rows : cols) > 1 ? s[1] : 0.0;
    free(s);
    return v;
}

/* The rule composed from its parts: the same 30-step norm estimates, then the formula in
 * plain (not log-space) arithmetic. Checks the composition, the factors 1.1, the floor
 * and the log-space sum; the estimates themselves are checked in the next test. */
Test(step_size, auto_lr_follows_its_formula)
{
    tr_case c;
    int dims[] = {8, 6, 3, 5};
    tr_case_make(&c, DLN_BACKEND_CPU, 3, dims, 50, 3, 0.1, 0);
    for (int scale = 0; scale < 2; scale++) { /* large layers (the norms bind), small ones (the floor) */
        dln_rng g;
        dln_rng_seed(&g, c.seed, 43 + scale);
        double **W = ts_rand_weights(&g, &c.s, scale ? 1e-3 : 3.0);
        // lr = 1 / (s_1(X)^2 sum_i prod_{j != i} a_j^2), a_j = max(1.1 w_j, (1.1 rho)^(1/H))
        int H = c.s.depth;
        double rho = 1.1 * dln_spectral_norm(c.sh.dy, c.sh.r, c.sh.M, 0, c.sh.sx, 30), a[8], sum = 0.0;
        for (int j = 0; j < H; j++)
            a[j] = fmax(1.1 * dln_spectral_norm(c.s.dims[j + 1], c.s.dims[j], W[j], 1, NULL, 30), pow(rho, 1.0 / H));
        for (int i = 0; i < H; i++) {
            double p = 1.0;
            for (int j = 0; j < H; j++) p *= j == i ? 1.0 : a[j] * a[j];
            sum += p;
        }
        double want = 1.0 / (c.sh.sx[0] * c.sh.sx[0] * sum), got = ts_auto_lr(&c.s, W, &c.sh, &c.d);
        /* exp/log round trips: a few ulps of each of H terms */
        cr_expect_lt(ts_rel(got, want), 1e-13, "scale %d: lr %.17g vs the formula %.17g (seed %llu)", scale, got,
                     want, SEED(&c));
        dln_weights_free(H, W);
    }
    tr_case_free(&c);
}

/* The power iteration estimates ||op(A) diag(1/s)||_2 from below, and converges to it
 * when the top two singular values are apart. */
Test(step_size, spectral_norm_from_below_and_converging)
{
    uint64_t seed = ts_seed();
    dln_rng g;
    dln_rng_seed(&g, seed, 44);
    const int shapes[][2] = {{7, 4}, {4, 7}, {12, 12}, {1, 5}, {5, 1}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int rows = shapes[k][0], cols = shapes[k][1], n = rows < cols ? rows : cols;
        double sv[12], sc[12];
        for (int i = 0; i < n; i++) sv[i] = 2.0 * pow(0.5, i); /* sigma_2 / sigma_1 = 1/2 */
        for (int j = 0; j < 12; j++) sc[j] = 0.5 + dln_rng_uniform(&g);
        double *A = ts_with_singular_values(&g, rows, cols, sv, NULL);
        for (int trans = 0; trans < 2; trans++)
            for (int scaled = 0; scaled < 2; scaled++) {
                /* B = op(A) diag(1/s): its exact norm from LAPACK on an explicit copy */
                int p = trans ? cols : rows, q = trans ? rows : cols;
                double *B = trans ? ts_transpose(rows, cols, A) : ts_copy(A, (size_t)rows * cols);
                for (int j = 0; j < q && scaled; j++)
                    for (int i = 0; i < p; i++) B[i + (size_t)j * p] /= sc[j];
                double s2, exact = exact_norm(p, q, B, &s2);
                double few = dln_spectral_norm(rows, cols, A, trans, scaled ? sc : NULL, 3);
                double many = dln_spectral_norm(rows, cols, A, trans, scaled ? sc : NULL, 200);
                cr_expect_leq(few, exact * (1 + 1e-14), "%dx%d trans %d: 3 steps give %.17g above %.17g", rows, cols,
                              trans, few, exact);
                /* the estimate's relative error falls like (s2/s1)^(2k) (times a constant set by
                 * the start's overlap with the top vector): 1e-12 plus that bound with k = 200
                 * and a factor 1e6 of slack for the start */
                double bound = 1e-12 + 1e6 * pow(s2 / exact, 400);
                cr_expect_lt(ts_rel(many, exact), bound, "%dx%d trans %d scaled %d: %.17g vs %.17g (seed %llu)", rows,
                             cols, trans, scaled, many, exact, (unsigned long long)seed);
                free(B);
            }
        free(A);
    }
}

/* lambda_max of the Hessian at the returned weights W, assembled from products (the
 * products are checked against finite differences in test_hessian.c) by LAPACK. */
static double assembled_lambda_max(tr_case *c, double *const *W)
{
    size_t P = dln_shape_params(&c->s);
    dln_network *net = NULL;
    int n = c->sh.r < c->d.m ? c->sh.r : c->d.m;
    cr_assert_eq(dln_network_create(c->be, &c->s, &(dln_network_config){.n = n, .dtype = DLN_F64}, &net), DLN_OK);
    cr_assert_eq(dln_network_set_data(net, n < c->d.m ? c->sh.C : c->d.X, n < c->d.m ? c->sh.M : c->d.Y), DLN_OK);
    cr_assert_eq(dln_network_set_weights(net, 0, W), DLN_OK);
    double *Hm = malloc(sizeof(double) * P * P), *ev = malloc(sizeof(double) * P), **V, **HV;
    cr_assert_eq(dln_weights_alloc(&c->s, &V, &c->err), DLN_OK);
    cr_assert_eq(dln_weights_alloc(&c->s, &HV, &c->err), DLN_OK);
    for (size_t j = 0; j < P; j++) {
        size_t at = 0;
        for (int i = 0; i < c->s.depth; i++)
            for (int e = 0; e < c->s.dims[i + 1] * c->s.dims[i]; e++, at++) V[i][e] = at == j;
        cr_assert_eq(dln_network_hvp(net, 0, V, HV), DLN_OK);
        at = 0;
        for (int i = 0; i < c->s.depth; i++)
            for (int e = 0; e < c->s.dims[i + 1] * c->s.dims[i]; e++, at++) Hm[at + j * P] = HV[i][e];
    }
    cr_assert_eq(LAPACKE_dsyev(LAPACK_COL_MAJOR, 'N', 'U', (lapack_int)P, Hm, (lapack_int)P, ev), 0);
    double top = ev[P - 1];
    dln_weights_free(c->s.depth, V), dln_weights_free(c->s.depth, HV);
    free(Hm), free(ev);
    dln_network_destroy(net);
    return top;
}

/* lambda_max at the balanced factorisation of the first mode (the rule's floor), assembled. */
static double first_mode_lambda(tr_case *c)
{
    double *R1 = malloc(sizeof(double) * (size_t)c->d.dy * c->d.dx), **Wb = NULL;
    int learnt = 0;
    cr_assert_eq(dln_shallow_first_mode(&c->sh, R1, &learnt, &c->err), DLN_OK);
    cr_assert(learnt);
    cr_assert_eq(dln_weights_alloc(&c->s, &Wb, &c->err), DLN_OK);
    cr_assert_eq(dln_weights_balanced_factor(&c->s, R1, Wb, &c->err), DLN_OK);
    double lambda = assembled_lambda_max(c, Wb);
    dln_weights_free(c->s.depth, Wb);
    free(R1);
    return lambda;
}

/* The sharpness rule: lr = c (1 - mu) / max(lambda_max at the start, at the first mode);
 * re-estimated during the run (the last lambda_max reported is that of the final
 * weights); a small network (P = 18 < 20 Lanczos products) makes every estimate exact to
 * rounding. */
TestOnBackends(step_size, the_sharpness_rule_measures_lambda_max)
{
    tr_case c;
    int dims[] = {3, 2, 2, 3};
    tr_case_make(&c, TS_KIND, 3, dims, 30, 2, 0.1, 0);
    double floor = first_mode_lambda(&c);
    for (int heavy = 0; heavy < 2; heavy++) {
        double **W = tr_init(&c, DLN_INIT_GAUSSIAN), **W0 = ts_copy_weights(&c.s, W);
        double lambda0 = fmax(assembled_lambda_max(&c, W0), floor), mu = heavy ? 0.5 : 0.0;
        dln_train_opts o = opts(0.0, 60, 0.0, DLN_DATA_AUTO);
        o.momentum = mu, o.reestimate_every = 10;
        dln_train_result r = train(&c, W, &o);
        cr_expect_lt(ts_rel(r.lr_init, DLN_LR_FACTOR * (1 - mu) / lambda0), 1e-9, "mu %g: lr_init %.17g vs c (1 - mu) / %.17g",
                     mu, r.lr_init, lambda0);
        /* the sharpness reported is measured at the final weights by 20 products (exact, P = 18) */
        double lambda = assembled_lambda_max(&c, W);
        cr_expect_lt(ts_rel(r.sharpness, lambda), 1e-6, "mu %g: reported sharpness %.17g vs %.17g at the end", mu,
                     r.sharpness, lambda);
        cr_expect(r.lr <= 2.0 * r.lr_init * 64, "bounded growth");
        dln_weights_free(3, W), dln_weights_free(3, W0);
    }
    tr_case_free(&c);
}

/* The line search: no step beyond 2 / lambda_max at the start (said by lr_capped), and a
 * zero gradient (W = 0 at depth 3) stops it at once instead of doubling the step. */
TestOnBackends(step_size, the_line_search_is_bounded_and_stops_at_a_zero_gradient)
{
    tr_case c;
    int dims[] = {4, 3, 3, 4};
    tr_case_make(&c, TS_KIND, 3, dims, 30, 2, 0.1, 0);
    double **W = tr_init(&c, DLN_INIT_ORTHOGONAL);
    dln_train_opts o = opts(0.0, 300, 0.0, DLN_DATA_AUTO);
    o.line_search = 1;
    dln_train_result r = train(&c, W, &o);
    cr_expect_gt(r.lr_capped, 0, "the search starting at 2 lr never reached the bound (lr %g, 2 / lambda %g)", r.lr,
                 2.0 / r.sharpness_init);
    cr_expect_leq(r.lr, 2.0 / r.sharpness_init * (1 + 1e-15), "lr %g above the bound %g", r.lr,
                  2.0 / r.sharpness_init);
    dln_weights_free(3, W);
    cr_assert_eq(dln_weights_alloc(&c.s, &W, &c.err), DLN_OK);
    r = train(&c, W, &o);
    cr_expect_eq(r.steps, 0, "a zero gradient: no step (%ld made, lr %g)", r.steps, r.lr);
    cr_expect_eq(r.stop, DLN_STOP_NO_DECREASE);
    cr_expect_eq(r.verdict, DLN_VERDICT_CRITICAL, "verdict %s", dln_verdict_name(r.verdict));
    cr_expect(isfinite(r.lr) && r.lr < 1e10, "the step was not inflated: %g", r.lr);
    dln_weights_free(3, W);
    tr_case_free(&c);
}

/* The first mode (dln_shallow_first_mode) against the full data: the top singular pair
 * (u, v) of Y X^T by LAPACK, a = sigma_1 / ||X^T v||^2 (u v^T does not depend on the pair's
 * joint sign); R1 is also stationary in its scale: d/da 1/2 ||a u v^T X - Y||^2 = 0.
 * Power iteration (30 steps) on a spectral gap of this size converges to ~1e-12. */
Test(step_size, the_first_mode_is_the_top_mode_of_the_gradient_at_its_least_squares_scale)
{
    tr_case c;
    int dims[] = {6, 4, 5};
    tr_case_make(&c, DLN_BACKEND_CPU, 2, dims, 40, 1, 0.2, 0); /* a rank-1 teacher: a clear top mode */
    int dx = c.d.dx, dy = c.d.dy, m = c.d.m;
    double *G = malloc(sizeof(double) * dy * dx), *s = malloc(sizeof(double) * dy), *U = malloc(sizeof(double) * dy * dy);
    double *VT = malloc(sizeof(double) * dx * dx), *sup = malloc(sizeof(double) * dy), *R1 = malloc(sizeof(double) * dy * dx);
    // G (dy, dx) = Y X^T
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, dy, dx, m, 1.0, c.d.Y, dy, c.d.X, dx, 0.0, G, dy);
    cr_assert_eq(LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'A', 'A', dy, dx, G, dy, s, U, dy, VT, dx, sup), 0);
    cr_assert_gt(s[0], 1.5 * s[1], "a spectral gap for the power iteration (%g, %g)", s[0], s[1]);
    double xtv2 = 0.0; /* ||X^T v||^2, v = VT(0, :) */
    for (int j = 0; j < m; j++) {
        double a = 0.0;
        for (int i = 0; i < dx; i++) a += c.d.X[i + (size_t)j * dx] * VT[0 + (size_t)i * dx];
        xtv2 += a * a;
    }
    int learnt = 0;
    cr_assert_eq(dln_shallow_first_mode(&c.sh, R1, &learnt, &c.err), DLN_OK, "%s", c.err.msg);
    cr_assert(learnt);
    double worst = 0.0, scale = s[0] / xtv2, dA = 0.0;
    for (int j = 0; j < dx; j++)
        for (int i = 0; i < dy; i++) {
            double want = scale * U[i] * VT[0 + (size_t)j * dx];
            worst = fmax(worst, fabs(R1[i + (size_t)j * dy] - want) / scale);
        }
    cr_expect_lt(worst, 1e-9, "R1 differs from a u v^T by %g relative (seed %llu)", worst, SEED(&c));
    // d/da at a = 1 along R1: <R1 X - Y, R1 X> = 0
    double *P = malloc(sizeof(double) * dy * m), nrm = 0.0;
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, m, dx, 1.0, R1, dy, c.d.X, dx, 0.0, P, dy);
    for (int e = 0; e < dy * m; e++) dA += (P[e] - c.d.Y[e]) * P[e], nrm += P[e] * P[e];
    cr_expect_lt(fabs(dA) / nrm, 1e-9, "the scale is not least squares: derivative %g (|R1 X|^2 %g)", dA, nrm);
    /* nothing to learn: Y = 0 */
    memset(c.sh.M, 0, sizeof(double) * (size_t)dy * c.sh.r);
    cr_assert_eq(dln_shallow_first_mode(&c.sh, R1, &learnt, &c.err), DLN_OK);
    cr_expect_eq(learnt, 0);
    free(G), free(s), free(U), free(VT), free(sup), free(R1), free(P);
    tr_case_free(&c);
}

/* From W = 0 at depth 3 (lambda_max = 0, a flat saddle) the sharpness rule sizes the step
 * for the curvature at the balanced factorisation of the first mode: lr_init = c / lambda
 * with lambda assembled from Hessian-vector products there (P = 18: Lanczos is exact). */
TestOnBackends(step_size, from_a_flat_saddle_the_step_is_sized_for_the_first_mode)
{
    tr_case c;
    int dims[] = {3, 2, 2, 3};
    tr_case_make(&c, TS_KIND, 3, dims, 30, 2, 0.1, 0);
    double lambda = first_mode_lambda(&c), **W = NULL;
    cr_assert_eq(dln_weights_alloc(&c.s, &W, &c.err), DLN_OK);
    dln_train_opts o = opts(0.0, 5, 0.0, DLN_DATA_AUTO);
    dln_train_result r = train(&c, W, &o);
    cr_expect_lt(fabs(r.sharpness_init), 1e-12, "W = 0 at depth 3 is flat: lambda %g", r.sharpness_init);
    cr_expect_lt(ts_rel(r.lr_init, DLN_LR_FACTOR / lambda), 1e-9, "lr_init %.17g vs c / %.17g (seed %llu)", r.lr_init,
                 lambda, SEED(&c));
    dln_weights_free(3, W);
    tr_case_free(&c);
}

/* The rule replayed from a trace whose checked steps are only the decision steps (checks
 * every 2^30 steps), plain gradient descent. Decision steps start at step 1. At a decision
 * step the gap is compared with the previous decision step's: a rise is gap > 2 gap_prev +
 * 1e-12 |loss|. A decision step re-estimates when it is the scheduled re-estimate or sees a
 * rise; the interval to the next re-estimate then halves (down to 1) when lambda moved by
 * more than 1.1x since the previous estimate and doubles (up to `every`) when it held, and lr
 * is decided: lam = max(lambda, floor); lr lam > 4: c / lam; a rise: at most lr / 2; else
 * lr lam < c: min(2 lr, c / lam); else unchanged. A decision step that does not re-estimate
 * (a watch step) changes neither lr nor lambda. The next decision step is the next one when
 * lr lam > 2 after the decision (lam from the last estimate), else the next re-estimate (and
 * the end is a checked step). An observation at a decision step reports the lr and lambda in
 * force before that step's decision, so the decision at checked step k - 1 shows at checked
 * step k. The tracker's Lanczos on P <= 18 < 20 parameters is exact to rounding, hence the
 * 1e-9 relative tolerance on every replayed lr; a re-estimate is told from a watch step by
 * the schedule and the rise, never by the reported lambda. */
typedef struct {
    long cut, halved, grown, kept, watched, rise_watch, max_interval, moved;
} replay_counts;

static void replay_rule(tr_case *c, double **W, long steps, long every, double floor, replay_counts *n)
{
    dln_train_opts o = opts(0.0, steps, 0.0, DLN_DATA_AUTO);
    o.check_every = 1 << 30, o.reestimate_every = (int)every;
    ts_trace tr = {0};
    o.observer = ts_record, o.observer_ctx = &tr;
    dln_train_result r = train(c, W, &o);
    long seen = tr.n;
    if (seen > 1 && tr.obs[seen - 1].step == tr.obs[seen - 2].step) seen--; /* the final state, reported again */
    const dln_observation *ob = tr.obs;
    cr_assert(seen >= 4 && ob[0].step == 0 && ob[1].step == 1, "checked steps start %ld, %ld (%ld seen)", ob[0].step,
              ob[1].step, seen);
    long interval = 1, next_estimate = 1;
    double c_ = DLN_LR_FACTOR;
    for (long k = 2; k < seen; k++) { /* the decision at checked step k - 1 */
        long t = ob[k - 1].step;
        double lr = ob[k - 1].lr, lam_prev = ob[k - 1].sharpness_est;
        int rose = k >= 3 && ob[k - 1].gap > 2.0 * ob[k - 2].gap + 1e-12 * fabs(ob[k - 1].loss);
        int scheduled = t == next_estimate, estimate = scheduled || rose;
        cr_expect(t <= next_estimate, "step %ld passed the re-estimate due at %ld", t, next_estimate);
        double want = lr, lam_raw = lam_prev;
        if (estimate) {
            lam_raw = ob[k].sharpness_est;
            double moved = lam_raw / lam_prev;
            int moving = moved > 1.1 || moved < 1 / 1.1 || !isfinite(moved);
            interval = moving ? (interval > 1 ? interval / 2 : 1) : (2 * interval < every ? 2 * interval : every);
            next_estimate = t + interval;
            n->moved += moving, n->max_interval = interval > n->max_interval ? interval : n->max_interval;
            double lam = fmax(lam_raw, floor);
            if (lr * lam > 4) want = c_ / lam, n->cut++;
            if (rose) want = fmin(want, 0.5 * lr), n->halved++;
            else if (lr * lam < c_) want = fmin(2 * lr, c_ / lam), n->grown++;
            else if (!(lr * lam > 4)) n->kept++;
            n->rise_watch += rose && !scheduled;
        } else {
            n->watched++;
            cr_expect_eq(ob[k].sharpness_est, lam_prev, "watch step %ld: lambda changed", t);
        }
        cr_expect_lt(ts_rel(ob[k].lr, want), 1e-9,
                     "step %ld (%s): lr %.17g, expected %.17g (lr %.6g, lambda %.6g, floor %.6g, rose %d, seed %llu)", t,
                     estimate ? "re-estimate" : "watch", ob[k].lr, want, lr, lam_raw, floor, rose, SEED(c));
        long next = want * fmax(lam_raw, floor) > 2 ? t + 1 : next_estimate;
        if (next > r.steps) next = r.steps;
        cr_expect_eq(ob[k].step, next, "after step %ld (lr lambda %.4g): checked step %ld, expected %ld (seed %llu)", t,
                     want * fmax(lam_raw, floor), ob[k].step, next, SEED(c));
        if (ob[k].step != next) break; /* the replay has lost the schedule */
    }
    cr_expect_eq(ob[seen - 1].step, r.steps, "the last checked step is not the end (stop %d)", (int)r.stop);
    ts_trace_free(&tr);
}

/* Two starts: an orthogonal one of scale 1 settles, so the interval grows to its bound; a
 * small one (product of scale 1e-4, lambda near 0) escapes the saddle at 0 and learns the
 * first modes, its sharpness growing to that of a minimum, so the halving is exercised
 * whatever the seed. The schedule (and every decision) replayed by replay_rule. */
TestOnBackends(step_size, the_sharpness_is_re_estimated_sooner_while_it_moves)
{
    tr_case c;
    int dims[] = {3, 2, 2, 3};
    tr_case_make(&c, TS_KIND, 3, dims, 30, 2, 0.1, 0);
    double floor = first_mode_lambda(&c), **W = tr_init(&c, DLN_INIT_ORTHOGONAL);
    replay_counts settle = {0}, learn = {0};
    replay_rule(&c, W, 450, 100, floor, &settle);
    cr_expect_eq(settle.max_interval, 100, "settling: the interval never grew to 100 in 450 steps (seed %llu)",
                 SEED(&c));
    dln_weights_free(3, W), W = NULL;
    cr_assert_eq(dln_init_weights(&c.s, DLN_INIT_GAUSSIAN, 0.05, c.seed, &W, &c.err), DLN_OK, "%s", c.err.msg);
    replay_rule(&c, W, 300, 100, floor, &learn);
    cr_expect(learn.moved > 0, "learning modes: lambda never moved by 1.1x, the halving was not exercised (seed %llu)",
              SEED(&c));
    dln_weights_free(3, W);
    tr_case_free(&c);
}

/* The rule's decisions replayed from the trace (replay_rule). Runs from small starts on
 * rank-3 teachers through a width-2 layer raise the sharpness as modes are learnt, so each
 * branch is taken in some run (counted and required below), watch steps included. The
 * floor is the assembled first-mode lambda. */
TestOnBackends(step_size, the_rule_decides_as_documented)
{
    replay_counts n = {0};
    for (int run = 0; run < 12; run++) {
        tr_case c;
        int dims[] = {3, 2, 2, 3};
        tr_case_make(&c, TS_KIND, 3, dims, 40, 3, 0.05, 0);
        dln_data_free(&c.d); /* data of their own in each run (one set may keep every run at the edge) */
        dln_synth_opts so = {3, 3, 40, 3, 0.05, c.seed + 7919 * (uint64_t)run, DLN_LABELS_VALUES};
        cr_assert_eq(dln_synth_make(&so, &c.d, &c.err), DLN_OK, "%s", c.err.msg);
        /* X's rows scaled by 1, 10, 100 (and Y's by 100, 10, 1): modes of very different
         * strengths, learnt one after another, each raising the sharpness */
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < c.d.m; j++) c.d.X[i + 3 * j] *= pow(10.0, i), c.d.Y[i + 3 * j] *= pow(10.0, 2 - i);
        dln_shallow_free(&c.sh);
        cr_assert_eq(dln_shallow_solve(c.be, &c.d, 2, 0.0, 1, &c.sh, &c.err), DLN_OK, "%s", c.err.msg);
        double floor = first_mode_lambda(&c), **W = NULL;
        double scale = run % 3 == 0 ? 0.05 : run % 3 == 1 ? 0.2 : 0.6;
        cr_assert_eq(dln_init_weights(&c.s, run % 2 ? DLN_INIT_GAUSSIAN : DLN_INIT_ORTHOGONAL, scale,
                                      c.seed + (uint64_t)run, &W, &c.err),
                     DLN_OK);
        replay_rule(&c, W, 3000, 50, floor, &n);
        dln_weights_free(3, W);
        tr_case_free(&c);
    }
    cr_log_info("decisions: %ld cut to c / lambda, %ld halved after a rise (%ld seen at watch steps), %ld grown, %ld "
                "kept; %ld watch steps",
                n.cut, n.halved, n.rise_watch, n.grown, n.kept, n.watched);
    cr_expect(n.cut > 0 && n.halved > 0 && n.rise_watch > 0 && n.grown > 0 && n.kept > 0 && n.watched > 0,
              "branches: cut %ld halved %ld (at watch steps %ld) grown %ld kept %ld watched %ld", n.cut, n.halved,
              n.rise_watch, n.grown, n.kept, n.watched);
}
