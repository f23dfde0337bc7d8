/* rank_k.c: the shallow problem with an active rank bound, min f(R) = L(R X) subject to
 * rank R <= k (dln/solver.h, dln_shallow_rank_k), on the factors R = U V^T, U (dy, k),
 * V (dx, k). One local solve from a start:
 *  1. alternating exact minimisation: f is convex in U for fixed V (a loss of U (V^T X))
 *     and in V for fixed U; each is solved by Newton-CG (newton_cg.c) on the shallow
 *     objective's derivatives composed with the factor map (g_U = G V, H_U[dU] = H[dU V^T] V;
 *     g_V = G^T U, H_V[dV] = H[U dV^T]^T U), the fixed factor orthonormalised first (the
 *     block problem is then as well conditioned as the data); until a sweep lowers f by less
 *     than ALT_SLOW of its value, or ALT_SWEEPS sweeps (alternation converges linearly, and
 *     slowly where the factors' directions couple);
 *  2. a trust-region Newton method (newton_cg.c, dln_trust_region: Steihaug-Toint CG follows
 *     negative curvature to the region's boundary) on (U, V) together from the balanced
 *     factors (U = U_k S^1/2, V = V_k S^1/2 of the SVD of R): g = (G V, G^T U),
 *     H[(dU, dV)] = (H[xi] V + G dV, H[xi]^T U + G^T dU) with xi = dU V^T + U dV^T; the
 *     Hessian is singular along the k^2 directions (U A, -V A^T) that leave R unchanged, to
 *     which the gradient is orthogonal (CG never enters them). Quadratic convergence at a
 *     non-degenerate minimum.
 * Logistic and softmax restarts whose R outgrows its first size ESCAPE times stop as
 * unattained (the infimum at infinity).
 * Every restart's end is certified (certify.c). Restarts run in turn, seeded (seed, i). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/rng.h"
#include "solver/shallow_eval.h"

#define ALT_SWEEPS 60
#define ALT_SLOW 1e-6
#define INNER_ITERS 5
#define INNER_TOL 1e-8
#define JOINT_ITERS 200
#define UNATTAINED 1e-10 /* as convex.c: the loss below this multiple of f(0) is its infimum 0 */
#define ESCAPE 1e4       /* as convex.c: R outgrowing its first size this much: the infimum at infinity */

enum { BLOCK_U, BLOCK_V, BLOCK_BOTH };

typedef struct {
    dln_shallow_eval *ev;
    int dy, dx, k, block;
    double *U, *V;   /* the current factors (the fixed one for a block step) */
    double *R, *G, *xi, *h; /* (dy, dx) scratch; G: the gradient at the last point */
} factor_ctx;

static void product(factor_ctx *c, const double *U, const double *V, double *R)
{
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, c->dy, c->dx, c->k, 1.0, U, c->dy, V, c->dx, 0.0, R, c->dy);
}

static int eval_factors(void *ctx, const double *x, double *f, double *g)
{
    factor_ctx *c = ctx;
    int dy = c->dy, dx = c->dx, k = c->k;
    if (c->block != BLOCK_V) memcpy(c->U, x, sizeof(double) * (size_t)dy * k);
    if (c->block == BLOCK_V) memcpy(c->V, x, sizeof(double) * (size_t)dx * k);
    if (c->block == BLOCK_BOTH) memcpy(c->V, x + (size_t)dy * k, sizeof(double) * (size_t)dx * k);
    product(c, c->U, c->V, c->R);
    DLN_TRY(dln_shallow_eval_at(c->ev, c->R, f, c->G));
    double *gv = c->block == BLOCK_V ? g : g + (size_t)dy * k;
    if (c->block != BLOCK_V) /* g_U = G V */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, k, dx, 1.0, c->G, dy, c->V, dx, 0.0, g, dy);
    if (c->block != BLOCK_U) /* g_V = G^T U */
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, dx, k, dy, 1.0, c->G, dy, c->U, dy, 0.0, gv, dx);
    return DLN_OK;
}

