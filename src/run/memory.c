/* memory.c: the one estimate of what a run allocates (dln/memory.h), phase by phase, and
 * the check of it against what this process may use. The phases follow the order in
 * which `dln train` allocates, each holding what earlier phases keep:
 *   data      X and Y, with the teacher's scratch (synthetic) or the reader's (files);
 *   weights   + the host weights, with the initialiser's scratch;
 *   solver    + the shallow solver's matrices and SVD workspace (backend), its results (host);
 *   training  + the network's buffers (backend), the compressed pair kept on the host, the
 *               step-size rule's vectors and the balancedness scratch; for a batch
 *               (p->batch >= 1) the batch's buffers and every member's weights instead.
 * On a backend with device memory the backend parts are a separate peak. */
#include <math.h>
#include <string.h>

#include "dln/diagnostics.h"
#include "dln/memory.h"
#include "dln/solver.h"

void dln_memory_estimate(const dln_run_plan *p, int backend_is_host, dln_mem_estimate *out)
{
    double dx = p->dx, dy = p->dy, m = p->m;
    double data = 8.0 * (dx + dy) * m;
    double reader = p->data_from_files ? dln_npy_scratch_bytes(p->dx > p->dy ? p->dx : p->dy, p->m) : 0;
    double synth = p->synthetic ? dln_synth_scratch_bytes(p->dx, p->dy, p->teacher_rank) : 0;
    double solver_peak, solver_host, kept;
    dln_shallow_bytes((dln_solver_route)p->solver_route, p->dx, p->dy, p->m, p->shape != NULL, backend_is_host, &solver_peak, &solver_host, &kept);

    double weights = 0, init = 0, net = 0, train_host = 0, thread_bytes = 0;
    if (p->shape) {
        const dln_shape *s = p->shape;
        dln_train_opts def;
        dln_train_opts_default(&def);
        const dln_train_opts *t = p->train ? p->train : &def;
        weights = 8.0 * (double)dln_shape_params(s);
        init = p->init >= 0 ? dln_init_scratch_bytes(s, (dln_init_kind)p->init) : dln_npy_scratch_bytes(1, 1);
        /* columns trained on: m (full data), else r <= min(dx, m) (the compression) */
        int n = t->data_mode == DLN_DATA_FULL ? p->m : (p->dx < p->m ? p->dx : p->m);
        unsigned buffers = (t->momentum != 0.0 ? DLN_NET_MOMENTUM : 0) | (t->line_search ? DLN_NET_TRIAL : 0);
        if (p->batch >= 1) {
            /* dln_train_batch: the members' host weights, the batch's buffers, and where a
             * member's step size is the sharpness rule's, a network for the Hessian-vector
             * products and a warm-start vector per member shaped as the weights. Each thread
             * past the first (dln_batch_threads_used, on the same column bound as the trainer)
             * adds its stack and OpenBLAS buffer and, with the rule, its own network, that
             * network's product buffers (four activation-shaped and two weight-shaped sets:
             * at most twice the network) and its Lanczos basis (SHARPNESS_ITERS + 1 = 21
             * weight-shaped vectors; 24 counted) */
            int tracking = t->lr <= 0 && t->lr_rule == DLN_LR_SHARPNESS;
            int threads = dln_network_threads_used(s, n, p->batch_threads);
            dln_network_config one = {.n = n, .count = 1, .dtype = t->dtype};
            dln_network_config all = {.n = n, .count = p->batch, .dtype = t->dtype,
                                      .buffers = t->momentum != 0.0 ? DLN_NET_MOMENTUM : 0};
            double one_net = (double)dln_network_bytes(s, &one);
            weights *= (double)p->batch * (tracking ? 2 : 1);
            net = (double)dln_network_bytes(s, &all) + (tracking ? one_net : 0);
            thread_bytes = (threads - 1) * (DLN_MEM_THREAD_BYTES +
                                            (tracking ? 3.0 * one_net + 24.0 * 8.0 * (double)dln_shape_params(s) : 0));
        } else {
            dln_network_config c = {.n = n, .count = 1, .dtype = t->dtype, .buffers = buffers};
            net = (double)dln_network_bytes(s, &c);
            /* the threads that compute the pieces of a single run's long products (gemm_cpu.c) */
            thread_bytes = (p->batch_threads > 1 ? p->batch_threads - 1 : 0) * (DLN_MEM_THREAD_BYTES + DLN_MEM_ARENA_BYTES);
        }
        double maxd = 0;
        for (int j = 0; j <= s->depth; j++) maxd = fmax(maxd, s->dims[j]);
        double lr = 8.0 * (3 * maxd + s->depth); /* power iterations and their logs */
        double bal = dln_balancedness_cheap(s) ? dln_balancedness_bytes(s) : 0;
        train_host = kept + fmax(lr, bal) + thread_bytes;
    }
    /* on the host: the solver's peak (backend included when it is host memory), or its host part */
    double solver = backend_is_host ? solver_peak : solver_host, be_net = backend_is_host ? net : 0;
    struct {
        const char *name;
        double host;
    } phase[4] = {
        {"data", data + fmax(reader, synth)},
        {"initial weights", data + weights + init},
        {"solver", data + weights + solver},
        {"training", data + weights + train_host + be_net},
    };
    memset(out, 0, sizeof *out);
    out->phase = phase[0].name;
    for (int i = 0; i < 4; i++) /* without a network, the last two phases are data + solver */
        if (phase[i].host > out->host) out->host = phase[i].host, out->phase = phase[i].name;
    out->host += DLN_MEM_SLACK;
    out->backend = backend_is_host ? 0 : fmax(solver_peak, net);
}

static double gib(double b) { return b / 1073741824.0; }

int dln_memory_check(const dln_run_plan *p, dln_backend *be, dln_mem_estimate *out, dln_error *err)
{
    int is_host = !be || !dln_backend_supports(be, DLN_CAP_DEVICE_MEMORY);
    dln_mem_estimate est;
    dln_memory_estimate(p, is_host, &est);

    dln_mem_limits lim;
    dln_memory_limits(&lim);
    est.resident = lim.resident;
    if (out) *out = est;
    double ram = fmin(lim.physical, lim.cgroup);
    const char *which = lim.cgroup < lim.physical ? "the cgroup's memory limit" : "physical memory";
    if (lim.resident + est.host > ram)
        return dln_fail(err, DLN_EINPUT, "the run needs about %.2f GiB of host memory (%.2f GiB at its peak, in the %s "
                        "phase, beside %.2f GiB already in use) but %s is %.2f GiB",
                        gib(lim.resident + est.host), gib(est.host), est.phase, gib(lim.resident), which, gib(ram));
    if (lim.mapped + est.host > lim.address_space)
        return dln_fail(err, DLN_EINPUT, "the run needs about %.2f GiB of address space (%.2f GiB at its peak, in the %s "
                        "phase, beside %.2f GiB already mapped) but RLIMIT_AS (ulimit -v) is %.2f GiB",
                        gib(lim.mapped + est.host), gib(est.host), est.phase, gib(lim.mapped), gib(lim.address_space));
    size_t free_b = 0, total_b = 0;
    if (!is_host) DLN_TRY(dln_backend_mem_info(be, &free_b, &total_b));
    if (!is_host && total_b && est.backend > (double)free_b)
        return dln_fail(err, DLN_EINPUT, "the run needs about %.2f GiB on the %s backend but only %.2f GiB are free",
                        gib(est.backend), dln_backend_name(be), gib((double)free_b));
    return DLN_OK;
}
