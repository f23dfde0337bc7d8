/* network.c: a network of `count` members in backend memory (dln/network.h): its buffers,
 * each layer's members side by side in one allocation (member b at b x the member's size),
 * the shared input and the objective's state with the target, the per-member step sizes
 * and momenta as fp64 columns, and the members' weights in and out. The chains are in
 * chain.c, the step in step.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/network_internal.h"

static int count_of(const dln_network_config *c) { return c->count > 0 ? c->count : 1; }

int dln_network_threads_used(const dln_shape *s, int n, int threads)
{
    double most = 0; /* the largest GEMM of a step or a Hessian-vector product: (d_i+1, d_i) x (d_i, n) */
    for (int i = 0; i < s->depth; i++) most = fmax(most, (double)s->dims[i + 1] * s->dims[i] * n);
    return threads > 1 && most <= DLN_MEMBER_WORK_MAX ? threads : 1;
}

size_t dln_network_bytes(const dln_shape *s, const dln_network_config *c)
{
    size_t p = dln_shape_params(s), act = 0, count = (size_t)count_of(c), n = (size_t)c->n;
    for (int i = 1; i <= s->depth; i++) act += (size_t)s->dims[i] * n;
    size_t copies = 2 + ((c->buffers & DLN_NET_MOMENTUM) ? 1 : 0) + ((c->buffers & DLN_NET_TRIAL) ? 1 : 0);
    double target = dln_objective_state_bytes(c->objective, s->dims[s->depth], c->n, c->dtype, (int)count);
    return (copies * p + act) * count * dln_dtype_size(c->dtype) + (size_t)s->dims[0] * n * dln_dtype_size(c->dtype) +
           (size_t)target + 4 * count * sizeof(double);
}

dln_mat dln_net_member(const net_mat *m, int b)
{
    return b ? dln_mat_view(&m->all, 0, b * m->m0.cols, m->m0.rows, m->m0.cols) : m->m0;
}

int dln_net_alloc_set(dln_network *net, net_mat **out, int first, int last, int n, int members)
{
    net_mat *set = calloc((size_t)net->s.depth + 1, sizeof(net_mat));
    *out = set;
    if (!set) return dln_fail(dln_backend_error(net->be), DLN_ENOMEM, "out of host memory");
    for (int i = first; i <= last; i++) {
        int rows = n ? net->s.dims[i] : net->s.dims[i + 1], cols = n ? n : net->s.dims[i];
        DLN_TRY(dln_mat_alloc(net->be, &set[i].all, rows, cols * members, net->dtype));
        set[i].m0 = dln_mat_view(&set[i].all, 0, 0, rows, cols);
        set[i].stride = (size_t)set[i].all.ld * (size_t)cols;
    }
    return DLN_OK;
}

void dln_net_free_set(dln_backend *be, net_mat *set, int count)
{
    for (int i = 0; set && i < count; i++) dln_mat_free(be, &set[i].all);
    free(set);
}

void dln_net_hvp_free(dln_network *net)
{
    struct net_hvp *h = net->hvp;
    if (!h) return;
    net_mat *sets[] = {h->A, h->B, h->dA, h->dB, h->V, h->HV};
    for (int k = 0; k < 6; k++) dln_net_free_set(net->be, sets[k], net->s.depth + 1);
    free(h);
    net->hvp = NULL;
}

static int create(dln_network *net, unsigned buffers)
{
    dln_backend *be = net->be;
    int H = net->s.depth, count = net->count;
    net->chunk_rc = calloc((size_t)count, sizeof(int));
    if (!net->chunk_rc) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    DLN_TRY(dln_mat_alloc(be, &net->X, net->s.dims[0], net->n, net->dtype));
    DLN_TRY(dln_objective_state_create(net->objective, be, net->s.dims[H], net->n, net->dtype, count, &net->obj));
    DLN_TRY(dln_mat_alloc(be, &net->results, 2 * count, 1, DLN_F64));
    DLN_TRY(dln_mat_alloc(be, &net->lr, count, 1, DLN_F64));
    DLN_TRY(dln_mat_alloc(be, &net->mu, count, 1, DLN_F64));
    DLN_TRY(dln_net_alloc_set(net, &net->W, 0, H - 1, 0, count));
    DLN_TRY(dln_net_alloc_set(net, &net->G, 0, H - 1, 0, count));
    if (buffers & DLN_NET_MOMENTUM) DLN_TRY(dln_net_alloc_set(net, &net->V, 0, H - 1, 0, count));
    if (buffers & DLN_NET_TRIAL) DLN_TRY(dln_net_alloc_set(net, &net->T, 0, H - 1, 0, count));
    return dln_net_alloc_set(net, &net->A, 1, H, net->n, count);
}

int dln_network_create(dln_backend *be, const dln_shape *s, const dln_network_config *c, dln_network **out)
{
    *out = NULL;
    dln_network *net = calloc(1, sizeof *net);
    if (!net) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    net->be = be, net->n = c->n, net->count = net->active = count_of(c), net->dtype = c->dtype, net->threads = 1;
    net->objective = c->objective;
    int H = s->depth;
    int rc = dln_shape_make(H, s->dims[0], s->dims[H], s->dims + 1, H - 1, &net->s, dln_backend_error(be));
    if (!rc) rc = create(net, c->buffers);
    if (rc) {
        dln_network_destroy(net);
        return rc;
    }
    *out = net;
    return DLN_OK;
}