static int hvp_factors(void *ctx, const double *v, double *out)
{
    factor_ctx *c = ctx;
    int dy = c->dy, dx = c->dx, k = c->k;
    const double *dU = c->block == BLOCK_V ? NULL : v;
    const double *dV = c->block == BLOCK_U ? NULL : c->block == BLOCK_V ? v : v + (size_t)dy * k;
    memset(c->xi, 0, sizeof(double) * (size_t)dy * dx);
    if (dU) cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, dy, dx, k, 1.0, dU, dy, c->V, dx, 1.0, c->xi, dy);
    if (dV) cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, dy, dx, k, 1.0, c->U, dy, dV, dx, 1.0, c->xi, dy);
    DLN_TRY(dln_shallow_eval_hvp(c->ev, c->xi, c->h));
    double *ov = c->block == BLOCK_V ? out : out + (size_t)dy * k;
    if (dU) { /* H[xi] V (+ G dV) */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, k, dx, 1.0, c->h, dy, c->V, dx, 0.0, out, dy);
        if (dV) cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, k, dx, 1.0, c->G, dy, dV, dx, 1.0, out, dy);
    }
    if (dV) { /* H[xi]^T U (+ G^T dU) */
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, dx, k, dy, 1.0, c->h, dy, c->U, dy, 0.0, ov, dx);
        if (dU) cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, dx, k, dy, 1.0, c->G, dy, dU, dy, 1.0, ov, dx);
    }
    return DLN_OK;
}

/* A = Q T (A rows x k, rows >= k): A := Q, B := B T^T (B other x k): the product A B^T kept. */
static int orthonormalise(int rows, int other, int k, double *A, double *B, double *tau, double *T, dln_error *err)
{
    lapack_int info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, rows, k, A, rows, tau);
    if (info) return dln_fail(err, DLN_ERUNTIME, "LAPACKE_dgeqrf failed (info %d) on a factor", (int)info);
    memset(T, 0, sizeof(double) * (size_t)k * k);
    for (int j = 0; j < k; j++)
        for (int i = 0; i <= j; i++) T[i + (size_t)j * k] = A[i + (size_t)j * rows];
    info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, rows, k, k, A, rows, tau);
    if (info) return dln_fail(err, DLN_ERUNTIME, "LAPACKE_dorgqr failed (info %d) on a factor", (int)info);
    cblas_dtrmm(CblasColMajor, CblasRight, CblasUpper, CblasTrans, CblasNonUnit, other, k, 1.0, T, k, B, other);
    return DLN_OK;
}

/* U = U_k S^1/2, V = V_k S^1/2 from the thin SVD of R = U V^T (R in c->R, destroyed). */
static int balance(factor_ctx *c, double *s, double *work, dln_error *err)
{
    int dy = c->dy, dx = c->dx, k = c->k, full = dy < dx ? dy : dx;
    double *Us = work, *VT = work + (size_t)dy * full;
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', dy, dx, c->R, dy, s, Us, dy, VT, full);
    if (info) return dln_fail(err, DLN_ERUNTIME, "LAPACKE_dgesdd failed (info %d) balancing the factors", (int)info);
    for (int j = 0; j < k; j++) {
        double r = sqrt(s[j]);
        for (int i = 0; i < dy; i++) c->U[i + (size_t)j * dy] = Us[i + (size_t)j * dy] * r;
        for (int i = 0; i < dx; i++) c->V[i + (size_t)j * dx] = VT[j + (size_t)i * full] * r;
    }
    return DLN_OK;
}

typedef struct {
    int unattainable; /* in: the loss's infimum may lie at infinity (logistic, softmax) */
    double value;     /* out: f at the end */
    int unattained;   /* out: the solve ran to the infimum (below the floor, or escaping) */
    dln_newton_result joint;
} local_end;

/* One block of the alternation: the other factor orthonormalised (the product kept), then
 * Newton-CG on this one (U for BLOCK_U, V for BLOCK_V) with the other fixed. */
