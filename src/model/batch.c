/* batch.c: count networks of one shape on shared data (dln/batch.h). Every layer's
 * weights, gradients, momenta and activations are one allocation of count members side by
 * side (member b at b x the member's size), the data are shared (stride 0), and the
 * per-member step sizes and momenta are fp64 columns in backend memory. Only the first
 * `active` members are computed (dln_batch_set_active; dln_batch_move compacts them). The chains are
 * network.c's and step.c's, operation for operation, in batched form, so each member's
 * arithmetic is that of the network alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/threads.h"
#include "dln/batch.h"

enum { SETS = 4 }; /* W, G, V, A */

/* One batched operand: member 0's descriptor, and the stride between members. */
typedef struct {
    dln_mat all; /* the allocation: (rows, cols x count) */
    dln_mat m0;  /* member 0 */
    size_t stride;
} batch_mat;

struct dln_batch {
    dln_backend *be;
    dln_shape s;
    int n, count, momentum, no_graphs;
    int threads;             /* the backend's threads the members are spread over (1: none) */
    int *chunk_rc;           /* [count]: each chunk's status in a threaded step */
    int active;              /* members computed: the first `active` (the rest keep their weights) */
    dln_dtype dtype;
    dln_mat X, Y;            /* shared */
    batch_mat *W, *G, *V, *A; /* W, G, V [i] for layer i + 1; A [i] (d_i, n), i = 1..H */
    dln_mat results;         /* fp64 (2 count, 1): residual norms, then gradient norms */
    dln_mat lr, mu;          /* fp64 (count, 1) */
    dln_graph *graphs[2];    /* captured steps: unmeasured, measured */
};

int dln_batch_threads_used(const dln_shape *s, int n, int threads)
{
    double most = 0; /* the largest GEMM of a step or a Hessian-vector product: (d_i+1, d_i) x (d_i, n) */
    for (int i = 0; i < s->depth; i++) most = fmax(most, (double)s->dims[i + 1] * s->dims[i] * n);
    return threads > 1 && most <= DLN_MEMBER_WORK_MAX ? threads : 1;
}

size_t dln_batch_bytes(const dln_shape *s, int n, dln_dtype dtype, int count, int momentum)
{
    size_t p = dln_shape_params(s), act = 0;
    for (int i = 1; i <= s->depth; i++) act += (size_t)s->dims[i] * (size_t)n;
    size_t data = ((size_t)s->dims[0] + (size_t)s->dims[s->depth]) * (size_t)n;
    return ((2 + (momentum ? 1 : 0)) * p + act) * (size_t)count * dln_dtype_size(dtype) +
           data * dln_dtype_size(dtype) + 4 * (size_t)count * sizeof(double);
}

static int make_set(dln_batch *b, batch_mat **out, int first, int last, int cols_n)
{
    batch_mat *set = calloc((size_t)b->s.depth + 1, sizeof(batch_mat));
    *out = set;
    if (!set) return dln_fail(dln_backend_error(b->be), DLN_ENOMEM, "out of host memory");
    for (int i = first; i <= last; i++) {
        /* weight-shaped (cols_n = 0): member (d_{i+1}, d_i); activations: (d_i, n) */
        int rows = cols_n ? b->s.dims[i] : b->s.dims[i + 1], cols = cols_n ? b->n : b->s.dims[i];
        DLN_TRY(dln_mat_alloc(b->be, &set[i].all, rows, cols * b->count, b->dtype));
        set[i].m0 = dln_mat_view(&set[i].all, 0, 0, rows, cols);
        set[i].stride = (size_t)set[i].all.ld * (size_t)cols;
    }
    return DLN_OK;
}

