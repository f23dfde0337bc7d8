/* flow.c: one step of the gradient flow dW/dt = -grad L(W) for every member at once, by the
 * Dormand-Prince 5(4) pair (Dormand & Prince 1980; Hairer, Norsett & Wanner, Solving ODEs I,
 * II.5): seven stages K_s = -grad L(W0 + h_b sum_j a_sj K_j), the fifth-order point W1 =
 * stage 7's (FSAL: its gradient is the next step's K_1), the error W1 - W1* = h_b sum_j
 * e_j K_j against the embedded fourth-order solution. Each member has its own step h_b (an
 * fp64 column on the backend: one batched axpby per stage term for all the members); the
 * host reads the error's and the weights' norms and settles each member: accepted (W1 kept,
 * K_1 := K_7) or rejected (W := W0). A member with h_b = 0 stays where it is. The buffers (W0,
 * the seven K, the error) are made on first use and freed with the network. */
#include <stdlib.h>

#include "model/network_internal.h"

/* The Dormand-Prince tableau: a[s][j] for stage s + 1 from stages j + 1 <= s; e = b - b*. */
static const double A[7][6] = {
    {0},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}, /* = b: stage 7 is W1 */
};
static const double E[7] = {71.0 / 57600, 0.0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525,
                            -1.0 / 40};

struct net_flow {
    net_mat *K[7], *W0, *E;
    dln_mat h, keep, back; /* fp64 (count, 1): the steps, and the settle coefficients (1, 0 / 0, 1) */
    dln_mat norms;         /* fp64 (3 count, 1): ||E||^2, ||W0||^2, ||W1||^2 per member */
};

void dln_net_flow_free(dln_network *net)
{
    struct net_flow *f = net->flow;
    if (!f) return;
    int n = net->s.depth + 1;
    for (int s = 0; s < 7; s++) dln_net_free_set(net->be, f->K[s], n);
    dln_net_free_set(net->be, f->W0, n), dln_net_free_set(net->be, f->E, n);
    dln_mat *m[] = {&f->h, &f->keep, &f->back, &f->norms};
    for (int i = 0; i < 4; i++) dln_mat_free(net->be, m[i]);
    free(f);
    net->flow = NULL;
}

/* Y := alpha Y' ... one term of a weight-shaped set for members 0 .. active - 1:
 * Y_b = alpha c_b X_b + beta d_b Y_b (c, d fp64 columns or NULL). */
static int set_axpby(dln_network *net, double alpha, const dln_mat *c, const net_mat *X, double beta, const dln_mat *d,
                     net_mat *Y)
{
    for (int i = 0; i < net->s.depth; i++)
        DLN_TRY(dln_axpby_batched(net->be, alpha, c, &X[i].m0, X[i].stride, beta, d, &Y[i].m0, Y[i].stride,
                                  net->active));
    return DLN_OK;
}

/* The gradient at the network's weights into K_s as its negative (the forward and backward
 * chains; measured: the loss and ||G||^2 into the results). */
static int stage_gradient(dln_network *net, net_mat *K, int measure)
{
    DLN_TRY(dln_net_forward(net, net->W, 0, net->active, measure));
    DLN_TRY(dln_net_backward(net, net->W, 0, net->active, measure));
    return set_axpby(net, -1.0, NULL, net->G, 0.0, NULL, K);
}

int dln_network_flow_begin(dln_network *net)
{
    if (!net->flow) {
        struct net_flow *f = calloc(1, sizeof *f);
        if (!f) return dln_fail(dln_backend_error(net->be), DLN_ENOMEM, "out of host memory");
        net->flow = f;
        int H = net->s.depth, rc = DLN_OK;
        for (int s = 0; !rc && s < 7; s++) rc = dln_net_alloc_set(net, &f->K[s], 0, H - 1, 0, net->count);
        if (!rc) rc = dln_net_alloc_set(net, &f->W0, 0, H - 1, 0, net->count);
        if (!rc) rc = dln_net_alloc_set(net, &f->E, 0, H - 1, 0, net->count);
        if (!rc) rc = dln_mat_alloc(net->be, &f->h, net->count, 1, DLN_F64);
        if (!rc) rc = dln_mat_alloc(net->be, &f->keep, net->count, 1, DLN_F64);
        if (!rc) rc = dln_mat_alloc(net->be, &f->back, net->count, 1, DLN_F64);
        if (!rc) rc = dln_mat_alloc(net->be, &f->norms, 3 * net->count, 1, DLN_F64);
        if (rc) {
            dln_net_flow_free(net);
            return rc;
        }
    }
    return stage_gradient(net, net->flow->K[0], 1); /* K_1 = -grad L(W); the loss measured */
}

