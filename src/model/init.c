/* init.c: initial weights, all generated on the host from one seed
 * by the portable generator (src/core/rng.c), so every backend starts from the same bits.
 * Schemes: gaussian N(0, s^2/d_{i-1}); orthogonal (Haar, via QR with sign fix, scaled
 * by s); identity (s * eye, rectangular allowed); balanced (Arora, Cohen, Golowich, Hu
 * 2019, Procedure 1: the SVD of a random end-to-end matrix shared out as S^(1/H)). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/model.h"
#include "dln/ops.h"
#include "dln/rng.h"

static const char *init_names[] = {"gaussian", "orthogonal", "identity", "balanced"};

int dln_init_parse(const char *name, dln_init_kind *out)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, init_names[i])) {
            *out = (dln_init_kind)i;
            return DLN_OK;
        }
    return DLN_EINPUT;
}

const char *dln_init_name(dln_init_kind k) { return init_names[k]; }

double dln_init_default_scale(dln_init_kind k)
{
    (void)k; /* every scheme is normalised so that scale 1 keeps activations O(1) */
    return 1.0;
}

void dln_weights_free(int depth, double **W)
{
    if (!W) return;
    for (int i = 0; i < depth; i++) free(W[i]);
    free(W);
}

/* Q (rows, cols) with orthonormal columns (rows >= cols) or rows (rows < cols), Haar
 * distributed: QR of a Gaussian matrix with the signs of R's diagonal folded into Q. */
static int random_orthonormal(dln_rng *g, int rows, int cols, double *Q, dln_error *err)
{
    int tall = rows >= cols;
    int a = tall ? rows : cols, b = tall ? cols : rows; /* factor the (a, b) tall orientation */
    double *G = malloc(sizeof(double) * (size_t)a * b), *tau = malloc(sizeof(double) * (size_t)b);
    double *d = malloc(sizeof(double) * (size_t)b);
    if (!G || !tau || !d) {
        free(G), free(tau), free(d);
        return dln_fail(err, DLN_ENOMEM, "out of host memory in orthogonal init");
    }
    for (size_t i = 0; i < (size_t)a * b; i++) G[i] = dln_rng_normal(g);
    lapack_int info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, a, b, G, a, tau);
    for (int j = 0; j < b && !info; j++) d[j] = G[j + (size_t)j * a] < 0 ? -1.0 : 1.0;
    if (!info) info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, a, b, b, G, a, tau);
    if (info) {
        free(G), free(tau), free(d);
        return dln_fail(err, DLN_ERUNTIME, "LAPACKE_dgeqrf/dorgqr failed in orthogonal init (info %d)",
                        (int)info);
    }
    for (int j = 0; j < b; j++)
        for (int i = 0; i < a; i++) {
            double v = G[i + (size_t)j * a] * d[j];
            if (tall) Q[i + (size_t)j * rows] = v;
            else Q[j + (size_t)i * rows] = v;
        }
    free(G), free(tau), free(d);
    return DLN_OK;
}

/* Balanced: A (dy, dx) ~ N(0, s^2/dx) = U S V^T truncated to k = d_p; W_1 = Q_1 S^(1/H) V_k^T,
 * W_j = Q_j S^(1/H) Q_{j-1}^T, W_H = U_k S^(1/H) Q_{H-1}^T with Q_j (d_j, k) orthonormal. */
static int init_balanced(const dln_shape *s, double scale, dln_rng *g, double **W, dln_error *err)
{
    int H = s->depth, dx = s->dims[0], dy = s->dims[H], k = dln_shape_narrowest(s);
    int mn = dx < dy ? dx : dy;
    double *A = malloc(sizeof(double) * (size_t)dy * dx), *sv = malloc(sizeof(double) * (size_t)mn);
    double *U = malloc(sizeof(double) * (size_t)dy * mn), *VT = malloc(sizeof(double) * (size_t)mn * dx);
    double *superb = malloc(sizeof(double) * (size_t)(mn + 1));
    double **Q = calloc((size_t)H + 1, sizeof(double *));
    double *L = NULL;
    int rc = DLN_OK;
    if (!A || !sv || !U || !VT || !superb || !Q) {
        rc = dln_fail(err, DLN_ENOMEM, "out of host memory in balanced init");
        goto done;
    }
    for (size_t i = 0; i < (size_t)dy * dx; i++) A[i] = dln_rng_normal(g) * scale / sqrt((double)dx);
    lapack_int info = LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'S', dy, dx, A, dy, sv, U, dy, VT, mn, superb);
    if (info) {
        rc = dln_fail(err, DLN_ERUNTIME, "LAPACKE_dgesvd failed in balanced init (info %d)", (int)info);
        goto done;
    }
    // Q[0] = V_k (dx, k), Q[H] = U_k (dy, k), Q[j] random (d_j, k) for 0 < j < H
    Q[0] = malloc(sizeof(double) * (size_t)dx * k);
    Q[H] = malloc(sizeof(double) * (size_t)dy * k);
    if (!Q[0] || !Q[H]) {
        rc = dln_fail(err, DLN_ENOMEM, "out of host memory in balanced init");
        goto done;
    }
    for (int j = 0; j < k; j++)
        for (int i = 0; i < dx; i++) Q[0][i + (size_t)j * dx] = VT[j + (size_t)i * mn];
    memcpy(Q[H], U, sizeof(double) * (size_t)dy * k);
    for (int j = 1; j < H && !rc; j++) {
        Q[j] = malloc(sizeof(double) * (size_t)s->dims[j] * k);
        rc = Q[j] ? random_orthonormal(g, s->dims[j], k, Q[j], err)
                  : dln_fail(err, DLN_ENOMEM, "out of host memory in balanced init");
    }
    int maxd = 0;
    for (int j = 0; j <= H; j++) maxd = s->dims[j] > maxd ? s->dims[j] : maxd;
    L = malloc(sizeof(double) * (size_t)maxd * k);
    if (!rc && !L) rc = dln_fail(err, DLN_ENOMEM, "out of host memory in balanced init");
    for (int i = 1; i <= H && !rc; i++) {
        // W_i (d_i, d_{i-1}) = Q_i (d_i, k) S^(1/H) Q_{i-1}^T (k, d_{i-1})
        int di = s->dims[i], dp = s->dims[i - 1];
        for (int j = 0; j < k; j++) {
            double f = pow(sv[j], 1.0 / H);
            for (int r = 0; r < di; r++) L[r + (size_t)j * di] = Q[i][r + (size_t)j * di] * f;
        }
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, di, dp, k, 1.0, L, di, Q[i - 1], dp, 0.0,
                    W[i - 1], di);
    }