int dln_batch_create(dln_backend *be, const dln_shape *s, int n, dln_dtype dtype, int count, int momentum,
                     dln_batch **out)
{
    *out = NULL;
    if (count < 1) return dln_fail(dln_backend_error(be), DLN_EINPUT, "a batch needs at least one member");
    dln_batch *b = calloc(1, sizeof *b);
    if (!b) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    b->be = be, b->n = n, b->count = b->active = count, b->momentum = momentum != 0, b->dtype = dtype;
    b->threads = 1;
    b->chunk_rc = calloc((size_t)count, sizeof(int));
    if (!b->chunk_rc) {
        free(b);
        return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    }
    int H = s->depth;
    int rc = dln_shape_make(H, s->dims[0], s->dims[H], s->dims + 1, H - 1, &b->s, dln_backend_error(be));
    if (!rc) rc = dln_mat_alloc(be, &b->X, s->dims[0], n, dtype);
    if (!rc) rc = dln_mat_alloc(be, &b->Y, s->dims[H], n, dtype);
    if (!rc) rc = dln_mat_alloc(be, &b->results, 2 * count, 1, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &b->lr, count, 1, DLN_F64);
    if (!rc) rc = dln_mat_alloc(be, &b->mu, count, 1, DLN_F64);
    if (!rc) rc = make_set(b, &b->W, 0, H - 1, 0);
    if (!rc) rc = make_set(b, &b->G, 0, H - 1, 0);
    if (!rc && b->momentum) rc = make_set(b, &b->V, 0, H - 1, 0);
    if (!rc) rc = make_set(b, &b->A, 1, H, 1);
    if (rc) {
        dln_batch_destroy(b);
        return rc;
    }
    *out = b;
    return DLN_OK;
}

static void free_set(dln_backend *be, batch_mat *set, int count)
{
    for (int i = 0; set && i < count; i++) dln_mat_free(be, &set[i].all);
    free(set);
}

void dln_batch_destroy(dln_batch *b)
{
    if (!b) return;
    int H = b->s.depth;
    for (int g = 0; g < 2; g++) dln_graph_destroy(b->be, b->graphs[g]);
    free_set(b->be, b->W, H + 1), free_set(b->be, b->G, H + 1), free_set(b->be, b->V, H + 1);
    free_set(b->be, b->A, H + 1);
    dln_mat *single[] = {&b->X, &b->Y, &b->results, &b->lr, &b->mu};
    for (int i = 0; i < 5; i++) dln_mat_free(b->be, single[i]);
    dln_shape_free(&b->s);
    free(b->chunk_rc);
    free(b);
}

int dln_batch_set_data(dln_batch *b, const double *X, const double *Y)
{
    DLN_TRY(dln_upload(b->be, &b->X, X, b->X.rows));
    return dln_upload(b->be, &b->Y, Y, b->Y.rows);
}

/* Member `member` of a batched operand. */
static dln_mat member(const batch_mat *m, int member)
{
    return dln_mat_view(&m->all, 0, member * m->m0.cols, m->m0.rows, m->m0.cols);
}

static int check_member(dln_batch *b, int m)
{
    if (m < 0 || m >= b->count)
        return dln_fail(dln_backend_error(b->be), DLN_ERUNTIME, "member %d of a batch of %d", m, b->count);
    return DLN_OK;
}

int dln_batch_set_weights(dln_batch *b, int m, double *const *W)
{
    DLN_TRY(check_member(b, m));
    for (int i = 0; i < b->s.depth; i++) {
        dln_mat w = member(&b->W[i], m);
        DLN_TRY(dln_upload(b->be, &w, W[i], w.rows));
        if (!b->V) continue;
        dln_mat v = member(&b->V[i], m);
        DLN_TRY(dln_axpby(b->be, 0.0, &v, 0.0, &v)); /* V = 0 */
    }
    return DLN_OK;
}

int dln_batch_get_weights(dln_batch *b, int m, double **W)
{
    DLN_TRY(check_member(b, m));
    for (int i = 0; i < b->s.depth; i++) {
        dln_mat w = member(&b->W[i], m);
        DLN_TRY(dln_download(b->be, &w, W[i], w.rows));
    }
    return DLN_OK;
}

int dln_batch_set_rates(dln_batch *b, const double *lr, const double *mu)
{
    for (int m = 0; mu && !b->V && m < b->count; m++)
        if (mu[m] != 0.0)
            return dln_fail(dln_backend_error(b->be), DLN_ERUNTIME, "momentum %g needs a batch made with momentum", mu[m]);
    double *zero = mu ? NULL : calloc((size_t)b->count, sizeof(double));
    if (!mu && !zero) return dln_fail(dln_backend_error(b->be), DLN_ENOMEM, "out of host memory");
    int rc = dln_upload(b->be, &b->lr, lr, b->count);
    if (!rc) rc = dln_upload(b->be, &b->mu, mu ? mu : zero, b->count);
    free(zero);
    return rc;
}

