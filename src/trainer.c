/* trainer.c: full-batch gradient descent on the deep linear network, plain or with
 * heavy-ball momentum (V = mu V + G, W = W - lr V), optionally with a backtracking
 * (Armijo) line search. Each step is exactly one update. The loss and gradient norm
 * are reduced into backend slots every step and read back only at check and log
 * steps; where the backend can capture graphs, one step is captured once and
 * replayed. The data are the exact compression (C, M) of background.md when that has
 * fewer columns than X, unless the full data are asked for: both follow the same
 * trajectory. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "network.h"

#define SLOT_LOSS 0 /* ||residual||^2 at the current weights */
#define SLOT_GRAD 1 /* sum_i ||G_i||^2 at the current weights */
#define BLOWUP 1e6  /* loss above BLOWUP * max(initial loss, 1/2 ||Y||^2) is divergence */
#define MAX_HALVINGS 60

void dln_train_opts_default(dln_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->lr = 0.0;
    o->steps = 10000;
    o->tol = 1e-6;
    o->check_every = 1;
    o->log_every = 100;
    o->data_mode = DLN_DATA_AUTO;
    o->dtype = DLN_F64;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Everything the loop needs to turn slot values into reported numbers. */
typedef struct {
    const dln_shallow *sh;
    int compressed;
} loss_view;

/* loss = 1/2 ||E||^2 (+ the constant part of Y when compressed); gap without cancellation */
static void loss_from_sumsq(const loss_view *v, double sumsq, double *loss, double *gap)
{
    if (v->compressed) {
        *loss = 0.5 * sumsq + v->sh->lstsq;
        *gap = 0.5 * sumsq - v->sh->tail;
    } else {
        *loss = 0.5 * sumsq;
        *gap = *loss - v->sh->optimum;
    }
}

/* One update from (W_t, G_t) to W_{t+1}, then the forward and backward at W_{t+1}; the
 * loss and gradient norm are reduced into their slots only when `measure` is set. */
static int step_ops(dln_net *net, double lr, double mu, int measure)
{
    const dln_backend_ops *op = net->be->ops;
    for (int i = 0; i < net->s->depth; i++) {
        if (net->V) {
            DLN_TRY(op->axpby(net->be, 1.0, &net->G[i], mu, &net->V[i]));
            DLN_TRY(op->axpby(net->be, -lr, &net->V[i], 1.0, &net->W[i]));
        } else {
            DLN_TRY(op->axpby(net->be, -lr, &net->G[i], 1.0, &net->W[i]));
        }
    }
    DLN_TRY(dln_net_forward(net, net->W, measure ? SLOT_LOSS : -1));
    return dln_net_backward(net, net->W, measure ? SLOT_GRAD : -1);
}

/* Backtracking: try W - lr G from lr = 2 * (last accepted), halving until
 * 1/2||E'||^2 <= 1/2||E||^2 - lr/2 ||G||^2. On success W holds the update and the
 * forward/backward at it are done. */
static int line_search_step(dln_net *net, double sumsq, double gsq, double *lr, int *ok)
{
    const dln_backend_ops *op = net->be->ops;
    double try_lr = 2.0 * *lr;
    *ok = 0;
    for (int h = 0; h < MAX_HALVINGS; h++, try_lr *= 0.5) {
        for (int i = 0; i < net->s->depth; i++) {
            DLN_TRY(op->copy(net->be, &net->T[i], &net->W[i]));
            DLN_TRY(op->axpby(net->be, -try_lr, &net->G[i], 1.0, &net->T[i]));
        }
        DLN_TRY(dln_net_forward(net, net->T, SLOT_LOSS));
        double trial;
        DLN_TRY(op->read_slots(net->be, &trial, 1));
        if (isfinite(trial) && 0.5 * trial <= 0.5 * sumsq - 0.5 * try_lr * gsq) {
            dln_mat *t = net->W;
            net->W = net->T;
            net->T = t;
            *lr = try_lr;
            *ok = 1;
            return dln_net_backward(net, net->W, SLOT_GRAD);
        }
    }
    return DLN_OK;
}

static void log_num(FILE *f, const char *key, double v, int comma)
{
    if (isfinite(v)) fprintf(f, "\"%s\":%.17g%s", key, v, comma ? "," : "");
    else fprintf(f, "\"%s\":null%s", key, comma ? "," : "");
}

static void log_line(FILE *f, long t, double loss, double gap, double rel, double gnorm, double lr, double sec)
{
    fprintf(f, "{\"step\":%ld,", t);
    log_num(f, "loss", loss, 1);
    log_num(f, "gap", gap, 1);
    log_num(f, "rel_gap", rel, 1);
    log_num(f, "grad_norm", gnorm, 1);
    log_num(f, "lr", lr, 1);
    log_num(f, "seconds", sec, 0);
    fputs("}\n", f);
}

/* Steps at which the loss is read: every check_every, every log_every with a log, the
 * last one, and every step of a line search. Only the update into such a step reduces
 * the loss and gradient norm. */
static int is_check(const dln_train_opts *o, long t)
{
    return t % o->check_every == 0 || (o->log && t % o->log_every == 0) || t >= o->steps || o->line_search;
}

/* One plain or momentum update from step t to t + 1: replays the graph for a measured or
 * an unmeasured step where the backend has graphs (each captured on first use). */
static int update(dln_net *net, const dln_train_opts *o, double lr, int measure, dln_graph **graphs)
{
    const dln_backend_ops *op = net->be->ops;
    if (!op->capture_begin) return step_ops(net, lr, o->momentum, measure);
    if (!graphs[measure]) {
        DLN_TRY(op->capture_begin(net->be));
        int rc_ops = step_ops(net, lr, o->momentum, measure);
        DLN_TRY(op->capture_end(net->be, &graphs[measure]));
        DLN_TRY(rc_ops);
    }
    return op->graph_launch(net->be, graphs[measure]);
}

static int train_loop(dln_net *net, const loss_view *lv, const dln_train_opts *o, double lr,
                      dln_train_result *res)
{
    dln_backend *be = net->be;
    const dln_backend_ops *op = be->ops;
    const dln_shallow *sh = lv->sh;
    dln_graph *graphs[2] = {NULL, NULL}; /* unmeasured, measured step */
    double t0 = now_seconds(), last_progress = 0.0;
    double slots[2], loss = NAN, gap = NAN, rel = NAN, blowup = INFINITY;
    long t = 0;
    int rc = DLN_OK;

    rc = dln_net_forward(net, net->W, SLOT_LOSS);
    if (!rc) rc = dln_net_backward(net, net->W, SLOT_GRAD);
    while (!rc) {
        if (is_check(o, t)) {
            if ((rc = op->read_slots(be, slots, 2))) break;
            loss_from_sumsq(lv, slots[0], &loss, &gap);
            rel = gap / sh->y_half;
            res->grad_norm = sqrt(slots[1]);
            if (t == 0) {
                res->loss_init = loss;
                blowup = BLOWUP * (loss > sh->y_half ? loss : sh->y_half);
            }
            double now = now_seconds(), sec = now - t0;
            int diverged = !isfinite(loss) || loss > blowup;
            int stop = diverged || (o->tol > 0 && rel <= o->tol) || t >= o->steps;
            /* the trace always ends with the final state */
            if (o->log && (t % o->log_every == 0 || stop)) log_line(o->log, t, loss, gap, rel, res->grad_norm, lr, sec);
            if (o->progress && now - last_progress > 0.25) {
                fprintf(stderr, "\r\033[Kdln: step %ld/%ld  loss %.6e  rel_gap %.3e  %.1fs", t, o->steps, loss,
                        rel, sec);
                last_progress = now;
            }
            if (diverged) {
                res->diverged = 1;
                snprintf(res->note, sizeof res->note,
                         "diverged at step %ld (loss %g): lower --lr (it was %g), or use --line-search", t, loss,
                         lr);
                break;
            }
            if (o->tol > 0 && rel <= o->tol) {
                res->converged = 1;
                snprintf(res->note, sizeof res->note, "rel_gap %.3g <= tol %g", rel, o->tol);
                break;
            }
        }
        if (t >= o->steps) {
            snprintf(res->note, sizeof res->note, "reached the step limit (%ld)", o->steps);
            break;
        }
        if (o->line_search) {
            int ok;
            rc = line_search_step(net, slots[0], slots[1], &lr, &ok);
            if (!rc && !ok) {
                snprintf(res->note, sizeof res->note,
                         "line search found no decrease at step %ld: the gradient is at rounding level", t);
                break;
            }
        } else {
            rc = update(net, o, lr, is_check(o, t + 1), graphs);
        }
        t++;
    }
    if (o->progress) fprintf(stderr, "\r\033[K");
    for (int g = 0; g < 2; g++)
        if (graphs[g]) op->graph_destroy(be, graphs[g]);
    res->seconds = now_seconds() - t0;
    res->steps = t;
    res->loss = loss;
    res->gap = gap;
    res->rel_gap = rel;
    res->lr = lr;
    return rc;
}

int dln_train(dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s, double **W,
              const dln_train_opts *o, dln_train_result *res, dln_error *err)
{
    memset(res, 0, sizeof *res);
    res->optimum = sh->optimum;
    if (s->dims[0] != d->dx || s->dims[s->depth] != d->dy)
        return dln_fail(err, DLN_EINPUT, "the network maps %d -> %d but the data are %d -> %d", s->dims[0],
                        s->dims[s->depth], d->dx, d->dy);
    if (o->line_search && o->momentum != 0.0)
        return dln_fail(err, DLN_EINPUT, "--line-search works with plain gradient descent (--momentum 0)");
    if (o->check_every < 1 || o->log_every < 1 || o->steps < 0)
        return dln_fail(err, DLN_EINPUT, "check and log intervals must be >= 1 and steps >= 0");
    int compressed = o->data_mode == DLN_DATA_COMPRESSED || (o->data_mode == DLN_DATA_AUTO && sh->r < d->m);
    if (compressed && !sh->C)
        return dln_fail(err, DLN_EINPUT, "compressed data requested but the solver did not keep them");
    res->compressed = compressed;
    int n = compressed ? sh->r : d->m;
    double lr = o->lr > 0 ? o->lr : dln_auto_lr(s, W, sh);
    if (!(lr > 0) || !isfinite(lr))
        return dln_fail(err, DLN_EINPUT, "could not derive a step size from the data: give --lr");

    size_t need = dln_net_bytes(s, n, o->dtype, o->momentum != 0.0, o->line_search), free_b = 0, total_b = 0;
    DLN_TRY(be->ops->mem_info(be, &free_b, &total_b));
    if (total_b && need > free_b)
        return dln_fail(err, DLN_EINPUT, "the network needs %zu bytes on the %s backend but only %zu are free", need,
                        be->ops->name, free_b);

    dln_net net;
    DLN_TRY(dln_net_create(be, s, n, o->dtype, o->momentum != 0.0, o->line_search, &net));
    int rc = dln_net_set_data(&net, compressed ? sh->C : d->X, compressed ? sh->M : d->Y);
    if (!rc) rc = dln_net_set_weights(&net, W);
    loss_view lv = {sh, compressed};
    if (!rc) rc = train_loop(&net, &lv, o, lr, res);
    if (!rc) rc = dln_net_get_weights(&net, W);
    dln_net_destroy(&net);
    res->optimum = sh->optimum;
    return rc;
}