static int block_step(factor_ctx *c, int block, double target, double floor, double *x, double *tau, double *T,
                      dln_newton_result *nr, dln_error *err)
{
    int u = block == BLOCK_U, rows = u ? c->dy : c->dx, other_rows = u ? c->dx : c->dy;
    double *mine = u ? c->U : c->V, *other = u ? c->V : c->U;
    DLN_TRY(orthonormalise(other_rows, rows, c->k, other, mine, tau, T, err));
    c->block = block;
    size_t n = (size_t)rows * c->k;
    memcpy(x, mine, sizeof(double) * n);
    dln_newton_fn fn = {n, eval_factors, hvp_factors, c, 0.0};
    DLN_TRY(dln_newton_cg(&fn, x, target, floor, INNER_ITERS, nr, err));
    memcpy(mine, x, sizeof(double) * n);
    return DLN_OK;
}

/* One local solve from (c->U, c->V); the factors and c->R at its end. */
static int local_solve(factor_ctx *c, double f0, double g0, double *x, double *scratch, local_end *end, dln_error *err)
{
    int dy = c->dy, dx = c->dx, k = c->k;
    double *tau = scratch, *T = scratch + k, *s = T + (size_t)k * k, *work = s + (dy < dx ? dy : dx);
    double floor = end->unattainable ? UNATTAINED * f0 : -INFINITY, f = INFINITY, first_size = 0.0;
    dln_newton_result nr;
    for (int sweep = 0; sweep < ALT_SWEEPS; sweep++) {
        double before = f;
        DLN_TRY(block_step(c, BLOCK_U, INNER_TOL * g0, floor, x, tau, T, &nr, err));
        DLN_TRY(block_step(c, BLOCK_V, INNER_TOL * g0, floor, x, tau, T, &nr, err));
        f = nr.value;
        double size = cblas_dnrm2(dx * k, c->V, 1); /* = ||R||_F: U was orthonormalised for the V step */
        if (sweep == 0) first_size = size;
        if (nr.below || (end->unattainable && size > ESCAPE * first_size)) { /* the infimum at infinity */
            end->value = f, end->unattained = 1;
            product(c, c->U, c->V, c->R);
            return DLN_OK;
        }
        if (before - f <= ALT_SLOW * fabs(f)) break;
    }
    product(c, c->U, c->V, c->R);
    DLN_TRY(balance(c, s, work, err));
    c->block = BLOCK_BOTH;
    memcpy(x, c->U, sizeof(double) * (size_t)dy * k), memcpy(x + (size_t)dy * k, c->V, sizeof(double) * (size_t)dx * k);
    dln_newton_fn fj = {(size_t)(dy + dx) * k, eval_factors, hvp_factors, c, end->unattainable ? ESCAPE : 0.0};
    /* the factored gradient (G V, G^T U) at balanced factors is the Riemannian one scaled by
     * about sqrt(sigma(R)): the target follows the scale of the factors */
    double scale = sqrt(fmax(s[0], 1e-300));
    DLN_TRY(dln_trust_region(&fj, x, DLN_RANK_K_TOL * g0 * scale, floor, JOINT_ITERS, &end->joint, err));
    memcpy(c->U, x, sizeof(double) * (size_t)dy * k), memcpy(c->V, x + (size_t)dy * k, sizeof(double) * (size_t)dx * k);
    product(c, c->U, c->V, c->R);
    end->value = end->joint.value;
    end->unattained = end->joint.below || end->joint.escaped;
    return DLN_OK;
}

typedef struct {
    factor_ctx c;
    double *mem, *x, *scratch;
} factor_work;

static int work_alloc(factor_work *w, dln_shallow_eval *ev, int dy, int dx, int k, dln_error *err)
{
    size_t n = (size_t)dy * dx, full = (size_t)(dy < dx ? dy : dx);
    size_t need = 4 * n + 2 * (size_t)(dy + dx) * k + (size_t)k * (k + 1) + full + (size_t)(dy + dx) * full;
    memset(w, 0, sizeof *w);
    if (!(w->mem = malloc(sizeof(double) * need))) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    double *p = w->mem;
    w->c = (factor_ctx){ev, dy, dx, k, BLOCK_U, NULL, NULL, NULL, NULL, NULL, NULL};
    w->c.R = p, p += n;
    w->c.G = p, p += n;
    w->c.xi = p, p += n;
    w->c.h = p, p += n;
    w->c.U = p, p += (size_t)dy * k;
    w->c.V = p, p += (size_t)dx * k;
    w->x = p, p += (size_t)(dy + dx) * k;
    w->scratch = p;
    return DLN_OK;
}