int dln_batch_move(dln_batch *b, int from, int to)
{
    DLN_TRY(check_member(b, from));
    DLN_TRY(check_member(b, to));
    if (from == to) return DLN_OK;
    batch_mat *sets[] = {b->W, b->G, b->V};
    for (int k = 0; k < 3; k++)
        for (int i = 0; sets[k] && i < b->s.depth; i++) {
            dln_mat src = member(&sets[k][i], from), dst = member(&sets[k][i], to);
            DLN_TRY(dln_copy(b->be, &dst, &src));
        }
    return DLN_OK;
}

int dln_batch_set_active(dln_batch *b, int n)
{
    if (n < 1 || n > b->count)
        return dln_fail(dln_backend_error(b->be), DLN_ERUNTIME, "%d active members of a batch of %d", n, b->count);
    if (n == b->active) return DLN_OK;
    for (int g = 0; g < 2; g++) { /* captured for the old count */
        dln_graph_destroy(b->be, b->graphs[g]);
        b->graphs[g] = NULL;
    }
    b->active = n;
    return DLN_OK;
}

int dln_batch_set_threads(dln_batch *b, int threads)
{
    if (threads < 1)
        return dln_fail(dln_backend_error(b->be), DLN_ERUNTIME, "a batch on %d threads", threads);
    b->threads = threads;
    return DLN_OK;
}

/* Members lo .. lo + n - 1 of a batched operand, as a batched operand of n. */
static dln_mat from(const batch_mat *m, int lo)
{
    return lo ? member(m, lo) : m->m0;
}

/* Rows lo .. lo + n - 1 of a per-member column (step sizes, momenta). */
static dln_mat rows_of(const dln_mat *v, int lo, int n)
{
    return dln_mat_view(v, lo, 0, n, 1);
}

/* dln_net_forward, batched over members lo .. lo + n - 1: A_i = W_i A_{i-1} (A_0 = X
 * shared), A_H -= Y, ||A_H||^2. */
static int forward(dln_batch *b, int lo, int n, int measure)
{
    int H = b->s.depth;
    for (int i = 1; i <= H; i++) {
        dln_mat in = i == 1 ? b->X : from(&b->A[i - 1], lo), w = from(&b->W[i - 1], lo), a = from(&b->A[i], lo);
        size_t s_in = i == 1 ? 0 : b->A[i - 1].stride;
        DLN_TRY(dln_gemm_batched(b->be, 0, 0, 1.0, &w, b->W[i - 1].stride, &in, s_in, 0.0, &a, b->A[i].stride, n));
    }
    dln_mat a = from(&b->A[H], lo);
    DLN_TRY(dln_axpby_batched(b->be, -1.0, NULL, &b->Y, 0, 1.0, NULL, &a, b->A[H].stride, n));
    return measure ? dln_sumsq_batched(b->be, &a, b->A[H].stride, n, &b->results, lo, 0) : DLN_OK;
}

/* dln_net_backward, batched over members lo .. lo + n - 1. */
static int backward(dln_batch *b, int lo, int n, int measure)
{
    int H = b->s.depth;
    for (int i = H; i >= 1; i--) {
        dln_mat prev = i == 1 ? b->X : from(&b->A[i - 1], lo), a = from(&b->A[i], lo), g = from(&b->G[i - 1], lo);
        size_t s_prev = i == 1 ? 0 : b->A[i - 1].stride;
        DLN_TRY(dln_gemm_batched(b->be, 0, 1, 1.0, &a, b->A[i].stride, &prev, s_prev, 0.0, &g, b->G[i - 1].stride, n));
        if (measure) DLN_TRY(dln_sumsq_batched(b->be, &g, b->G[i - 1].stride, n, &b->results, b->count + lo, i != H));
        if (i > 1) {
            dln_mat w = from(&b->W[i - 1], lo);
            DLN_TRY(dln_gemm_batched(b->be, 1, 0, 1.0, &w, b->W[i - 1].stride, &a, b->A[i].stride, 0.0, &prev,
                                     b->A[i - 1].stride, n));
        }
    }
    return DLN_OK;
}

