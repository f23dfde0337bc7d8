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
 *    2.3). With the full SVD R = U S V^T (U = [U1 U2], V = [V1 V2], S the k non-zero values),
 *    a tangent vector is xi = U1 M V1^T + U2 A V1^T + U1 B^T V2^T (M k x k, A (dy-k) x k,
 *    B (dx-k) x k; ||xi||_F^2 = ||M||^2 + ||A||^2 + ||B||^2), and with Gh = U^T G V,
 *    Hh = U^T (d^2 f[xi]) V,
 *        Hess f[xi] = (Hh_11, Hh_21 + Gh_22 B S^-1, Hh_12^T + Gh_22^T A S^-1)
 *    in the same coordinates, the last two terms the manifold's curvature (Weingarten map).
 *    ||P_T(G)||^2 = ||Gh||^2 - ||Gh_22||^2, summed over Gh's other blocks. Its extreme eigenvalues by Lanczos
 *    (src/diagnostics/lanczos.c) on these products.
 * The dense rotations are host BLAS on dy x dx matrices; the Hessian's action on the data
 * runs on the backend (shallow_eval.c). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/diagnostics.h"
#include "solver/shallow_eval.h"

typedef struct {
    dln_shallow_eval *ev;
    int dy, dx, k;
    const double *U, *VT, *s; /* full SVD of R: U (dy, dy), VT (dx, dx), s (k) */
    const double *Gh;         /* U^T G V (dy, dx) */
    double *xi, *h, *t;       /* (dy, dx) scratch */
} tangent_op;

/* out = U A V (A dy x dx rotated coordinates to R's space), or back: out = U^T A V^T^T. */
static void rotate(const tangent_op *op, int back, const double *A, double *out)
{
    int dy = op->dy, dx = op->dx;
    if (!back) { /* out = U A VT */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, dx, dy, 1.0, op->U, dy, A, dy, 0.0, op->t, dy);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, dy, dx, dx, 1.0, op->t, dy, op->VT, dx, 0.0, out, dy);
    } else { /* out = U^T A VT^T */
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, dy, dx, dy, 1.0, op->U, dy, A, dy, 0.0, op->t, dy);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, dy, dx, dx, 1.0, op->t, dy, op->VT, dx, 0.0, out, dy);
    }
}