/* f(0) and ||g(0)||: the scale of the problem (R: scratch). */
static int at_zero(dln_shallow_eval *ev, int dy, int dx, double *G, double *R, double *f0, double *g0)
{
    memset(R, 0, sizeof(double) * (size_t)dy * dx);
    DLN_TRY(dln_shallow_eval_at(ev, R, f0, G));
    *g0 = cblas_dnrm2(dy * dx, G, 1);
    return DLN_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The certified values sorted and grouped within tol: consecutive values closer than tol
 * to the group's first are one minimum. */
static int group_minima(double *v, int n, double tol, dln_rank_k_result *out, dln_error *err)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    out->minima = calloc((size_t)(n ? n : 1), sizeof *out->minima);
    if (!out->minima) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    for (int i = 0; i < n; i++) {
        dln_shallow_minimum *last = out->n_minima ? &out->minima[out->n_minima - 1] : NULL;
        if (last && v[i] - last->value <= tol) last->count++;
        else out->minima[out->n_minima++] = (dln_shallow_minimum){v[i], 1};
    }
    return DLN_OK;
}

static int run_restarts(const dln_objective *obj, const dln_data *d, int k, int restarts, uint64_t seed,
                        dln_shallow_eval *ev, factor_work *w, dln_rank_k_result *out, dln_error *err)
{
    int dy = d->dy, dx = d->dx;
    size_t n = (size_t)dy * dx;
    double f0, *values = malloc(sizeof(double) * (size_t)restarts), *cvx = calloc(n, sizeof(double));
    out->R = malloc(sizeof(double) * n);
    if (!values || !cvx || !out->R) {
        free(values), free(cvx);
        return dln_fail(err, DLN_ENOMEM, "out of host memory");
    }
    double g0;
    int rc = at_zero(ev, dy, dx, w->c.G, w->c.R, &f0, &g0);
    out->zero_loss = f0;
    dln_convex_result *cx = &out->convex;
    if (!rc) rc = dln_shallow_convex_with(ev, obj, d, DLN_CONVEX_TOL, DLN_CONVEX_MAX_ITER, cvx, cx, err);
    out->lower_bound = cx->unattained ? 0.0 : cx->value, out->lower_bound_unattained = cx->unattained;
    out->best = out->best_any = NAN;
    int nv = 0;
    for (int i = 0; !rc && i < restarts; i++) {
        dln_rng g;
        dln_rng_seed(&g, seed, 0x5a11 + (uint64_t)i);
        for (size_t j = 0; j < (size_t)dx * k; j++) w->c.V[j] = dln_rng_normal(&g);
        memset(w->c.U, 0, sizeof(double) * (size_t)dy * k);
        local_end end = {.unattainable = dln_shallow_infimum_unattainable(obj)};
        rc = local_solve(&w->c, f0, g0, w->x, w->scratch, &end, err);
        if (rc) break;
        if (end.unattained) {
            out->unattained++;
            continue;
        }
        dln_certificate cert;
        rc = dln_shallow_certify_with(ev, d, w->c.R, k, 0, seed, &cert, err);
        if (rc) break;
        if (!(end.value >= out->best_any)) {
            out->best_any = end.value;
            if (isnan(out->best)) memcpy(out->R, w->c.R, sizeof(double) * n); /* nothing certified yet */
        }
        if (cert.local_min) {
            values[nv++] = end.value;
            out->certified++;
            if (!(end.value >= out->best)) out->best = end.value, memcpy(out->R, w->c.R, sizeof(double) * n);
        } else if (cert.on_manifold && cert.grad_rel <= DLN_CERTIFY_GRAD_TOL) {
            out->saddles++;
        } else {
            out->unconverged++;
        }
    }
    if (!rc) rc = group_minima(values, nv, DLN_MINIMA_GROUP_TOL * fabs(f0), out, err);
    free(values), free(cvx);
    return rc;
}