/* step.c's update, batched over members lo .. lo + n - 1: V = G + mu V, W -= lr V (or
 * W -= lr G without momentum); then forward and backward. */
static int issue_step(dln_batch *b, int lo, int n, int measure)
{
    dln_mat lr = rows_of(&b->lr, lo, n), mu = rows_of(&b->mu, lo, n);
    for (int i = 0; i < b->s.depth; i++) {
        const batch_mat *u = &b->G[i];
        dln_mat g = from(&b->G[i], lo), w = from(&b->W[i], lo), upd = g;
        if (b->V) {
            dln_mat v = from(&b->V[i], lo);
            DLN_TRY(dln_axpby_batched(b->be, 1.0, NULL, &g, b->G[i].stride, 1.0, &mu, &v, b->V[i].stride, n));
            u = &b->V[i], upd = v;
        }
        DLN_TRY(dln_axpby_batched(b->be, -1.0, &lr, &upd, u->stride, 1.0, NULL, &w, b->W[i].stride, n));
    }
    DLN_TRY(forward(b, lo, n, measure));
    return backward(b, lo, n, measure);
}

/* A step (update 1: the update, then forward and backward, measured or not) or an
 * evaluation (update 0: forward and backward, measured) of members lo .. lo + n - 1. */
static int issue_range(dln_batch *b, int lo, int n, int update, int measure)
{
    if (update) return issue_step(b, lo, n, measure);
    DLN_TRY(forward(b, lo, n, 1));
    return backward(b, lo, n, 1);
}

/* The work over the active members: on the backend's threads, in chunks of members (each
 * chunk's operations issued by one thread, so one wake-up per step and a chunk's data stay
 * in cache), where dln_batch_set_threads gave more than one; else one batched call per
 * operation. A member's operations are the same either way. A chunk's operations allocate
 * nothing and cannot fail on the batch's checked shapes, so the threads share the batch's
 * backend handle. */
typedef struct {
    dln_batch *b;
    int update, measure, chunk;
} chunk_job;

static void run_chunk(void *ctx, int k, int worker)
{
    chunk_job *j = ctx;
    (void)worker;
    int lo = k * j->chunk, n = j->b->active - lo < j->chunk ? j->b->active - lo : j->chunk;
    j->b->chunk_rc[k] = issue_range(j->b, lo, n, j->update, j->measure);
}

static int run_members(dln_batch *b, int update, int measure)
{
    dln_pool *pool = dln_backend_pool(b->be);
    int threads = pool && b->threads > 1 ? dln_pool_threads(pool) : 1;
    if (threads == 1 || b->active < 2) return issue_range(b, 0, b->active, update, measure);
    int chunk = b->active / (4 * threads) > 1 ? b->active / (4 * threads) : 1;
    int chunks = (b->active + chunk - 1) / chunk; /* <= active <= count */
    chunk_job j = {b, update, measure, chunk};
    dln_pool_for(pool, chunks, run_chunk, &j);
    int rc = DLN_OK;
    for (int k = 0; k < chunks && !rc; k++) rc = b->chunk_rc[k];
    return rc;
}

int dln_batch_evaluate(dln_batch *b)
{
    return run_members(b, 0, 1);
}

int dln_batch_step(dln_batch *b, int measure)
{
    measure = measure != 0;
    if (b->no_graphs || !dln_backend_supports(b->be, DLN_CAP_GRAPHS)) return run_members(b, 1, measure);
    if (!b->graphs[measure]) {
        DLN_TRY(dln_capture_begin(b->be));
        int rc_ops = issue_step(b, 0, b->active, measure);
        DLN_TRY(dln_capture_end(b->be, &b->graphs[measure]));
        DLN_TRY(rc_ops);
    }
    return dln_graph_launch(b->be, b->graphs[measure]);
}

int dln_batch_read(dln_batch *b, dln_network_stats *st)
{
    double *v = malloc(sizeof(double) * 2 * (size_t)b->count);
    if (!v) return dln_fail(dln_backend_error(b->be), DLN_ENOMEM, "out of host memory");
    int rc = dln_download(b->be, &b->results, v, 2 * b->count);
    for (int m = 0; !rc && m < b->count; m++) {
        st[m].residual_sumsq = v[m];
        st[m].grad_sumsq = v[b->count + m];
    }
    free(v);
    return rc;
}
