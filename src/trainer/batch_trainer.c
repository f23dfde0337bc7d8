/* batch_trainer.c: count runs trained together (dln_train_batch): one dln_batch on the
 * shared data, each member with its own weights, step size (given or automatic),
 * momentum, tolerance, step limit and observer, and the same checks, stopping rules and
 * verdict as it would have alone (run.c). A stopped member is frozen (step size 0: its
 * weights stay those of its stopping step); the batch ends when every member has stopped.
 * The members share the data mode, dtype and check schedule; the line search and the
 * observables are for single runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/clock.h"
#include "trainer/trainer_internal.h"

/* What every member must share with the first. */
static int check_batch(int count, const dln_train_opts *o, const dln_run *r, dln_error *err)
{
    for (int b = 0; b < count; b++) {
        if (o[b].line_search || o[b].observe)
            return dln_fail(err, DLN_EINPUT, "member %d: the line search and the observables are for single runs", b);
        if (o[b].data_mode != o[0].data_mode || o[b].dtype != o[0].dtype || r[b].check_every != r[0].check_every ||
            o[b].observe_every != o[0].observe_every)
            return dln_fail(err, DLN_EINPUT, "member %d: the members of a batch share the data mode, precision and "
                            "check schedule", b);
    }
    return DLN_OK;
}

/* A member's sharpness work runs on a single network holding its weights (the batch's
 * copy), so its Hessian-vector products are those of its single run. */
typedef struct {
    dln_network *net; /* NULL when no member tracks its sharpness */
    double **W;       /* host copy of a member's weights */
} tracker_net;

static int track(dln_batch *bt, tracker_net *tn, dln_run *r, int b, long t, int rose, double *lr, dln_error *err)
{
    if (!dln_tracker_due(&r->tracker, t)) return DLN_OK;
    DLN_TRY(dln_batch_get_weights(bt, b, tn->W));
    DLN_TRY(dln_network_set_weights(tn->net, tn->W));
    return dln_tracker_step(&r->tracker, tn->net, t, rose, lr, err);
}

/* The loop: every member checked at its own checked steps, its sharpness tracked, one
 * batched update. */
static int batch_loop(dln_batch *bt, dln_run *r, double *lr, const double *mu, int count, tracker_net *tn,
                      dln_error *err)
{
    dln_network_stats *st = malloc(sizeof(dln_network_stats) * (size_t)count);
    double *rate = malloc(sizeof(double) * (size_t)count), t0 = dln_clock_seconds();
    int rc = !st || !rate ? DLN_ENOMEM : dln_batch_evaluate(bt), running = count;
    long t = 0, *stop_at = calloc((size_t)count, sizeof(long));
    if (!stop_at) rc = DLN_ENOMEM;
    for (int b = 0; !rc && b < count; b++) rate[b] = lr[b];
    while (!rc && running > 0) {
        int any_check = 0, read = 0, frozen = 0;
        for (int b = 0; b < count; b++) any_check |= !r[b].stopped && dln_run_is_check(&r[b], t);
        if (any_check) {
            if ((rc = dln_batch_read(bt, st))) break;
            read = 1;
        }
        for (int b = 0; read && b < count; b++) {
            if (r[b].stopped || !dln_run_is_check(&r[b], t)) continue;
            if ((rc = dln_run_check(&r[b], t, &st[b], lr[b], dln_clock_seconds() - t0, NULL, NULL, NULL))) break;
            if (r[b].stopped) stop_at[b] = t, rate[b] = 0.0, running--, frozen = 1;
        }
        if (rc || running == 0) break;
        for (int b = 0; tn->net && b < count; b++) {
            if (r[b].stopped) continue;
            double before = lr[b];
            int rose = read && dln_run_is_check(&r[b], t) && r[b].rose;
            if ((rc = track(bt, tn, &r[b], b, t, rose, &lr[b], err))) break;
            if (lr[b] != before) rate[b] = lr[b], frozen = 1; /* new rates to upload */
        }
        if (rc) break;
        if (frozen && (rc = dln_batch_set_rates(bt, rate, mu))) break;
        int measure = 0;
        for (int b = 0; b < count; b++) measure |= !r[b].stopped && dln_run_is_check(&r[b], t + 1);
        rc = dln_batch_step(bt, measure);
        t++;
    }
    double sec = dln_clock_seconds() - t0;
    for (int b = 0; b < count; b++) {
        long end = r[b].stopped ? stop_at[b] : t;
        if (!rc && tn->net && r[b].tracker.v && r[b].tracker.measured_at != end && !r[b].res->diverged) {
            /* the final weights' lambda_max */
            rc = dln_batch_get_weights(bt, b, tn->W);
            if (!rc) rc = dln_network_set_weights(tn->net, tn->W);
            if (!rc) rc = dln_tracker_final(&r[b].tracker, tn->net, end, err);
        }
        dln_run_finish(&r[b], end, lr[b], sec, !rc);
    }
    free(st), free(rate), free(stop_at);
    return rc;
}