int dln_shallow_rank_k(dln_backend *be, const dln_objective *obj, const dln_data *d, int k, int restarts,
                       uint64_t seed, dln_rank_k_result *out, dln_error *err)
{
    // min f(R) s.t. rank R <= k: restarts local solves, d's X (dx, m) and Y (dy, m)
    memset(out, 0, sizeof *out);
    int full = d->dy < d->dx ? d->dy : d->dx;
    if (!d->X || !d->Y || d->m < 1 || k < 1 || k >= full || restarts < 1)
        return dln_fail(err, DLN_EINPUT, "rank-k shallow solve: needs 1 <= k < min(dx, dy) = %d and restarts >= 1 "
                        "(got k %d, %d restarts)", full, k, restarts);
    out->k = k, out->restarts = restarts;
    dln_shallow_eval *ev;
    DLN_TRY(dln_shallow_eval_create(be, obj, d, &ev));
    factor_work w;
    int rc = work_alloc(&w, ev, d->dy, d->dx, k, err);
    if (!rc) rc = run_restarts(obj, d, k, restarts, seed, ev, &w, out, err);
    if (!rc) out->evaluations = dln_shallow_eval_count(ev, &out->hessian_products);
    free(w.mem);
    dln_shallow_eval_destroy(ev);
    if (rc) dln_rank_k_free(out);
    return rc;
}

void dln_rank_k_free(dln_rank_k_result *r)
{
    free(r->R), free(r->minima);
    r->R = NULL, r->minima = NULL, r->n_minima = 0;
}

/* From R (dy, dx, rank r; updated in place) to the local minimum the local solve reaches: the
 * convex solve where k >= min(dx, dy) or r < k, else the rank-k local solve from R's balanced
 * factors. *moved = f(R on entry) - f(R on return). */
static int polish(dln_shallow_eval *ev, const dln_objective *obj, const dln_data *d, int k, int r, double *R,
                  double *moved, dln_error *err)
{
    int dy = d->dy, dx = d->dx, full = dy < dx ? dy : dx;
    double start;
    DLN_TRY(dln_shallow_eval_at(ev, R, &start, NULL));
    if (k >= full || r < k) { /* convex near R */
        dln_convex_result cx;
        DLN_TRY(dln_shallow_convex_with(ev, obj, d, DLN_CONVEX_TOL, DLN_CONVEX_MAX_ITER, R, &cx, err));
        *moved = start - cx.value;
        return DLN_OK;
    }
    factor_work w;
    double f0 = 0.0, g0 = 0.0;
    int rc = work_alloc(&w, ev, dy, dx, k, err);
    if (!rc) rc = at_zero(ev, dy, dx, w.c.G, w.c.R, &f0, &g0);
    if (!rc) {
        memcpy(w.c.R, R, sizeof(double) * (size_t)dy * dx);
        double *sv = w.scratch + k + (size_t)k * k;
        rc = balance(&w.c, sv, sv + full, err);
    }
    local_end end = {.unattainable = dln_shallow_infimum_unattainable(obj)};
    if (!rc) rc = local_solve(&w.c, f0, g0, w.x, w.scratch, &end, err);
    if (!rc) memcpy(R, w.c.R, sizeof(double) * (size_t)dy * dx), *moved = start - end.value;
    free(w.mem);
    return rc;
}

int dln_shallow_check_product(dln_backend *be, const dln_objective *obj, const dln_data *d, const double *R, int k,
                              uint64_t seed, dln_product_check *out, dln_error *err)
{
    // R (dy, dx) host: a deep run's product; one evaluator (X uploaded once) for all three steps
    size_t n = (size_t)d->dy * d->dx;
    memset(out, 0, sizeof *out);
    double *P = malloc(sizeof(double) * n);
    if (!P) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    memcpy(P, R, sizeof(double) * n);
    dln_shallow_eval *ev;
    int rc = dln_shallow_eval_create(be, obj, d, &ev);
    if (!rc) rc = dln_shallow_certify_with(ev, d, P, k, -1, seed, &out->at, err);
    if (!rc) rc = polish(ev, obj, d, out->at.rank_bound, out->at.product_rank, P, &out->moved, err);
    if (!rc) rc = dln_shallow_certify_with(ev, d, P, k, 0, seed, &out->end, err);
    if (ev) dln_shallow_eval_destroy(ev);
    free(P);
    return rc;
}
