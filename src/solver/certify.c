/* certify.c: whether a point R (dy, dx) is a local minimum of the shallow problem
 * min f(R) = L(R X) subject to rank R <= k (dln/solver.h, dln_shallow_certify_at), from
 * its derivatives at R. With r = rank R:
 *  - k >= min(dx, dy) (no active bound) or r < k: f is convex, and R is a local minimum of
 *    the rank-<=k problem exactly when its Euclidean gradient vanishes (a non-zero gradient
 *    G gives the descent direction -u_1 v_1^T of rank 1, and rank R + 1 <= k); at a zero
 *    gradient R is the convex problem's global minimum.
 *  - r = k < min(dx, dy): R lies on the manifold of rank-k matrices; first order: the
 *    Riemannian gradient P_T(G) vanishes; second order: the Riemannian Hessian on the tangent
 *    space is positive semidefinite (Absil, Mahony & Trumpf 2013; Vandereycken 2013, Prop.
 *    2.3). With the thin SVD R = U S V^T (U dy x k, V dx x k, P_U = I - U U^T, P_V likewise),
 *    a tangent vector is xi = U M V^T + A V^T + U B^T with U^T A = 0, V^T B = 0
 *    (||xi||_F^2 = ||M||^2 + ||A||^2 + ||B||^2), and with H = d^2 f[xi] (dy x dx),
 *        Hess f[xi] = (U^T H V,  P_U H V + P_U G B S^-1,  P_V H^T U + P_V G^T A S^-1)
 *    in the same coordinates, the last terms the manifold's curvature (Weingarten map).
 *    ||P_T(G)||^2 = ||U^T G||^2 + ||P_U G V||^2 (orthogonal parts: no cancellation).
 * Its extreme eigenvalues by Lanczos (src/diagnostics/lanczos.c) on (M, A, B) in
 * R^(k^2 + dy k + dx k): the operator acts on the projected vector and adds sigma times the
 * part the projection removes (the 2 k^2 directions U^T A, V^T B, outside the tangent
 * space), with sigma above the tangent spectrum (from a first, short run with sigma = 0,
 * which also gives lambda_max), so those directions sit at the top and never at lambda_min.
 * Host work O(dy dx k) per product besides the backend's Hessian action (shallow_eval.c). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/diagnostics.h"
#include "solver/shallow_eval.h"

#define SHIFT_ITERS 60 /* the first run's products: the tangent spectrum's top (Lanczos finds the ends first) */

typedef struct {
    dln_shallow_eval *ev;
    int dy, dx, k;
    const double *U, *V, *s, *G; /* thin SVD of R: U (dy, k), V (dx, k), s (k); G the gradient at R */
    double sigma;                /* the shift of the directions outside the tangent space */
    double *xi, *h, *A, *B, *t;  /* scratch: xi, h (dy, dx); A (dy, k), B (dx, k), t (max(dy, dx), k) */
} tangent_op;

/* X := P X = X - Q (Q^T X), Q (rows, k) orthonormal, X (rows, k); t (k, k) scratch. */
static void project_out(int rows, int k, const double *Q, double *X, double *t)
{
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, k, rows, 1.0, Q, rows, X, rows, 0.0, t, k);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, rows, k, k, -1.0, Q, rows, t, k, 1.0, X, rows);
}