done:
    if (Q)
        for (int j = 0; j <= H; j++) free(Q[j]);
    free(Q), free(A), free(sv), free(U), free(VT), free(superb), free(L);
    return rc;
}

/* random_orthonormal's scratch for (rows, cols): G, tau, d, and LAPACK's workspace for
 * dgeqrf and dorgqr (b x block size <= 64). */
static double orthonormal_bytes(double rows, double cols)
{
    double a = rows > cols ? rows : cols, b = rows > cols ? cols : rows;
    return 8.0 * (a * b + 2 * b + 64 * b);
}

double dln_init_scratch_bytes(const dln_shape *s, dln_init_kind kind)
{
    int H = s->depth;
    double worst = 0;
    if (kind == DLN_INIT_ORTHOGONAL)
        for (int i = 0; i < H; i++) worst = fmax(worst, orthonormal_bytes(s->dims[i + 1], s->dims[i]));
    if (kind != DLN_INIT_BALANCED) return worst;
    /* init_balanced: A, sv, U, VT, superb and every Q_j at once, one QR's scratch, L */
    double dx = s->dims[0], dy = s->dims[H], k = dln_shape_narrowest(s), mn = fmin(dx, dy), maxd = 0, q = 0;
    for (int j = 0; j <= H; j++) {
        maxd = fmax(maxd, s->dims[j]);
        q += (double)s->dims[j] * k;
        if (j > 0 && j < H) worst = fmax(worst, orthonormal_bytes(s->dims[j], k));
    }
    return 8.0 * (dy * dx + mn + dy * mn + mn * dx + mn + 1 + q + maxd * k) + worst +
           dln_gesvd_work_bytes(s->dims[H], s->dims[0]);
}

int dln_weights_alloc(const dln_shape *s, double ***Wout, dln_error *err)
{
    int H = s->depth;
    double **W = calloc((size_t)H, sizeof(double *));
    if (!W) return dln_fail(err, DLN_ENOMEM, "out of host memory for the weights");
    for (int i = 0; i < H; i++) {
        W[i] = calloc((size_t)s->dims[i + 1] * (size_t)s->dims[i], sizeof(double));
        if (!W[i]) {
            dln_weights_free(H, W);
            return dln_fail(err, DLN_ENOMEM, "out of host memory for the weights (%zu parameters)",
                            dln_shape_params(s));
        }
    }
    *Wout = W;
    return DLN_OK;
}

int dln_init_weights(const dln_shape *s, dln_init_kind kind, double scale, uint64_t seed, double ***Wout,
                     dln_error *err)
{
    int H = s->depth;
    if (!isfinite(scale) || scale < 0)
        return dln_fail(err, DLN_EINPUT, "the init scale must be a finite number >= 0 (got %g)", scale);
    double **W = NULL;
    DLN_TRY(dln_weights_alloc(s, &W, err));
    dln_rng g;
    dln_rng_seed(&g, seed, DLN_STREAM_INIT);
    int rc = DLN_OK;
    for (int i = 0; i < H && !rc && kind != DLN_INIT_BALANCED; i++) {
        int rows = s->dims[i + 1], cols = s->dims[i];
        size_t n = (size_t)rows * cols;
        switch (kind) {
        case DLN_INIT_GAUSSIAN:
            for (size_t e = 0; e < n; e++) W[i][e] = dln_rng_normal(&g) * scale / sqrt((double)cols);
            break;
        case DLN_INIT_ORTHOGONAL:
            rc = random_orthonormal(&g, rows, cols, W[i], err);
            for (size_t e = 0; e < n && !rc; e++) W[i][e] *= scale;
            break;
        case DLN_INIT_IDENTITY:
            for (int e = 0; e < rows && e < cols; e++) W[i][e + (size_t)e * rows] = scale;
            break;
        default:
            break;
        }
    }
    if (kind == DLN_INIT_BALANCED) rc = init_balanced(s, scale, &g, W, err);
    if (rc) {
        dln_weights_free(H, W);
        return rc;
    }
    *Wout = W;
    return DLN_OK;
}
