/* step.c: the one training step, shared by the trainer, the step benchmark and the tests:
 * the update W -= lr G (or heavy ball V = mu V + G, W -= lr V), then the forward and
 * backward chains at the new weights, with the squared norms of residual and gradient
 * reduced only when measured. Where the backend has graphs the sequence is captured once
 * per (lr, mu, measured or not) and replayed; a graph keeps the scalars it was recorded
 * with, so a new lr or mu means a new capture. Also the evaluation at the current
 * weights, the trial step of a line search, and reading the results. */
#include "model/network_internal.h"

/* The update from (W_t, G_t) to W_{t+1}, then forward and backward at W_{t+1}. */
static int issue_step(dln_network *net, double lr, double mu, int measure)
{
    for (int i = 0; i < net->s.depth; i++) {
        if (mu != 0.0) {
            DLN_TRY(dln_axpby(net->be, 1.0, &net->G[i], mu, &net->V[i]));
            DLN_TRY(dln_axpby(net->be, -lr, &net->V[i], 1.0, &net->W[i]));
        } else {
            DLN_TRY(dln_axpby(net->be, -lr, &net->G[i], 1.0, &net->W[i]));
        }
    }
    DLN_TRY(dln_net_forward(net, net->W, measure));
    return dln_net_backward(net, net->W, measure);
}

int dln_network_evaluate(dln_network *net)
{
    DLN_TRY(dln_net_forward(net, net->W, 1));
    return dln_net_backward(net, net->W, 1);
}

int dln_network_step(dln_network *net, double lr, double mu, int measure)
{
    dln_backend *be = net->be;
    measure = measure != 0;
    if (mu != 0.0 && !net->V)
        return dln_fail(dln_backend_error(be), DLN_ERUNTIME, "step: momentum %g needs a network with momentum buffers", mu);
    if (net->no_graphs || !dln_backend_supports(be, DLN_CAP_GRAPHS)) return issue_step(net, lr, mu, measure);
    net_graph *g = &net->graphs[measure];
    if (g->graph && (g->lr != lr || g->mu != mu)) {
        dln_graph_destroy(be, g->graph);
        g->graph = NULL;
    }
    if (!g->graph) {
        DLN_TRY(dln_capture_begin(be));
        int rc_ops = issue_step(net, lr, mu, measure);
        DLN_TRY(dln_capture_end(be, &g->graph));
        DLN_TRY(rc_ops);
        g->lr = lr;
        g->mu = mu;
    }
    return dln_graph_launch(be, g->graph);
}

int dln_network_use_graphs(dln_network *net, int on)
{
    net->no_graphs = !on;
    return DLN_OK;
}

int dln_network_try(dln_network *net, double lr, double *residual_sumsq)
{
    if (!net->T) return dln_fail(dln_backend_error(net->be), DLN_ERUNTIME, "try: the network has no trial buffers");
    for (int i = 0; i < net->s.depth; i++) {
        DLN_TRY(dln_copy(net->be, &net->T[i], &net->W[i]));
        DLN_TRY(dln_axpby(net->be, -lr, &net->G[i], 1.0, &net->T[i]));
    }
    DLN_TRY(dln_net_forward(net, net->T, 1));
    dln_mat r = dln_mat_view(&net->results, NET_RESIDUAL, 0, 1, 1);
    return dln_download(net->be, &r, residual_sumsq, 1);
}

int dln_network_accept(dln_network *net)
{
    if (!net->T) return dln_fail(dln_backend_error(net->be), DLN_ERUNTIME, "accept: the network has no trial buffers");
    dln_mat *t = net->W;
    net->W = net->T;
    net->T = t;
    /* captured steps point at the old buffers */
    for (int g = 0; g < 2; g++) {
        dln_graph_destroy(net->be, net->graphs[g].graph);
        net->graphs[g].graph = NULL;
    }
    return dln_net_backward(net, net->W, 1);
}

int dln_network_read(dln_network *net, dln_network_stats *st)
{
    double v[NET_RESULTS];
    DLN_TRY(dln_download(net->be, &net->results, v, NET_RESULTS));
    st->residual_sumsq = v[NET_RESIDUAL];
    st->grad_sumsq = v[NET_GRAD];
    return DLN_OK;
}