/* v = (M, A, B) stacked column-major -> out = Hess f[xi(P v)] + sigma (v - P v). */
static int tangent_hvp(void *ctx, const double *v, double *out)
{
    tangent_op *op = ctx;
    int dy = op->dy, dx = op->dx, k = op->k;
    size_t kk = (size_t)k * k, ka = (size_t)dy * k, kb = (size_t)dx * k;
    const double *M = v;
    double *A = op->A, *B = op->B, *t = op->t;
    memcpy(A, v + kk, sizeof(double) * ka), memcpy(B, v + kk + ka, sizeof(double) * kb);
    project_out(dy, k, op->U, A, t);
    project_out(dx, k, op->V, B, t);
    double *Mo = out, *Ao = out + kk, *Bo = out + kk + ka;
    for (size_t i = 0; i < ka; i++) Ao[i] = op->sigma * (v[kk + i] - A[i]); /* sigma (I - P) v */
    for (size_t i = 0; i < kb; i++) Bo[i] = op->sigma * (v[kk + ka + i] - B[i]);
    /* xi = (U M + A) V^T + U B^T */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, k, k, 1.0, op->U, dy, M, k, 0.0, t, dy);
    for (size_t i = 0; i < ka; i++) t[i] += A[i];
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, dy, dx, k, 1.0, t, dy, op->V, dx, 0.0, op->xi, dy);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, dy, dx, k, 1.0, op->U, dy, B, dx, 1.0, op->xi, dy);
    DLN_TRY(dln_shallow_eval_hvp(op->ev, op->xi, op->h));
    /* the A part: P_U (H V + G B S^-1); the B part: P_V (H^T U + G^T A S^-1) */
    for (int j = 0; j < k; j++) {
        cblas_dscal(dx, 1.0 / op->s[j], B + (size_t)j * dx, 1);
        cblas_dscal(dy, 1.0 / op->s[j], A + (size_t)j * dy, 1);
    }
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, k, dx, 1.0, op->h, dy, op->V, dx, 0.0, t, dy);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, k, dy, 1.0, op->U, dy, t, dy, 0.0, Mo, k); /* U^T H V */
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, k, dx, 1.0, op->G, dy, B, dx, 1.0, t, dy);
    project_out(dy, k, op->U, t, op->xi);
    for (size_t i = 0; i < ka; i++) Ao[i] += t[i];
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, dx, k, dy, 1.0, op->h, dy, op->U, dy, 0.0, t, dx);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, dx, k, dy, 1.0, op->G, dy, A, dy, 1.0, t, dx);
    project_out(dx, k, op->V, t, op->xi);
    for (size_t i = 0; i < kb; i++) Bo[i] += t[i];
    return DLN_OK;
}

/* The numerical rank of R from its singular values s (descending): those above
 * DLN_CERTIFY_RANK_TOL s_1. */
static int numerical_rank(const double *s, int n)
{
    int r = 0;
    while (r < n && s[r] > DLN_CERTIFY_RANK_TOL * s[0]) r++;
    return r;
}

static double sumsq(const double *a, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * a[i];
    return s;
}

/* The Riemannian gradient's norm and the Hessian's extremes on the tangent space at R. */
static int on_manifold(tangent_op *op, int hess_iters, uint64_t seed, double g0, dln_certificate *c, dln_error *err)
{
    int dy = op->dy, dx = op->dx, k = op->k;
    double *t = op->t; /* ||U^T G||^2 + ||P_U G V||^2 */
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, dx, dy, 1.0, op->U, dy, op->G, dy, 0.0, op->xi, k);
    double gt = sumsq(op->xi, (size_t)k * dx);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, k, dx, 1.0, op->G, dy, op->V, dx, 0.0, t, dy);
    project_out(dy, k, op->U, t, op->xi);
    gt += sumsq(t, (size_t)dy * k);
    c->grad_rel = g0 > 0 ? sqrt(gt / g0) : 0.0;
    c->tangent_dim = k * (dy + dx - k);
    if (hess_iters < 0) return DLN_OK; /* the gradient alone asked for */
    int n = k * (k + dy + dx), iters = hess_iters > 0 ? hess_iters : DLN_CERTIFY_HESS_ITERS;
    dln_lanczos_result lz = {0};
    op->sigma = 0.0; /* first: the top of the spectrum, the outside directions at 0 */
    DLN_TRY(dln_lanczos(n, tangent_hvp, op, SHIFT_ITERS, seed, NULL, &lz, err));
    double top = lz.lambda_max; /* the tangent's top (or 0, the outside directions', were it all negative) */
    op->sigma = 2.0 * fmax(fabs(lz.lambda_max), fabs(lz.lambda_min)) + 1e-300;
    memset(&lz, 0, sizeof lz);
    DLN_TRY(dln_lanczos(n, tangent_hvp, op, iters + 2 * k * k, seed, NULL, &lz, err));
    c->hess_min = lz.lambda_min, c->hess_residual = lz.residual_min, c->hess_iterations = lz.iterations;
    c->hess_max = top;
    double scale = fmax(fabs(lz.lambda_min), fabs(top));
    c->local_min = c->grad_rel <= DLN_CERTIFY_GRAD_TOL && lz.lambda_min >= -DLN_CERTIFY_CURV_TOL * scale;
    return DLN_OK;
}

