/* converge.c: steps and wall time to rel_gap <= eps for several eps, training on the full
 * data (X, Y: DLN_DATA_FULL) and on the exact compression (C, M: DLN_DATA_COMPRESSED)
 * through dln_train, on a synthetic problem with m >> dx.
 *
 * For each mode: one run observed at every step (an observer recording each step's loss,
 * rel_gap and seconds) gives the first step under each eps; then, per eps, --reps
 * unobserved runs with tol = eps give the wall time (dln_train's own training-loop
 * seconds, and the whole call). Before anything
 * is reported the two modes must agree: the same final loss (relative 1e-9 in fp64, 1e-4
 * in fp32) at the last step both observed runs reached, and the full run's final loss must
 * match the host reference loss (src/oracle) of its final weights. */
#include "bench_common.h"

#define MAXEPS 8

typedef struct {
    long n, cap;
    long *step;
    double *loss, *rel, *sec;
} trace;

static void trace_free(trace *t)
{
    free(t->step), free(t->loss), free(t->rel), free(t->sec);
    memset(t, 0, sizeof *t);
}

/* The observer of the recorded runs: appends every observation. */
static int record(void *ctx, const dln_observation *obs)
{
    trace *t = ctx;
    if (obs->final && t->n > 0 && t->step[t->n - 1] == obs->step) return 0; /* already recorded */
    if (t->n == t->cap) {
        long cap = t->cap ? 2 * t->cap : 1024;
        long *st = realloc(t->step, sizeof(long) * (size_t)cap);
        if (st) t->step = st;
        double *a = realloc(t->loss, sizeof(double) * (size_t)cap);
        if (a) t->loss = a;
        double *b = realloc(t->rel, sizeof(double) * (size_t)cap);
        if (b) t->rel = b;
        double *c = realloc(t->sec, sizeof(double) * (size_t)cap);
        if (c) t->sec = c;
        if (!st || !a || !b || !c) return 1; /* stops the run; the trace stays short */
        t->cap = cap;
    }
    t->step[t->n] = obs->step;
    t->loss[t->n] = obs->loss;
    t->rel[t->n] = obs->rel_gap;
    t->sec[t->n] = obs->seconds;
    t->n++;
    return 0;
}

typedef struct {
    const char *name;
    dln_data_mode mode;
    trace tr;
    dln_train_result logged;
    long steps_to[MAXEPS];  /* from the logged run; -1: not reached */
    double logged_s[MAXEPS];
    long timed_steps[MAXEPS];
    bench_timing loop[MAXEPS], call[MAXEPS];
} mode_run;

typedef struct {
    dln_backend *be;
    const bench_problem *pb;
    const dln_shape *s;
    double *const *W0;
    double **W;
    dln_train_opts opts;
    dln_train_result res;
} train_ctx;

static int run_train(void *p)
{
    train_ctx *c = p;
    for (int i = 0; i < c->s->depth; i++)
        memcpy(c->W[i], c->W0[i], sizeof(double) * (size_t)c->s->dims[i + 1] * c->s->dims[i]);
    return dln_train(c->be, &c->pb->fit, &c->pb->ref, c->s, 1, &c->W, &c->opts, &c->res, dln_backend_error(c->be));
}

static void usage(void)
{
    fputs("usage: converge [options]\n\n"
          "Steps and wall time to rel_gap <= eps, full data against the exact compression,\n"
          "after checking that both reach the same loss.\n\n"
          "Problem (synthetic: X ~ N(0,1), Y = T X + noise N(0,1), T of rank --teacher-rank):\n"
          "  --dx N --dy N --m N           sizes (default 64, 64, 4096)\n"
          "  --teacher-rank N --noise S    (default 8, 0.1)\n"
          "  --depth H --width W           network: H weight matrices, hidden width W (default 4, 8)\n"
          "  --init NAME                   gaussian, orthogonal, identity, balanced (default orthogonal)\n"
          "  --lr X                        step size; 0 means dln_auto_lr (default 0)\n"
          "  --eps LIST                    targets (default 1e-2,1e-4,1e-6)\n"
          "  --steps N                     step limit of every run (default 100000)\n"
          "  --check-every N               dln_train's loss-read interval in the timed runs\n"
          "                                (default: the library's, 1 on cpu, 50 on cuda)\n\n",
          stdout);
    bench_common_help(stdout);
}