void dln_network_destroy(dln_network *net)
{
    if (!net) return;
    dln_backend *be = net->be;
    int H = net->s.depth;
    for (int g = 0; g < 2; g++) dln_graph_destroy(be, net->graphs[g]);
    dln_net_hvp_free(net);
    dln_net_flow_free(net);
    dln_mat *lazy[] = {&net->prod[0], &net->prod[1], &net->norms}; /* product.c's, made on first use */
    for (int i = 0; i < 3; i++) dln_mat_free(be, lazy[i]);
    dln_objective_state_destroy(net->obj);
    net_mat *sets[] = {net->W, net->G, net->V, net->T, net->A};
    for (int k = 0; k < 5; k++) dln_net_free_set(be, sets[k], H + 1);
    dln_mat *single[] = {&net->X, &net->results, &net->lr, &net->mu};
    for (int i = 0; i < 4; i++) dln_mat_free(be, single[i]);
    dln_shape_free(&net->s);
    free(net->chunk_rc);
    free(net);
}

int dln_network_count(const dln_network *net) { return net->count; }

const dln_shape *dln_network_shape(const dln_network *net) { return &net->s; }

int dln_network_set_data(dln_network *net, const double *X, const double *Y)
{
    int d0 = net->X.rows, n = net->X.cols;
    net->identity = d0 == n;
    for (int j = 0; net->identity && j < n; j++)
        for (int i = 0; i < d0; i++)
            if (X[i + (size_t)j * d0] != (i == j)) {
                net->identity = 0;
                break;
            }
    DLN_TRY(dln_upload(net->be, &net->X, X, net->X.rows));
    return dln_objective_set_target(net->obj, Y);
}

static int check_member(dln_network *net, int m)
{
    if (m < 0 || m >= net->count)
        return dln_fail(dln_backend_error(net->be), DLN_ERUNTIME, "member %d of a network of %d", m, net->count);
    return DLN_OK;
}

/* A member's weight-shaped set to the host (down) or from it (up). */
static int transfer(dln_network *net, const net_mat *set, int m, double *const *up, double **down)
{
    DLN_TRY(check_member(net, m));
    for (int i = 0; i < net->s.depth; i++) {
        dln_mat w = dln_net_member(&set[i], m);
        if (up) DLN_TRY(dln_upload(net->be, &w, up[i], w.rows));
        else DLN_TRY(dln_download(net->be, &w, down[i], w.rows));
    }
    return DLN_OK;
}

int dln_network_set_weights(dln_network *net, int m, double *const *W)
{
    DLN_TRY(transfer(net, net->W, m, W, NULL));
    for (int i = 0; net->V && i < net->s.depth; i++) {
        dln_mat v = dln_net_member(&net->V[i], m);
        DLN_TRY(dln_axpby(net->be, 0.0, &v, 0.0, &v)); /* V = 0 */
    }
    return DLN_OK;
}

int dln_network_get_weights(dln_network *net, int m, double **W) { return transfer(net, net->W, m, NULL, W); }

int dln_network_get_gradients(dln_network *net, int m, double **G) { return transfer(net, net->G, m, NULL, G); }

int dln_network_get_output_gradient(dln_network *net, int m, double *E)
{
    // A[H] holds dL/dZ (d_H, n) after a forward; the backward chain only reads it
    DLN_TRY(check_member(net, m));
    dln_mat a = dln_net_member(&net->A[net->s.depth], m);
    return dln_download(net->be, &a, E, a.rows);
}

int dln_network_set_rates(dln_network *net, const double *lr, const double *mu)
{
    for (int m = 0; mu && !net->V && m < net->count; m++)
        if (mu[m] != 0.0)
            return dln_fail(dln_backend_error(net->be), DLN_ERUNTIME,
                            "momentum %g needs a network made with momentum buffers", mu[m]);
    double *zero = mu ? NULL : calloc((size_t)net->count, sizeof(double));
    if (!mu && !zero) return dln_fail(dln_backend_error(net->be), DLN_ENOMEM, "out of host memory");
    int rc = dln_upload(net->be, &net->lr, lr, net->count);
    if (!rc) rc = dln_upload(net->be, &net->mu, mu ? mu : zero, net->count);
    free(zero);
    return rc;
}

int dln_network_move(dln_network *net, int from, int to)
{
    DLN_TRY(check_member(net, from));
    DLN_TRY(check_member(net, to));
    if (from == to) return DLN_OK;
    net_mat *sets[] = {net->W, net->G, net->V};
    for (int k = 0; k < 3; k++)
        for (int i = 0; sets[k] && i < net->s.depth; i++) {
            dln_mat src = dln_net_member(&sets[k][i], from), dst = dln_net_member(&sets[k][i], to);
            DLN_TRY(dln_copy(net->be, &dst, &src));
        }
    return DLN_OK;
}

int dln_network_set_active(dln_network *net, int n)
{
    if (n < 1 || n > net->count)
        return dln_fail(dln_backend_error(net->be), DLN_ERUNTIME, "%d active members of a network of %d", n,
                        net->count);
    if (n == net->active) return DLN_OK;
    for (int g = 0; g < 2; g++) { /* captured for the old count */
        dln_graph_destroy(net->be, net->graphs[g]);
        net->graphs[g] = NULL;
    }
    net->active = n;
    return DLN_OK;
}

int dln_network_set_threads(dln_network *net, int threads)
{
    if (threads < 1) return dln_fail(dln_backend_error(net->be), DLN_ERUNTIME, "a network on %d threads", threads);
    net->threads = threads;
    return DLN_OK;
}

int dln_network_use_graphs(dln_network *net, int on)
{
    net->no_graphs = !on;
    return DLN_OK;
}
