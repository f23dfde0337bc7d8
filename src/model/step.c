/* step.c: the one training step, for every active member at once: the update W -= lr G
 * (or heavy ball V = mu V + G, W -= lr V) with each member's rates read from backend
 * memory, then the forward and backward chains at the new weights, with the loss and the
 * gradient norm reduced only when measured. Where the backend has graphs the sequence is
 * captured once per (active members, measured or not) and replayed: new rates need no new
 * capture. On the backend's threads (dln_network_set_threads) the members are issued in
 * chunks, each chunk's operations by one thread (one wake-up per step; a member's
 * operations are the same either way). Also the evaluation at the current weights, the
 * trial step of a line search, and reading the results. */
#include <stdlib.h>

#include "model/network_internal.h"

/* The update of members lo .. lo + n - 1 from (W_t, G_t) to W_{t+1}, then forward and
 * backward at W_{t+1}. */
static int issue_step(dln_network *net, int lo, int n, int measure)
{
    dln_mat lr = dln_mat_view(&net->lr, lo, 0, n, 1), mu = dln_mat_view(&net->mu, lo, 0, n, 1);
    for (int i = 0; i < net->s.depth; i++) {
        const net_mat *u = &net->G[i];
        dln_mat g = dln_net_member(&net->G[i], lo), w = dln_net_member(&net->W[i], lo), upd = g;
        if (net->V) {
            dln_mat v = dln_net_member(&net->V[i], lo);
            DLN_TRY(dln_axpby_batched(net->be, 1.0, NULL, &g, net->G[i].stride, 1.0, &mu, &v, net->V[i].stride, n));
            u = &net->V[i], upd = v;
        }
        DLN_TRY(dln_axpby_batched(net->be, -1.0, &lr, &upd, u->stride, 1.0, NULL, &w, net->W[i].stride, n));
    }
    DLN_TRY(dln_net_forward(net, net->W, lo, n, measure));
    return dln_net_backward(net, net->W, lo, n, measure);
}

/* A step (update 1) or an evaluation (update 0: forward and backward, measured) of members
 * lo .. lo + n - 1. */
static int issue_range(dln_network *net, int lo, int n, int update, int measure)
{
    if (update) return issue_step(net, lo, n, measure);
    DLN_TRY(dln_net_forward(net, net->W, lo, n, 1));
    return dln_net_backward(net, net->W, lo, n, 1);
}

/* The work over the active members: on the backend's threads, in chunks of members (each
 * chunk's operations issued by one thread, so one wake-up per step and a chunk's data stay
 * in cache), where dln_network_set_threads gave more than one; else one batched call per
 * operation. A chunk's operations allocate nothing and cannot fail on the network's checked
 * shapes, so the threads share the network's backend handle. */
typedef struct {
    dln_network *net;
    int update, measure, chunk;
} chunk_job;

static void run_chunk(void *ctx, int k, int worker)
{
    chunk_job *j = ctx;
    (void)worker;
    int lo = k * j->chunk, n = j->net->active - lo < j->chunk ? j->net->active - lo : j->chunk;
    j->net->chunk_rc[k] = issue_range(j->net, lo, n, j->update, j->measure);
}

static int run_members(dln_network *net, int update, int measure)
{
    dln_pool *pool = dln_backend_pool(net->be);
    int threads = pool && net->threads > 1 ? dln_pool_threads(pool) : 1;
    if (threads == 1 || net->active < 2) return issue_range(net, 0, net->active, update, measure);
    int chunk = net->active / (4 * threads) > 1 ? net->active / (4 * threads) : 1;
    int chunks = (net->active + chunk - 1) / chunk; /* <= active <= count */
    chunk_job j = {net, update, measure, chunk};
    dln_pool_for(pool, chunks, run_chunk, &j);
    int rc = DLN_OK;
    for (int k = 0; k < chunks && !rc; k++) rc = net->chunk_rc[k];
    return rc;
}

int dln_network_evaluate(dln_network *net) { return run_members(net, 0, 1); }

int dln_network_step(dln_network *net, int measure)
{
    measure = measure != 0;
    if (net->no_graphs || !dln_backend_supports(net->be, DLN_CAP_GRAPHS)) return run_members(net, 1, measure);
    if (!net->graphs[measure]) {
        DLN_TRY(dln_capture_begin(net->be));
        int rc_ops = issue_step(net, 0, net->active, measure);
        DLN_TRY(dln_capture_end(net->be, &net->graphs[measure]));
        DLN_TRY(rc_ops);
    }
    return dln_graph_launch(net->be, net->graphs[measure]);
}

int dln_network_read(dln_network *net, dln_network_stats *st)
{
    double *v = malloc(sizeof(double) * 2 * (size_t)net->count);
    if (!v) return dln_fail(dln_backend_error(net->be), DLN_ENOMEM, "out of host memory");
    int rc = dln_download(net->be, &net->results, v, 2 * net->count);
    double scale = dln_objective_value_scale(net->objective);
    for (int m = 0; !rc && m < net->count; m++) {
        st[m].loss = scale * v[m];
        st[m].grad_sumsq = v[net->count + m];
    }
    free(v);
    return rc;
}

static int need_trial(dln_network *net, const char *op)
{
    if (!net->T || net->count != 1)
        return dln_fail(dln_backend_error(net->be), DLN_ERUNTIME,
                        "%s: a line search needs a network of one member with trial buffers", op);
    return DLN_OK;
}

int dln_network_try(dln_network *net, double lr, double *loss)
{
    DLN_TRY(need_trial(net, "try"));
    for (int i = 0; i < net->s.depth; i++) {
        DLN_TRY(dln_copy(net->be, &net->T[i].m0, &net->W[i].m0));
        DLN_TRY(dln_axpby(net->be, -lr, &net->G[i].m0, 1.0, &net->T[i].m0));
    }
    DLN_TRY(dln_net_forward(net, net->T, 0, 1, 1));
    double v;
    dln_mat r = dln_mat_view(&net->results, 0, 0, 1, 1);
    DLN_TRY(dln_download(net->be, &r, &v, 1));
    *loss = dln_objective_value_scale(net->objective) * v;
    return DLN_OK;
}

int dln_network_accept(dln_network *net)
{
    DLN_TRY(need_trial(net, "accept"));
    net_mat *t = net->W;
    net->W = net->T;
    net->T = t;
    for (int g = 0; g < 2; g++) { /* captured steps point at the old buffers */
        dln_graph_destroy(net->be, net->graphs[g]);
        net->graphs[g] = NULL;
    }
    return dln_net_backward(net, net->W, 0, 1, 1);
}
