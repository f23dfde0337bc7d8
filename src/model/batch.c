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
    free(b);
}

int dln_batch_count(const dln_batch *b) { return b->count; }

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

int dln_batch_use_graphs(dln_batch *b, int on)
{
    b->no_graphs = !on;
    return DLN_OK;
}

/* dln_net_forward, batched: A_i = W_i A_{i-1} (A_0 = X shared), A_H -= Y, ||A_H||^2. */
static int forward(dln_batch *b, int measure)
{
    int H = b->s.depth, c = b->active;
    for (int i = 1; i <= H; i++) {
        const dln_mat *in = i == 1 ? &b->X : &b->A[i - 1].m0;
        size_t s_in = i == 1 ? 0 : b->A[i - 1].stride;
        DLN_TRY(dln_gemm_batched(b->be, 0, 0, 1.0, &b->W[i - 1].m0, b->W[i - 1].stride, in, s_in, 0.0, &b->A[i].m0,
                                 b->A[i].stride, c));
    }
    DLN_TRY(dln_axpby_batched(b->be, -1.0, NULL, &b->Y, 0, 1.0, NULL, &b->A[H].m0, b->A[H].stride, c));
    return measure ? dln_sumsq_batched(b->be, &b->A[H].m0, b->A[H].stride, c, &b->results, 0, 0) : DLN_OK;
}

/* dln_net_backward, batched. */
static int backward(dln_batch *b, int measure)
{
    int H = b->s.depth, c = b->active;
    for (int i = H; i >= 1; i--) {
        const dln_mat *prev = i == 1 ? &b->X : &b->A[i - 1].m0;
        size_t s_prev = i == 1 ? 0 : b->A[i - 1].stride;
        DLN_TRY(dln_gemm_batched(b->be, 0, 1, 1.0, &b->A[i].m0, b->A[i].stride, prev, s_prev, 0.0, &b->G[i - 1].m0,
                                 b->G[i - 1].stride, c));
        if (measure)
            DLN_TRY(dln_sumsq_batched(b->be, &b->G[i - 1].m0, b->G[i - 1].stride, c, &b->results, b->count, i != H));
        if (i > 1)
            DLN_TRY(dln_gemm_batched(b->be, 1, 0, 1.0, &b->W[i - 1].m0, b->W[i - 1].stride, &b->A[i].m0,
                                     b->A[i].stride, 0.0, &b->A[i - 1].m0, b->A[i - 1].stride, c));
    }
    return DLN_OK;
}

/* step.c's update, batched: V = G + mu V, W -= lr V (or W -= lr G without momentum). */
static int issue_step(dln_batch *b, int measure)
{
    int c = b->active;
    for (int i = 0; i < b->s.depth; i++) {
        const batch_mat *u = &b->G[i];
        if (b->V) {
            DLN_TRY(dln_axpby_batched(b->be, 1.0, NULL, &b->G[i].m0, b->G[i].stride, 1.0, &b->mu, &b->V[i].m0,
                                      b->V[i].stride, c));
            u = &b->V[i];
        }
        DLN_TRY(dln_axpby_batched(b->be, -1.0, &b->lr, &u->m0, u->stride, 1.0, NULL, &b->W[i].m0, b->W[i].stride, c));
    }
    DLN_TRY(forward(b, measure));
    return backward(b, measure);
}

int dln_batch_evaluate(dln_batch *b)
{
    DLN_TRY(forward(b, 1));
    return backward(b, 1);
}

int dln_batch_step(dln_batch *b, int measure)
{
    measure = measure != 0;
    if (b->no_graphs || !dln_backend_supports(b->be, DLN_CAP_GRAPHS)) return issue_step(b, measure);
    if (!b->graphs[measure]) {
        DLN_TRY(dln_capture_begin(b->be));
        int rc_ops = issue_step(b, measure);
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
