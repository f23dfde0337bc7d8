/* bare_batched.h: the GEMMs of a batch's training step issued bare, for bench/batch's (d):
 * the 3H - 1 GEMMs of one step of B members (H forward, H gradient, H - 1 input-gradient:
 * the first layer's is not needed), each one dln_gemm_batched over the B members on
 * buffers of the step's shapes, the data shared by all (stride 0), captured into a graph
 * where the backend captures (as the batch's step is). Nothing else of the step (updates,
 * residual, reductions, checks): the rate the library's batched GEMMs reach on these shapes,
 * against which the batch's whole step is read; one pass is checked against host GEMMs first
 * (bare_batched_check). Header only; included after bench_common.h. */
#ifndef DLN_BENCH_BARE_BATCHED_H
#define DLN_BENCH_BARE_BATCHED_H

typedef struct {
    dln_backend *be;
    int depth, count;
    dln_mat *W, *A, *G; /* W[i], G[i]: B members of (d_{i+1}, d_i); A[i] (i >= 1): of (d_i, n); A[0] the data */
    size_t *sw, *sa;    /* members' strides (elements): sw[i] of W[i] and G[i], sa[i] of A[i] (sa[0] = 0) */
    dln_mat *w, *a, *g; /* member 0's views of W, A, G */
    dln_graph *graph;
} bare_batched;

/* GEMM flops of one member's step on n columns: 2 n (3 sum_i d_i d_{i-1} - d_1 d_0). */
static inline double bare_batched_flops(const dln_shape *s, int n)
{
    double sum = 0;
    for (int i = 1; i <= s->depth; i++) sum += (double)s->dims[i] * s->dims[i - 1];
    return 2.0 * n * (3.0 * sum - (double)s->dims[1] * s->dims[0]);
}

static inline void bare_batched_free(bare_batched *b)
{
    for (int i = 0; b->A && i <= b->depth; i++) dln_mat_free(b->be, &b->A[i]);
    for (int i = 0; b->W && b->G && i < b->depth; i++) dln_mat_free(b->be, &b->W[i]), dln_mat_free(b->be, &b->G[i]);
    free(b->W), free(b->A), free(b->G), free(b->sw), free(b->sa), free(b->w), free(b->a), free(b->g);
    if (b->graph) dln_graph_destroy(b->be, b->graph);
    memset(b, 0, sizeof *b);
}

/* The step's GEMMs, in the step's order: member 0's views, moved by the strides. */
static inline int bare_batched_issue(bare_batched *b)
{
    int H = b->depth, B = b->count;
    dln_mat *w = b->w, *a = b->a, *g = b->g;
    for (int i = 1; i <= H; i++)
        DLN_TRY(dln_gemm_batched(b->be, 0, 0, 1.0, &w[i - 1], b->sw[i - 1], &a[i - 1], b->sa[i - 1], 0.0, &a[i],
                                 b->sa[i], B));
    for (int i = H; i >= 1; i--) {
        DLN_TRY(dln_gemm_batched(b->be, 0, 1, 1.0, &a[i], b->sa[i], &a[i - 1], b->sa[i - 1], 0.0, &g[i - 1],
                                 b->sw[i - 1], B));
        if (i > 1)
            DLN_TRY(dln_gemm_batched(b->be, 1, 0, 1.0, &w[i - 1], b->sw[i - 1], &a[i], b->sa[i], 0.0, &a[i - 1],
                                     b->sa[i - 1], B));
    }
    return DLN_OK;
}

/* Layer i's weights of all B members, (d_{i+1}, d_i B): entries N(0, 1 / d_i), so that the
 * products stay of order one down the chain (no zeros for a library to shortcut). */
static inline double *bare_batched_layer(const dln_shape *s, int i, int B, uint64_t seed)
{
    size_t count = (size_t)s->dims[i + 1] * (size_t)s->dims[i] * (size_t)B;
    double *w = bench_normals(count, seed, 100 + (uint64_t)i);
    for (size_t e = 0; w && e < count; e++) w[e] /= sqrt((double)s->dims[i]);
    return w;
}

/* Buffers for B members of shape s on n columns, the weights bare_batched_layer's, the data
 * X (dims[0], n) shared; captured where allowed. */