/* v = (M, A, B) stacked column-major -> out = Hess f[xi] in the same coordinates. */
static int tangent_hvp(void *ctx, const double *v, double *out)
{
    tangent_op *op = ctx;
    int dy = op->dy, dx = op->dx, k = op->k, ay = dy - k, bx = dx - k;
    const double *M = v, *A = v + (size_t)k * k, *B = A + (size_t)ay * k;
    double *xh = op->h; /* the rotated xi: [[M, B^T], [A, 0]] */
    memset(xh, 0, sizeof(double) * (size_t)dy * dx);
    for (int j = 0; j < k; j++) {
        for (int i = 0; i < k; i++) xh[i + (size_t)j * dy] = M[i + (size_t)j * k];
        for (int i = 0; i < ay; i++) xh[k + i + (size_t)j * dy] = A[i + (size_t)j * ay];
        for (int i = 0; i < bx; i++) xh[j + (size_t)(k + i) * dy] = B[i + (size_t)j * bx];
    }
    rotate(op, 0, xh, op->xi);
    DLN_TRY(dln_shallow_eval_hvp(op->ev, op->xi, op->h));
    rotate(op, 1, op->h, op->xi); /* Hh */
    const double *Hh = op->xi, *Gh = op->Gh;
    double *Mo = out, *Ao = out + (size_t)k * k, *Bo = Ao + (size_t)ay * k;
    for (int j = 0; j < k; j++) {
        for (int i = 0; i < k; i++) Mo[i + (size_t)j * k] = Hh[i + (size_t)j * dy];
        for (int i = 0; i < ay; i++) { /* Hh_21 + (Gh_22 B)_ij / s_j */
            double c = 0.0;
            for (int l = 0; l < bx; l++) c += Gh[k + i + (size_t)(k + l) * dy] * B[l + (size_t)j * bx];
            Ao[i + (size_t)j * ay] = Hh[k + i + (size_t)j * dy] + c / op->s[j];
        }
        for (int i = 0; i < bx; i++) { /* (Hh_12)^T_ij + (Gh_22^T A)_ij / s_j */
            double c = 0.0;
            for (int l = 0; l < ay; l++) c += Gh[k + l + (size_t)(k + i) * dy] * A[l + (size_t)j * ay];
            Bo[i + (size_t)j * bx] = Hh[j + (size_t)(k + i) * dy] + c / op->s[j];
        }
    }
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

int dln_shallow_certify_with(dln_shallow_eval *ev, const dln_data *d, const double *R, int k, int hess_iters,
                             uint64_t seed, dln_certificate *c, dln_error *err)
{
    // R (dy, dx) host; k the rank bound (clipped to min(dx, dy))
    int dy = d->dy, dx = d->dx, full = dy < dx ? dy : dx;
    size_t n = (size_t)dy * dx;
    memset(c, 0, sizeof *c);
    c->rank_bound = k = k > 0 && k < full ? k : full;
    c->hess_min = c->hess_max = c->hess_residual = NAN;
    double *w = malloc(sizeof(double) * (6 * n + (size_t)dy * dy + (size_t)dx * dx + (size_t)full));
    if (!w) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    double *G = w, *Gh = w + n, *a = w + 2 * n, *xi = w + 3 * n, *h = w + 4 * n, *t = w + 5 * n, *U = w + 6 * n,
           *VT = U + (size_t)dy * dy, *s = VT + (size_t)dx * dx, *zero = xi;
    double g0 = 0.0, gn = 0.0, f0;
    memset(zero, 0, sizeof(double) * n);
    int rc = dln_shallow_eval_at(ev, zero, &f0, G);
    for (size_t i = 0; i < n; i++) g0 += G[i] * G[i];
    if (!rc) rc = dln_shallow_eval_at(ev, R, &c->value, G); /* last: the Hessian's point is R */
    for (size_t i = 0; i < n; i++) gn += G[i] * G[i];
    c->grad_scale = sqrt(g0);
    c->euclidean_grad_rel = g0 > 0 ? sqrt(gn / g0) : 0.0;
    memcpy(a, R, sizeof(double) * n);
    lapack_int info = rc ? 0 : LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'A', dy, dx, a, dy, s, U, dy, VT, dx);
    if (!rc && info) rc = dln_fail(err, DLN_ERUNTIME, "LAPACKE_dgesdd failed (info %d) on the product", (int)info);
    if (rc) goto done;
    c->product_rank = s[0] > 0 ? numerical_rank(s, full) : 0;
    c->sigma_k = k <= full ? s[k - 1] : NAN;
    c->on_manifold = c->product_rank == k && k < full;
    if (!c->on_manifold) { /* convex case: the Euclidean gradient decides */
        c->grad_rel = c->euclidean_grad_rel;
        c->local_min = c->grad_rel <= DLN_CERTIFY_GRAD_TOL;
        goto done;
    }
    tangent_op op = {ev, dy, dx, k, U, VT, s, Gh, xi, h, t};
    rotate(&op, 1, G, Gh);
    double gt = 0.0; /* ||P_T(G)||^2: Gh outside its (2, 2) block, summed directly (no cancellation) */
    for (int j = 0; j < dx; j++)
        for (int i = j < k ? 0 : k; i < (j < k ? dy : k); i++) gt += Gh[i + (size_t)j * dy] * Gh[i + (size_t)j * dy];
    c->grad_rel = g0 > 0 ? sqrt(gt / g0) : 0.0;
    int dim = k * (dy + dx - k);
    if (hess_iters < 0) goto done; /* the gradient alone asked for */
    dln_lanczos_result lz = {0};
    rc = dln_lanczos(dim, tangent_hvp, &op, hess_iters > 0 ? hess_iters : DLN_CERTIFY_HESS_ITERS, seed, NULL, &lz, err);
    if (rc) goto done;
    c->hess_min = lz.lambda_min, c->hess_max = lz.lambda_max, c->hess_residual = lz.residual_min;
    c->hess_iterations = lz.iterations, c->tangent_dim = dim;
    double scale = fmax(fabs(lz.lambda_min), fabs(lz.lambda_max));
    c->local_min = c->grad_rel <= DLN_CERTIFY_GRAD_TOL && lz.lambda_min >= -DLN_CERTIFY_CURV_TOL * scale;
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
