/* converge.c: steps and wall time to rel_gap <= eps for several eps, training on the full
 * data (X, Y: DLN_DATA_FULL) and on the exact compression (C, M: DLN_DATA_COMPRESSED)
 * through dln_train, on a synthetic problem with m >> dx.
 *
 * For each mode: one run logged at every step (log_every 1 into a tmpfile) gives the
 * first step under each eps; then, per eps, --reps unlogged runs with tol = eps give the
 * wall time (dln_train's own training-loop seconds, and the whole call). Before anything
 * is reported the two modes must agree: the same final loss (relative 1e-9 in fp64, 1e-4
 * in fp32) at the last step both logged runs reached, and the full run's final loss must
 * match dln_host_loss of its final weights. */
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

static double field(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    if (!p) return NAN;
    p += strlen(key);
    if (!strncmp(p, "null", 4)) return NAN;
    return strtod(p, NULL);
}

/* Reads the JSONL trace written by dln_train. */
static int trace_read(FILE *f, trace *t)
{
    char line[1024];
    rewind(f);
    while (fgets(line, sizeof line, f)) {
        if (t->n == t->cap) {
            long cap = t->cap ? 2 * t->cap : 1024;
            long *s = realloc(t->step, sizeof(long) * (size_t)cap);
            if (s) t->step = s;
            double *a = realloc(t->loss, sizeof(double) * (size_t)cap);
            if (a) t->loss = a;
            double *b = realloc(t->rel, sizeof(double) * (size_t)cap);
            if (b) t->rel = b;
            double *c = realloc(t->sec, sizeof(double) * (size_t)cap);
            if (c) t->sec = c;
            if (!s || !a || !b || !c) return 1;
            t->cap = cap;
        }
        t->step[t->n] = (long)field(line, "\"step\":");
        t->loss[t->n] = field(line, "\"loss\":");
        t->rel[t->n] = field(line, "\"rel_gap\":");
        t->sec[t->n] = field(line, "\"seconds\":");
        t->n++;
    }
    return t->n ? 0 : 1;
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
    const dln_data *d;
    const dln_shallow *sh;
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
    return dln_train(c->be, c->d, c->sh, c->s, c->W, &c->opts, &c->res, c->be->err);
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
          "                                (default 1 on cpu, 50 on cuda, as dln train)\n\n",
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
    for (int i = 1; i < argc; i++) {
        int bad = 0, missing = 0, r = bench_common_flag(argc, argv, &i, &o);
        const char *v;
        if (r == 2) return 2;
        if (r == 1) continue;
        if (!strcmp(argv[i], "--help")) return usage(), 0;
        if (bench_int_flag(argc, argv, &i, "--dx", 1, DLN_MAX_DIM, &dx, &bad) ||
            bench_int_flag(argc, argv, &i, "--dy", 1, DLN_MAX_DIM, &dy, &bad) ||
            bench_int_flag(argc, argv, &i, "--m", 1, DLN_MAX_DIM, &m, &bad) ||
            bench_int_flag(argc, argv, &i, "--teacher-rank", 1, DLN_MAX_DIM, &tr, &bad) ||
            bench_int_flag(argc, argv, &i, "--depth", 1, DLN_MAX_DEPTH, &H, &bad) ||
            bench_int_flag(argc, argv, &i, "--width", 1, DLN_MAX_DIM, &width, &bad) ||
            bench_int_flag(argc, argv, &i, "--check-every", 1, 1 << 30, &check_every, &bad) ||
            bench_long_flag(argc, argv, &i, "--steps", 1, 1000000000L, &max_steps, &bad) ||
            bench_double_flag(argc, argv, &i, "--noise", 0, 1e100, &noise, &bad) ||
            bench_double_flag(argc, argv, &i, "--lr", 0, 1e300, &lr, &bad)) {
            if (bad) return 2;
        } else if ((v = bench_flag(argc, argv, &i, "--eps", &missing))) {
            if (bench_parse_doubles("--eps", v, 1e-300, 1e300, eps, MAXEPS, &neps)) return 2;
        } else if ((v = bench_flag(argc, argv, &i, "--init", &missing))) {
            if (dln_init_parse(v, &init)) return fprintf(stderr, "converge: --init: unknown '%s'\n", v), 2;
        } else {
            fprintf(stderr, "converge: %s '%s' (see --help)\n", missing ? "missing value for" : "unknown option", argv[i]);
            return 2;
        }
    }
    qsort(eps, (size_t)neps, sizeof(double), cmp_desc); /* the tightest last */
    dln_error err;
    dln_error_clear(&err);
    dln_backend *be = NULL;
    int rc = bench_backend(&o, &err, &be);
    if (rc) return rc;
    if (!check_every) check_every = strcmp(be->ops->name, "cuda") ? 1 : 50;
    bench_json j;
    if (bench_json_begin(&j, o.json_path, "converge", be, &o, argc, argv)) return dln_backend_destroy(be), 1;
    dln_synth_opts so = {dx, dy, m, tr, noise, o.seed};
    dln_data d = {0, 0, 0, NULL, NULL};
    dln_shape s = {0, NULL};
    dln_shallow sh;
    memset(&sh, 0, sizeof sh);
    double **W0 = NULL, **W = NULL, solve_s = 0;
    int *hidden = malloc(sizeof(int) * (size_t)(H > 1 ? H - 1 : 1));
    mode_run runs[2] = {{.name = "full", .mode = DLN_DATA_FULL}, {.name = "compressed", .mode = DLN_DATA_COMPRESSED}};
    for (int i = 0; hidden && i < H - 1; i++) hidden[i] = width;
    double t0 = bench_now();
    rc = !hidden || dln_synth_make(&so, &d, &err) || dln_shape_make(H, dx, dy, hidden, H - 1, &s, &err) ||
         dln_init_weights(&s, init, dln_init_default_scale(init), o.seed, &W0, &err) ||
         dln_init_weights(&s, init, dln_init_default_scale(init), o.seed, &W, &err) ||
         (t0 = bench_now(), dln_shallow_solve(be, &d, dln_shape_narrowest(&s), 0, 1, &sh, &err));
    solve_s = bench_now() - t0;
    if (rc) {
        fprintf(stderr, "converge: set-up: %s\n", err.msg);
        goto out;
    }
    printf("converge: backend %s, precision %s; dx %d dy %d m %d (rank %d compressed columns), depth %d width %d, "
           "%s init; L* %.10g, solve %.3g s\n",
           be->ops->name, o.precision, dx, dy, m, sh.r, H, width, dln_init_name(init), sh.optimum, solve_s);
    /* logged runs: first step under each eps */
    for (int k = 0; k < 2 && !rc; k++) {
        mode_run *mr = &runs[k];
        train_ctx c;
        memset(&c, 0, sizeof c);
        c.be = be, c.d = &d, c.sh = &sh, c.s = &s, c.W0 = W0, c.W = W;
        dln_train_opts_default(&c.opts);
        c.opts.lr = lr, c.opts.steps = max_steps, c.opts.tol = eps[neps - 1], c.opts.check_every = 1;
        c.opts.log_every = 1, c.opts.data_mode = mr->mode, c.opts.dtype = o.dtype;
        c.opts.log = tmpfile();
        rc = !c.opts.log || run_train(&c) || trace_read(c.opts.log, &mr->tr);
        if (c.opts.log) fclose(c.opts.log);
        if (rc) {
            fprintf(stderr, "converge: logged %s run: %s\n", mr->name, err.msg[0] ? err.msg : "no trace");
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
            double href = dln_host_loss(&s, W, &d), e_h = bench_rel(href, c.res.loss);
            double tol = o.dtype == DLN_F64 ? 1e-9 : 1e-4;
            printf("check: full-data final loss %.15g, host loss of its final weights %.15g (rel err %.1e): %s\n",
                   c.res.loss, href, e_h, e_h <= tol ? "ok" : "FAILED");
            bj_num(&j, "host_loss_rel_err", e_h);
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
        bj_obj(&j, "check");
        bj_int(&j, "common_step", a->step[n - 1]);
        bj_num(&j, "loss_full", a->loss[n - 1]);
        bj_num(&j, "loss_compressed", b->loss[n - 1]);
        bj_num(&j, "rel_diff", e_l);
        bj_num(&j, "tol", tol);
        bj_end_obj(&j);
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
                c.be = be, c.d = &d, c.sh = &sh, c.s = &s, c.W0 = W0, c.W = W;
                dln_train_opts_default(&c.opts);
                c.opts.lr = lr, c.opts.steps = max_steps, c.opts.tol = eps[e], c.opts.check_every = check_every;
                c.opts.data_mode = mr->mode, c.opts.dtype = o.dtype;
                double c0 = bench_now();
                if ((rc = run_train(&c))) {
                    fprintf(stderr, "converge: timed %s run: %s\n", mr->name, err.msg);
                    break;
                }
                size_t at = ((size_t)k * neps + e) * o.reps + (size_t)r;
                if (r >= 0) loop[at] = c.res.seconds, call[at] = bench_now() - c0;
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
    bj_num(&j, "solve_seconds", solve_s);
    bj_obj(&j, "config");
    bj_int(&j, "dx", dx), bj_int(&j, "dy", dy), bj_int(&j, "m", m), bj_int(&j, "rank_x", sh.r);
    bj_int(&j, "depth", H), bj_int(&j, "width", width), bj_int(&j, "teacher_rank", tr);
    bj_num(&j, "noise", noise), bj_str(&j, "init", dln_init_name(init)), bj_num(&j, "lr", runs[0].logged.lr);
    bj_int(&j, "check_every", check_every), bj_int(&j, "max_steps", max_steps), bj_num(&j, "optimum", sh.optimum);
    bj_end_obj(&j);
    bj_arr(&j, "modes");
    for (int k = 0; k < 2; k++) {
        mode_run *mr = &runs[k];
        bj_obj(&j, NULL);
        bj_str(&j, "mode", mr->name);
        bj_num(&j, "final_loss_logged", mr->logged.loss);
        bj_arr(&j, "targets");
        for (int e = 0; e < neps; e++) {
            double per = mr->loop[e].s.median / (mr->timed_steps[e] > 0 ? mr->timed_steps[e] : NAN);
            char st[64];
            snprintf(st, sizeof st, "%.4g [%.4g, %.4g]", mr->loop[e].s.median, mr->loop[e].s.min, mr->loop[e].s.max);
            printf("%-10s %8.0e | %12ld %14ld | %-30s | %12.4g %12.4g\n", mr->name, eps[e], mr->steps_to[e],
                   mr->timed_steps[e], st, mr->call[e].s.median, 1e3 * per);
            bj_obj(&j, NULL);
            bj_num(&j, "eps", eps[e]);
            bj_int(&j, "steps_logged_run", mr->steps_to[e]);
            bj_num(&j, "seconds_logged_run", mr->logged_s[e]);
            bj_int(&j, "steps_timed_run", mr->timed_steps[e]);
            bj_stats(&j, "train_loop", &mr->loop[e]);
            bj_stats(&j, "train_call", &mr->call[e]);
            bj_num(&j, "seconds_per_step", per);
            bj_end_obj(&j);
        }
        bj_end_arr(&j);
        bj_end_obj(&j);
    }
    bj_end_arr(&j);
    printf("(steps -1: not reached within --steps; loop s is dln_train's training loop, call s the whole call)\n");
    for (int e = 0; e < neps; e++)
        printf("eps %.0e: compressed is %.3gx faster (training loop)\n", eps[e],
               runs[0].loop[e].s.median / runs[1].loop[e].s.median);
    bj_bool(&j, "ok", 1);
    rc = bench_json_end(&j);
out:
    if (j.f) { /* a failure: what was written, marked */
        bj_bool(&j, "ok", 0);
        bench_json_end(&j);
    }
    for (int k = 0; k < 2; k++) trace_free(&runs[k].tr);
    dln_shallow_free(&sh);
    dln_weights_free(s.depth, W0);
    dln_weights_free(s.depth, W);
    dln_shape_free(&s);
    dln_data_free(&d);
    free(hidden);
    dln_backend_destroy(be);
    return rc ? 1 : 0;
}