static int cmp_desc(const void *a, const void *b) { return bench_cmp_double(b, a); }

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o);
    o.reps = 3;
    o.warmup = 1;
    int dx = 64, dy = 64, m = 4096, tr = 8, H = 4, width = 8, neps = 3, check_every = 0;
    long max_steps = 100000;
    double noise = 0.1, lr = 0, eps[MAXEPS] = {1e-2, 1e-4, 1e-6};
    dln_init_kind init = DLN_INIT_ORTHOGONAL;
    const bench_flag_spec specs[] = {
        {"--dx", BF_INT, &dx, 1, DLN_MAX_DIM, 0, NULL},
        {"--dy", BF_INT, &dy, 1, DLN_MAX_DIM, 0, NULL},
        {"--m", BF_INT, &m, 1, DLN_MAX_DIM, 0, NULL},
        {"--teacher-rank", BF_INT, &tr, 1, DLN_MAX_DIM, 0, NULL},
        {"--depth", BF_INT, &H, 1, DLN_MAX_DEPTH, 0, NULL},
        {"--width", BF_INT, &width, 1, DLN_MAX_DIM, 0, NULL},
        {"--check-every", BF_INT, &check_every, 1, 1 << 30, 0, NULL},
        {"--steps", BF_LONG, &max_steps, 1, 1e9, 0, NULL},
        {"--noise", BF_DOUBLE, &noise, 0, 1e100, 0, NULL},
        {"--lr", BF_DOUBLE, &lr, 0, 1e300, 0, NULL},
        {"--eps", BF_DOUBLES, eps, 1e-300, 1e300, MAXEPS, &neps},
        {"--init", BF_INIT, &init, 0, 0, 0, NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL},
    };
    int parsed = bench_parse_args(argc, argv, specs, &o, usage);
    if (parsed) return parsed == 1 ? 0 : 2;
    qsort(eps, (size_t)neps, sizeof(double), cmp_desc); /* the tightest last */
    dln_error err;
    dln_backend *be = NULL;
    int rc = bench_backend("converge", &o, &err, &be);
    if (rc) return rc;
    dln_json j;
    bench_json_begin(&j, "converge", be, &o, argc, argv);
    dln_synth_opts so = {dx, dy, m, tr, noise, o.seed, DLN_LABELS_VALUES};
    dln_data d = {0, 0, 0, NULL, NULL};
    dln_shape s = {0, NULL};
    dln_shallow sh;
    bench_problem pb = {0};
    memset(&sh, 0, sizeof sh);
    double **W0 = NULL, **W = NULL, solve_s = 0;
    int *hidden = malloc(sizeof(int) * (size_t)(H > 1 ? H - 1 : 1));
    mode_run runs[2] = {{.name = "full", .mode = DLN_DATA_FULL}, {.name = "compressed", .mode = DLN_DATA_COMPRESSED}};
    for (int i = 0; hidden && i < H - 1; i++) hidden[i] = width;
    double t0 = dln_clock_seconds();
    rc = !hidden || dln_synth_make(&so, &d, &err) || dln_shape_make(H, dx, dy, hidden, H - 1, &s, &err) ||
         dln_init_weights(&s, init, dln_init_default_scale(init), o.seed, &W0, &err) ||
         dln_init_weights(&s, init, dln_init_default_scale(init), o.seed, &W, &err) ||
         (t0 = dln_clock_seconds(), dln_shallow_solve(be, &d, dln_shape_narrowest(&s), 0, 1, &sh, &err));
    solve_s = dln_clock_seconds() - t0;
    if (!rc) rc = bench_problem_make(&sh, &d, &pb, &err);
    if (rc) {
        fprintf(stderr, "converge: set-up: %s\n", err.msg);
        goto out;
    }
    printf("converge: dx %d dy %d m %d (rank %d compressed columns), depth %d width %d, %s init; L* %.10g, "
           "solve %.3g s\n",
           dx, dy, m, sh.r, H, width, dln_init_name(init), sh.optimum, solve_s);
    /* recorded runs: first step under each eps */
    for (int k = 0; k < 2 && !rc; k++) {
        mode_run *mr = &runs[k];
        train_ctx c;
        memset(&c, 0, sizeof c);
        c.be = be, c.pb = &pb, c.s = &s, c.W0 = W0, c.W = W;
        dln_train_opts_default(&c.opts);
        c.opts.lr = lr, c.opts.steps = max_steps, c.opts.tol = eps[neps - 1], c.opts.check_every = 1;
        c.opts.data_mode = mr->mode, c.opts.dtype = o.dtype;
        c.opts.observer = record, c.opts.observer_ctx = &mr->tr;
        rc = run_train(&c) || c.res.stop == DLN_STOP_OBSERVER || mr->tr.n == 0;
        if (rc) {
            fprintf(stderr, "converge: recorded %s run: %s\n", mr->name, err.msg[0] ? err.msg : "no trace");
            break;
        }
        mr->logged = c.res;
        for (int e = 0; e < neps; e++) {
            mr->steps_to[e] = -1, mr->logged_s[e] = NAN;
            for (long t = 0; t < mr->tr.n; t++)
                if (mr->tr.rel[t] <= eps[e]) {
                    mr->steps_to[e] = mr->tr.step[t], mr->logged_s[e] = mr->tr.sec[t];
                    break;
                }
        }
        if (k == 0) { /* the full run's final loss against the host */
            double href = ref_loss(&s, W, &d), e_h = bench_rel(href, c.res.loss);
            double tol = o.dtype == DLN_F64 ? 1e-9 : 1e-4;
            printf("check: full-data final loss %.15g, host loss of its final weights %.15g (rel err %.1e): %s\n",
                   c.res.loss, href, e_h, e_h <= tol ? "ok" : "FAILED");
            dln_json_num(&j, "host_loss_rel_err", e_h);
            if (e_h > tol) rc = 1;
        }
    }
    if (!rc) { /* the two modes agree at the last step both reached */
        trace *a = &runs[0].tr, *b = &runs[1].tr;
        long n = a->n < b->n ? a->n : b->n;
        double e_l = bench_rel(a->loss[n - 1], b->loss[n - 1]), tol = o.dtype == DLN_F64 ? 1e-9 : 1e-4;
        printf("check: loss at step %ld full %.15g, compressed %.15g (rel diff %.1e); steps to %g: %ld vs %ld: %s\n",
               a->step[n - 1], a->loss[n - 1], b->loss[n - 1], e_l, eps[neps - 1], runs[0].steps_to[neps - 1],
               runs[1].steps_to[neps - 1], e_l <= tol ? "ok" : "FAILED");
        if (!(e_l <= tol)) rc = 1;
        dln_json_object(&j, "check");
        dln_json_int(&j, "common_step", a->step[n - 1]);
        dln_json_num(&j, "loss_full", a->loss[n - 1]);
        dln_json_num(&j, "loss_compressed", b->loss[n - 1]);
        dln_json_num(&j, "rel_diff", e_l);
        dln_json_num(&j, "tol", tol);
        dln_json_end_object(&j);
    }
    /* timed runs, unlogged, one per (mode, eps) in each round: rounds interleave the cases
     * so that drifts and neighbours' load touch them alike */
    size_t ncase = (size_t)2 * neps * o.reps;
    double *loop = malloc(sizeof(double) * ncase), *call = malloc(sizeof(double) * ncase);
    if (!rc && (!loop || !call)) rc = 1;
    for (int r = -o.warmup; r < o.reps && !rc; r++)
        for (int k = 0; k < 2 && !rc; k++)
            for (int e = 0; e < neps && !rc; e++) {
                mode_run *mr = &runs[k];
                train_ctx c;
                memset(&c, 0, sizeof c);
                c.be = be, c.pb = &pb, c.s = &s, c.W0 = W0, c.W = W;
                dln_train_opts_default(&c.opts);
                c.opts.lr = lr, c.opts.steps = max_steps, c.opts.tol = eps[e], c.opts.check_every = check_every;
                c.opts.data_mode = mr->mode, c.opts.dtype = o.dtype;
                double c0 = dln_clock_seconds();
                if ((rc = run_train(&c))) {
                    fprintf(stderr, "converge: timed %s run: %s\n", mr->name, err.msg);
                    break;
                }
                size_t at = ((size_t)k * neps + e) * o.reps + (size_t)r;
                if (r >= 0) loop[at] = c.res.seconds, call[at] = dln_clock_seconds() - c0;
                mr->timed_steps[e] = c.res.converged ? c.res.steps : -1;
            }
    for (int k = 0; k < 2 && !rc; k++)
        for (int e = 0; e < neps; e++) {
            size_t at = ((size_t)k * neps + e) * o.reps;
            runs[k].loop[e].s = bench_stats_of(loop + at, o.reps), runs[k].call[e].s = bench_stats_of(call + at, o.reps);
            runs[k].loop[e].reps = runs[k].call[e].reps = o.reps, runs[k].loop[e].batch = runs[k].call[e].batch = 1;
        }
    free(loop), free(call);
    if (rc) goto out;
    printf("\n%-10s %8s | %12s %14s | %-30s | %12s %12s\n", "mode", "eps", "steps (log)", "steps (timed)",
           "loop s: median [min, max]", "call s", "ms/step");
    dln_json_num(&j, "solve_seconds", solve_s);
    dln_json_object(&j, "config");
    dln_json_int(&j, "dx", dx), dln_json_int(&j, "dy", dy), dln_json_int(&j, "m", m), dln_json_int(&j, "rank_x", sh.r);
    dln_json_int(&j, "depth", H), dln_json_int(&j, "width", width), dln_json_int(&j, "teacher_rank", tr);
    dln_json_num(&j, "noise", noise), dln_json_str(&j, "init", dln_init_name(init)), dln_json_num(&j, "lr", runs[0].logged.lr);
    dln_json_int(&j, "check_every", check_every), dln_json_int(&j, "max_steps", max_steps), dln_json_num(&j, "optimum", sh.optimum);
    dln_json_end_object(&j);
    dln_json_array(&j, "modes");
    for (int k = 0; k < 2; k++) {
        mode_run *mr = &runs[k];
        dln_json_object(&j, NULL);
        dln_json_str(&j, "mode", mr->name);
        dln_json_num(&j, "final_loss_logged", mr->logged.loss);
        dln_json_array(&j, "targets");
        for (int e = 0; e < neps; e++) {
            double per = mr->loop[e].s.median / (mr->timed_steps[e] > 0 ? mr->timed_steps[e] : NAN);
            char st[64];
            snprintf(st, sizeof st, "%.4g [%.4g, %.4g]", mr->loop[e].s.median, mr->loop[e].s.min, mr->loop[e].s.max);
            printf("%-10s %8.0e | %12ld %14ld | %-30s | %12.4g %12.4g\n", mr->name, eps[e], mr->steps_to[e],
                   mr->timed_steps[e], st, mr->call[e].s.median, 1e3 * per);
            dln_json_object(&j, NULL);
            dln_json_num(&j, "eps", eps[e]);
            dln_json_int(&j, "steps_logged_run", mr->steps_to[e]);
            dln_json_num(&j, "seconds_logged_run", mr->logged_s[e]);
            dln_json_int(&j, "steps_timed_run", mr->timed_steps[e]);
            bj_stats(&j, "train_loop", &mr->loop[e]);
            bj_stats(&j, "train_call", &mr->call[e]);
            dln_json_num(&j, "seconds_per_step", per);
            dln_json_end_object(&j);
        }
        dln_json_end_array(&j);
        dln_json_end_object(&j);
    }
    dln_json_end_array(&j);
    printf("(steps -1: not reached within --steps; loop s is dln_train's training loop, call s the whole call)\n");
    for (int e = 0; e < neps; e++)
        printf("eps %.0e: compressed is %.3gx faster (training loop)\n", eps[e],
               runs[0].loop[e].s.median / runs[1].loop[e].s.median);
    rc = bench_json_end(&j, &o, 1); /* writes and frees the document */
out:
    if (rc && j.buf) bench_json_end(&j, &o, 0); /* a failure: what was built, marked */
    for (int k = 0; k < 2; k++) trace_free(&runs[k].tr);
    bench_problem_free(&pb);
    dln_shallow_free(&sh);
    dln_weights_free(s.depth, W0);
    dln_weights_free(s.depth, W);
    dln_shape_free(&s);
    dln_data_free(&d);
    free(hidden);
    dln_backend_destroy(be);
    return rc ? 1 : 0;
}