int dln_train_batch(dln_backend *be, const dln_data *d, const dln_shallow *sh, const dln_shape *s, int count,
                    double ***W, const dln_train_opts *o, dln_train_result *res, dln_error *err)
{
    if (count < 1) return dln_fail(err, DLN_EINPUT, "a batch needs at least one member");
    dln_run *r = calloc((size_t)count, sizeof(dln_run));
    double *lr = malloc(sizeof(double) * (size_t)count), *mu = malloc(sizeof(double) * (size_t)count);
    dln_batch *bt = NULL;
    int rc = !r || !lr || !mu ? dln_fail(err, DLN_ENOMEM, "out of host memory for a batch of %d", count) : DLN_OK, momentum = 0;
    for (int b = 0; !rc && b < count; b++) {
        rc = dln_run_begin(&r[b], be, d, sh, s, W[b], &o[b], &res[b], err);
        if (rc) dln_error_prefix(err, "a batch member: ");
        mu[b] = o[b].momentum;
        momentum |= mu[b] != 0.0;
    }
    if (!rc) rc = check_batch(count, o, r, err);
    int n = !rc && r[0].compressed ? sh->r : d->m;
    size_t need = rc ? 0 : dln_batch_bytes(s, n, o[0].dtype, count, momentum), free_b = 0, total_b = 0;
    if (!rc) rc = dln_backend_mem_info(be, &free_b, &total_b);
    if (!rc && total_b && need > free_b)
        rc = dln_fail(err, DLN_EINPUT, "a batch of %d needs %zu bytes on the %s backend but only %zu are free", count,
                      need, dln_backend_name(be), free_b);
    if (!rc) rc = dln_batch_create(be, s, n, o[0].dtype, count, momentum, &bt);
    const double *Xd = !rc && r[0].compressed ? sh->C : d->X, *Yd = !rc && r[0].compressed ? sh->M : d->Y;
    if (!rc) rc = dln_batch_set_data(bt, Xd, Yd);
    for (int b = 0; !rc && b < count; b++) rc = dln_batch_set_weights(bt, b, W[b]);
    /* the sharpness rule's start, on a single network per member as alone */
    tracker_net tn = {NULL, NULL};
    int tracking = 0;
    for (int b = 0; b < count; b++) tracking |= o[b].lr <= 0 && o[b].lr_rule == DLN_LR_SHARPNESS;
    if (!rc && tracking) rc = dln_network_create(be, s, n, o[0].dtype, 0, &tn.net);
    if (!rc && tracking) rc = dln_network_set_data(tn.net, Xd, Yd);
    if (!rc && tracking) rc = dln_weights_alloc(s, &tn.W, err);
    for (int b = 0; !rc && b < count; b++) {
        if (tn.net) rc = dln_network_set_weights(tn.net, W[b]);
        if (!rc) rc = dln_run_start(&r[b], tn.net, W[b], err);
        lr[b] = res[b].lr;
    }
    if (!rc) rc = dln_batch_set_rates(bt, lr, momentum ? mu : NULL);
    if (!rc) rc = batch_loop(bt, r, lr, momentum ? mu : NULL, count, &tn, err);
    if (rc == DLN_ENOMEM && err->code == DLN_OK) dln_fail(err, DLN_ENOMEM, "out of host memory in a batch");
    for (int b = 0; !rc && b < count; b++) rc = dln_batch_get_weights(bt, b, W[b]);
    dln_batch_destroy(bt);
    dln_network_destroy(tn.net);
    dln_weights_free(s->depth, tn.W);
    free(r), free(lr), free(mu);
    return rc;
}