int dln_network_flow_try(dln_network *net, const double *h, double *err_sq, double *w0_sq, double *w1_sq)
{
    struct net_flow *f = net->flow;
    int n = net->active, H = net->s.depth;
    if (!f) return dln_fail(dln_backend_error(net->be), DLN_ERUNTIME, "flow_try before flow_begin");
    DLN_TRY(dln_upload(net->be, &f->h, h, net->count));
    DLN_TRY(set_axpby(net, 1.0, NULL, net->W, 0.0, NULL, f->W0)); /* W0 = W */
    for (int s = 1; s < 7; s++) {
        // W = W0 + h_b sum_{j < s} a_sj K_j; K_s = -grad L(W) (stage 7: W = W1, measured)
        DLN_TRY(set_axpby(net, 1.0, NULL, f->W0, 0.0, NULL, net->W));
        for (int j = 0; j < s; j++)
            if (A[s][j] != 0.0) DLN_TRY(set_axpby(net, A[s][j], &f->h, f->K[j], 1.0, NULL, net->W));
        DLN_TRY(stage_gradient(net, f->K[s], s == 6));
    }
    // E = h_b sum_j e_j K_j; its and the weights' squared norms per member
    DLN_TRY(set_axpby(net, E[0], &f->h, f->K[0], 0.0, NULL, f->E));
    for (int j = 2; j < 7; j++) DLN_TRY(set_axpby(net, E[j], &f->h, f->K[j], 1.0, NULL, f->E));
    const net_mat *sets[3] = {f->E, f->W0, net->W};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < H; i++)
            DLN_TRY(dln_sumsq_batched(net->be, &sets[k][i].m0, sets[k][i].stride, n, &f->norms, k * net->count, i > 0));
    double *v = malloc(sizeof(double) * 3 * (size_t)net->count);
    if (!v) return dln_fail(dln_backend_error(net->be), DLN_ENOMEM, "out of host memory");
    int rc = dln_download(net->be, &f->norms, v, 3 * net->count);
    for (int b = 0; !rc && b < n; b++)
        err_sq[b] = v[b], w0_sq[b] = v[net->count + b], w1_sq[b] = v[2 * net->count + b];
    free(v);
    return rc;
}

int dln_network_flow_settle(dln_network *net, const int *accept)
{
    // accepted: W = W1, K_1 = K_7; rejected: W = W0 (K_1 unchanged), with keep_b / back_b in {1, 0}
    struct net_flow *f = net->flow;
    double *c = malloc(sizeof(double) * 2 * (size_t)net->count);
    if (!c) return dln_fail(dln_backend_error(net->be), DLN_ENOMEM, "out of host memory");
    for (int b = 0; b < net->count; b++) c[b] = b < net->active && accept[b], c[net->count + b] = 1.0 - c[b];
    int rc = dln_upload(net->be, &f->keep, c, net->count);
    if (!rc) rc = dln_upload(net->be, &f->back, c + net->count, net->count);
    free(c);
    DLN_TRY(rc);
    DLN_TRY(set_axpby(net, 1.0, &f->back, f->W0, 1.0, &f->keep, net->W)); /* exact: the coefficients are 0 and 1 */
    DLN_TRY(set_axpby(net, 1.0, &f->keep, f->K[6], 1.0, &f->back, f->K[0]));
    return set_axpby(net, -1.0, NULL, f->K[0], 0.0, NULL, net->G); /* the gradient at W, for reading */
}