int dln_shallow_certify_with(dln_shallow_eval *ev, const dln_data *d, const double *R, int k, int hess_iters,
                             uint64_t seed, dln_certificate *c, dln_error *err)
{
    // R (dy, dx) host; k the rank bound (clipped to min(dx, dy))
    int dy = d->dy, dx = d->dx, full = dy < dx ? dy : dx, big = dy > dx ? dy : dx;
    size_t n = (size_t)dy * dx;
    memset(c, 0, sizeof *c);
    c->rank_bound = k = k > 0 && k < full ? k : full;
    c->hess_min = c->hess_max = c->hess_residual = NAN;
    size_t need = 4 * n + (size_t)dy * full + (size_t)full * dx + (size_t)full + (size_t)(dy + dx + big) * k;
    double *w = malloc(sizeof(double) * need);
    if (!w) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    double *G = w, *a = w + n, *xi = w + 2 * n, *h = w + 3 * n, *Us = w + 4 * n, *VT = Us + (size_t)dy * full;
    double *s = VT + (size_t)full * dx, *A = s + full, *B = A + (size_t)dy * k, *t = B + (size_t)dx * k;
    double f0;
    memset(xi, 0, sizeof(double) * n);
    int rc = dln_shallow_eval_at(ev, xi, &f0, G);
    double g0 = rc ? 0.0 : sumsq(G, n);
    if (!rc) rc = dln_shallow_eval_at(ev, R, &c->value, G); /* last: the Hessian's point is R */
    c->grad_scale = sqrt(g0);
    c->euclidean_grad_rel = g0 > 0 ? sqrt(sumsq(G, n) / g0) : 0.0;
    memcpy(a, R, sizeof(double) * n);
    lapack_int info = rc ? 0 : LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', dy, dx, a, dy, s, Us, dy, VT, full);
    if (!rc && info) rc = dln_fail(err, DLN_ERUNTIME, "LAPACKE_dgesdd failed (info %d) on the product", (int)info);
    if (rc) goto done;
    c->product_rank = s[0] > 0 ? numerical_rank(s, full) : 0;
    c->sigma_k = s[k - 1];
    c->on_manifold = c->product_rank == k && k < full;
    if (!c->on_manifold) { /* convex case: the Euclidean gradient decides */
        c->grad_rel = c->euclidean_grad_rel;
        c->local_min = c->grad_rel <= DLN_CERTIFY_GRAD_TOL;
        goto done;
    }
    double *V = a; /* V = VT(0:k, :)^T (dx, k), over the copy of R the SVD consumed */
    for (int j = 0; j < k; j++)
        for (int i = 0; i < dx; i++) V[i + (size_t)j * dx] = VT[j + (size_t)i * full];
    tangent_op op = {ev, dy, dx, k, Us, V, s, G, 0.0, xi, h, A, B, t};
    rc = on_manifold(&op, hess_iters, seed, g0, c, err);
done:
    free(w);
    return rc;
}

int dln_shallow_certify_at(dln_backend *be, const dln_objective *obj, const dln_data *d, const double *R, int k,
                           int hess_iters, uint64_t seed, dln_certificate *c, dln_error *err)
{
    dln_shallow_eval *ev;
    DLN_TRY(dln_shallow_eval_create(be, obj, d, &ev));
    int rc = dln_shallow_certify_with(ev, d, R, k, hess_iters, seed, c, err);
    dln_shallow_eval_destroy(ev);
    return rc;
}