static inline int bare_batched_make(bare_batched *b, dln_backend *be, const dln_shape *s, int n, int B, dln_dtype t,
                                    const double *X, uint64_t seed)
{
    int H = s->depth;
    memset(b, 0, sizeof *b);
    b->be = be, b->depth = H, b->count = B;
    b->W = calloc((size_t)H, sizeof(dln_mat)), b->G = calloc((size_t)H, sizeof(dln_mat));
    b->A = calloc((size_t)H + 1, sizeof(dln_mat));
    b->sw = calloc((size_t)H, sizeof(size_t)), b->sa = calloc((size_t)H + 1, sizeof(size_t));
    b->w = calloc((size_t)H, sizeof(dln_mat)), b->g = calloc((size_t)H, sizeof(dln_mat));
    b->a = calloc((size_t)H + 1, sizeof(dln_mat));
    if (!b->W || !b->G || !b->A || !b->sw || !b->sa || !b->w || !b->g || !b->a)
        return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    DLN_TRY(dln_mat_alloc(be, &b->A[0], s->dims[0], n, t));
    DLN_TRY(dln_upload(be, &b->A[0], X, s->dims[0]));
    for (int i = 1; i <= H; i++) {
        DLN_TRY(dln_mat_alloc(be, &b->A[i], s->dims[i], n * B, t));
        b->sa[i] = (size_t)s->dims[i] * (size_t)n;
    }
    for (int i = 0; i < H; i++) {
        DLN_TRY(dln_mat_alloc(be, &b->W[i], s->dims[i + 1], s->dims[i] * B, t));
        DLN_TRY(dln_mat_alloc(be, &b->G[i], s->dims[i + 1], s->dims[i] * B, t));
        b->sw[i] = (size_t)s->dims[i + 1] * (size_t)s->dims[i];
        double *host = bare_batched_layer(s, i, B, seed);
        if (!host) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
        int rc = dln_upload(be, &b->W[i], host, s->dims[i + 1]);
        free(host);
        DLN_TRY(rc);
    }
    for (int i = 0; i <= H; i++) b->a[i] = dln_mat_view(&b->A[i], 0, 0, s->dims[i], n);
    for (int i = 0; i < H; i++) {
        b->w[i] = dln_mat_view(&b->W[i], 0, 0, s->dims[i + 1], s->dims[i]);
        b->g[i] = dln_mat_view(&b->G[i], 0, 0, s->dims[i + 1], s->dims[i]);
    }
    if (!dln_backend_supports(be, DLN_CAP_GRAPHS)) return DLN_OK;
    DLN_TRY(dln_capture_begin(be));
    int rc_ops = bare_batched_issue(b);
    DLN_TRY(dln_capture_end(be, &b->graph));
    return rc_ops;
}

static inline int bare_batched_run(void *p)
{
    bare_batched *b = p;
    return b->graph ? dln_graph_launch(b->be, b->graph) : bare_batched_issue(b);
}

/* One pass of the GEMMs, then member `member`'s output A_H (d_H, n) and first-layer product
 * G_1 (d_1, d_0) against the host's: A_i = W_i A_{i-1}; then from D = A_H down, G_i = D A_{i-1}^T
 * and D = W_i^T D, as the pass computes them (its input-gradient GEMMs overwrite A_{i-1}).
 * *rel: the larger relative Frobenius difference. A wrong stride or shape shows here. */
static inline int bare_batched_check(bare_batched *b, const dln_shape *s, const double *X, int member, uint64_t seed,
                                     double *rel)
{
    int H = b->depth, n = b->a[0].cols, rc = 1;
    *rel = NAN;
    double **W = calloc((size_t)H, sizeof *W), **A = calloc((size_t)H + 1, sizeof *A);
    double *D = NULL, *next = NULL, *G = NULL, *devA = NULL, *devG = NULL;
    if (!W || !A) goto out;
    for (int i = 0; i < H; i++) { /* member's slice of the layer */
        double *all = bare_batched_layer(s, i, b->count, seed);
        if (all && (W[i] = malloc(sizeof(double) * b->sw[i])))
            memcpy(W[i], all + (size_t)member * b->sw[i], sizeof(double) * b->sw[i]);
        free(all);
        if (!W[i]) goto out;
    }
    A[0] = (double *)X;
    for (int i = 1; i <= H; i++) {
        int m = b->a[i].rows, k = b->a[i - 1].rows;
        if (!(A[i] = malloc(sizeof(double) * (size_t)m * n))) goto out;
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, W[i - 1], m, A[i - 1], k, 0.0, A[i], m);
    }
    size_t most = 0;
    for (int i = 0; i <= H; i++) most = (size_t)b->a[i].rows > most ? (size_t)b->a[i].rows : most;
    D = malloc(sizeof(double) * most * n), next = malloc(sizeof(double) * most * n);
    G = malloc(sizeof(double) * most * most);
    devA = malloc(sizeof(double) * (size_t)b->a[H].rows * n), devG = malloc(sizeof(double) * most * most);
    if (!D || !next || !G || !devA || !devG) goto out;
    memcpy(D, A[H], sizeof(double) * (size_t)b->a[H].rows * n);
    for (int i = H; i >= 1; i--) {
        int m = b->a[i].rows, k = b->a[i - 1].rows;
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, m, k, n, 1.0, D, m, A[i - 1], k, 0.0, G, m);
        if (i > 1) { /* D (k, n) = W_i^T D */
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, n, m, 1.0, W[i - 1], m, D, m, 0.0, next, k);
            double *t = D;
            D = next, next = t;
        }
    }
    if (bare_batched_run(b) || dln_synchronize(b->be)) goto out;
    dln_mat out_a = dln_mat_view(&b->A[H], 0, member * n, b->a[H].rows, n);
    dln_mat out_g = dln_mat_view(&b->G[0], 0, member * b->a[0].rows, b->a[1].rows, b->a[0].rows);
    if (dln_download(b->be, &out_a, devA, b->a[H].rows) || dln_download(b->be, &out_g, devG, b->a[1].rows)) goto out;
    *rel = fmax(bench_rel_fro(devA, A[H], (size_t)b->a[H].rows * n),
                bench_rel_fro(devG, G, (size_t)b->a[1].rows * b->a[0].rows));
    rc = 0;
out:
    for (int i = 0; W && i < H; i++) free(W[i]);
    for (int i = 1; A && i <= H; i++) free(A[i]);
    free(W), free(A), free(D), free(next), free(G), free(devA), free(devG);
    return rc;
}


#endif
