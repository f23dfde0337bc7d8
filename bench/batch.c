/* batch.c: throughput of many runs on the same data and shape, in member-steps per second
 * (updates made by all members / wall seconds), three ways:
 *   (a) one process per member: `dln train` spawned per member (--procs of them, each
 *       timed from spawn to exit; the rate is their steps over their summed wall time);
 *   (b) a loop of single runs in one process: dln_train once per member, on the solution
 *       solved once (b' also solves it before each run, as a single `dln train` does);
 *   (c) one batch: the shallow solve once, then dln_train_batch over all members;
 *   (d) the GEMMs of the batch's step alone: its 3H - 1 GEMMs, one dln_gemm_batched each over
 *       the B members on buffers of the step's shapes (bare_batched.h), captured where the
 *       backend captures; (c) and (d) also in GEMM GFLOP/s (2 n (3 sum d_i d_{i-1} - d_1 d_0)
 *       per member-step, n the columns trained on), and c/d: the fraction of the bare batched
 *       GEMMs' rate the whole batch keeps (the batch's GPU figure). On the CPU (d) runs on one
 *       thread (the CPU's batched GEMM is a loop) while (c) uses --threads.
 * over a grid of widths x depths x batch sizes B, on a synthetic problem (the CLI's, so the
 * spawned runs see the same data). Members: seeds seed+1 .. seed+B, orthogonal init, the
 * step size --lr (0: the sharpness rule, as `dln train`'s default; < 0: the curvature
 * bound), --steps updates (tol --tol). Before anything is timed, every member of the batch
 * must equal its single run (steps, final loss and weights: bit for bit on the CPU, 1e-10
 * relative elsewhere), and each spawned process's final loss its member's. Points whose
 * one pass would exceed --max-flops are run with fewer steps (down to 5) or skipped. */
#include <sys/wait.h>
#include <jansson.h>

#include "bench_common.h"
#include "bare_batched.h"

#define MAXL 16

typedef struct {
    dln_backend *be;
    const dln_data *d;
    const bench_problem *pb; /* the problem of the solution set up once, for (b) */
    const dln_shape *s;
    int count;
    double ***W0, ***W;
    dln_train_opts *o;
    dln_train_result *res;
} pass_ctx;

static int reset(void *p)
{
    pass_ctx *c = p;
    for (int b = 0; b < c->count; b++)
        for (int i = 0; i < c->s->depth; i++)
            memcpy(c->W[b][i], c->W0[b][i], sizeof(double) * (size_t)c->s->dims[i + 1] * (size_t)c->s->dims[i]);
    return 0;
}

static int run_loop(void *p)
{
    pass_ctx *c = p;
    for (int b = 0; b < c->count; b++)
        if (dln_train(c->be, &c->pb->fit, &c->pb->ref, c->s, 1, &c->W[b], &c->o[b], &c->res[b],
                      dln_backend_error(c->be)))
            return 1;
    return 0;
}

/* The shallow problem solved, then members first .. first + count - 1 trained together on it
 * (one dln_train call). */
static int solve_and_train(pass_ctx *c, int first, int count)
{
    dln_shallow sh;
    bench_problem pb = {0};
    memset(&sh, 0, sizeof sh);
    dln_error *err = dln_backend_error(c->be);
    int rc = dln_shallow_solve(c->be, c->d, dln_shape_narrowest(c->s), 0, 1, &sh, err) ||
             bench_problem_make(&sh, c->d, &pb, err) ||
             dln_train(c->be, &pb.fit, &pb.ref, c->s, count, c->W + first, c->o + first, c->res + first, err);
    bench_problem_free(&pb);
    dln_shallow_free(&sh);
    return rc;
}

/* (b'): a loop of complete single runs, each solving the shallow problem before training
 * (what `dln train` or the package's dln.train does for one run), in one process. */
static int run_loop_solving(void *p)
{
    pass_ctx *c = p;
    for (int b = 0; b < c->count; b++)
        if (solve_and_train(c, b, 1)) return 1;
    return 0;
}

/* (c): the batch, solving the shallow problem once first (as `dln train --seeds` does). */
static int run_batch(void *p)
{
    pass_ctx *c = p;
    return solve_and_train(c, 0, c->count);
}

static long total_steps(const pass_ctx *c)
{
    long n = 0;
    for (int b = 0; b < c->count; b++) n += c->res[b].steps;
    return n;
}

/* (d)'s buffers (two weight-shaped and one activation-shaped set per member) fit: in 90%
 * of the device's free memory, or in a quarter of the host's. */
static int bare_fits(dln_backend *be, const dln_shape *s, int n, int B, dln_dtype t)
{
    double per = 0;
    for (int i = 0; i < s->depth; i++) per += 2.0 * s->dims[i + 1] * s->dims[i] + (double)s->dims[i + 1] * n;
    double need = per * B * (double)dln_dtype_size(t);
    size_t fb = 0, tb = 0;
    if (dln_backend_mem_info(be, &fb, &tb)) return 0;
    double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    return tb ? need <= 0.9 * (double)fb : !(phys > 0) || need <= 0.25 * phys;
}

static double weights_diff(const dln_shape *s, double *const *A, double *const *B)
{
    double worst = 0;
    for (int i = 0; i < s->depth; i++)
        worst = fmax(worst, bench_rel_fro(A[i], B[i], (size_t)s->dims[i + 1] * (size_t)s->dims[i]));
    return worst;
}

/* (b), (b') and (c) timed in turn, one pass each per round (B B' C B B' C ...), so that a
 * drift of the machine's speed touches all three alike; ratio[k] holds each round's
 * (c) / (b) and (c) / (b') rate ratios' medians (k = 0, 1). */
static int time_rounds(dln_backend *be, pass_ctx *c, const bench_opts *o, bench_timing out[3], double ratio[2])
{
    bench_fn fn[3] = {run_loop, run_loop_solving, run_batch};
    double *per = malloc(sizeof(double) * 5 * (size_t)o->reps);
    if (!per) return 1;
    for (int r = -o->warmup; r < o->reps; r++)
        for (int k = 0; k < 3; k++) {
            if (reset(c) || dln_synchronize(be)) return free(per), 1;
            double t0 = dln_clock_seconds();
            if (fn[k](c) || dln_synchronize(be)) return free(per), 1;
            if (r >= 0) per[k * o->reps + r] = dln_clock_seconds() - t0;
        }
    for (int k = 0; k < 3; k++) {
        memset(&out[k], 0, sizeof out[k]);
        out[k].s = bench_stats_of(per + k * o->reps, o->reps), out[k].batch = 1, out[k].reps = o->reps;
    }
    for (int k = 0; k < 2; k++) {
        for (int r = 0; r < o->reps; r++) per[(3 + k) * o->reps + r] = per[k * o->reps + r] / per[2 * o->reps + r];
        ratio[k] = bench_stats_of(per + (3 + k) * o->reps, o->reps).median;
    }
    free(per);
    return 0;
}

typedef struct {
    const char *dln;
    int dx, dy, m, tr, procs;
    double noise, lr, tol;
    const char *backend, *precision;
} proc_cfg;

/* (a): member b as its own `dln train`; its wall time, steps and final loss. */
static int spawn_member(const proc_cfg *pc, const dln_shape *s, uint64_t data_seed, uint64_t seed, long steps,
                        double *wall, long *st, double *loss)
{
    char cmd[1024], lr[64];
    if (pc->lr > 0) snprintf(lr, sizeof lr, "%.17g", pc->lr);
    else snprintf(lr, sizeof lr, "%s", pc->lr < 0 ? "arora" : "auto");
    snprintf(cmd, sizeof cmd,
             "'%s' train --backend %s --precision %s --dx %d --dy %d --samples %d --teacher-rank %d --noise %.17g "
             "--data-seed %llu --seed %llu --depth %d --width %d --init orthogonal --init-scale 1 --lr %s --steps %ld "
             "--tol %.17g --quiet",
             pc->dln, pc->backend, pc->precision, pc->dx, pc->dy, pc->m, pc->tr, pc->noise,
             (unsigned long long)data_seed, (unsigned long long)seed, s->depth, s->depth > 1 ? s->dims[1] : 1, lr,
             steps, pc->tol);
    double t0 = dln_clock_seconds();
    FILE *f = popen(cmd, "r");
    if (!f) return 1;
    char out[16384];
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    int status = pclose(f);
    *wall = dln_clock_seconds() - t0;
    /* the summary line parsed as JSON (jansson): its loss and steps fields */
    json_error_t jerr;
    json_t *line = status == 0 ? json_loads(out, JSON_DISABLE_EOF_CHECK, &jerr) : NULL;
    json_t *l = json_object_get(line, "loss"), *t = json_object_get(line, "steps");
    int ok = json_is_number(l) && json_is_integer(t);
    if (ok) *loss = json_number_value(l), *st = (long)json_integer_value(t);
    else fprintf(stderr, "batch: %s: exit %d, output %.200s\n", cmd, WEXITSTATUS(status), out);
    json_decref(line);
    return ok ? 0 : 1;
}

static void usage(void)
{
    fputs("usage: batch [options]\n\n"
          "Member-steps per second of B runs on the same data and shape: one process per member,\n"
          "a loop of dln_train in one process, and one dln_train of all of them; every member checked equal to\n"
          "its single run first.\n\n"
          "  --dx N --dy N --m N           synthetic problem (default 32, 32, 256: dln train's)\n"
          "  --teacher-rank N --noise S    (default 8, 0.1)\n"
          "  --widths LIST                 hidden widths (default 2,16,64,256)\n"
          "  --depths LIST                 numbers of weight matrices (default 2,4,16)\n"
          "  --members LIST                batch sizes B (default 1,16,256)\n"
          "  --lr X                        > 0 given; 0 the sharpness rule; < 0 the curvature bound\n"
          "                                (default -1)\n"
          "  --steps N --tol T             per member (default 100, 0: every member makes N steps)\n"
          "  --max-flops F                 fewer steps (at least 5) or skip a point whose pass would\n"
          "                                exceed F flops (default 2e10)\n"
          "  --procs N                     members run as processes for (a) (default 4; 0: none)\n"
          "  --threads N                   the backend's threads for (c) (dln_backend_set_threads;\n"
          "                                default 0: one per CPU; (b) runs on one)\n"
          "  --dln PATH                    the dln binary for (a) (default build/dln)\n"
          "  --no-bare                     skip (d), the bare batched GEMMs\n\n",
          stdout);
    bench_common_help(stdout);
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o);
    o.reps = 3, o.warmup = 0;
    int widths[MAXL] = {2, 16, 64, 256}, depths[MAXL] = {2, 4, 16}, members[MAXL] = {1, 16, 256};
    int nw = 4, nd = 3, nb = 3;
    long steps = 100;
    double max_flops = 2e10;
    proc_cfg pc = {"build/dln", 32, 32, 256, 8, 4, 0.1, -1, 0, NULL, NULL};
    int threads = 0, do_bare = 1, d_failed = 0;
    const bench_flag_spec specs[] = {
        {"--dx", BF_INT, &pc.dx, 1, DLN_MAX_DIM, 0, NULL},
        {"--dy", BF_INT, &pc.dy, 1, DLN_MAX_DIM, 0, NULL},
        {"--m", BF_INT, &pc.m, 1, DLN_MAX_DIM, 0, NULL},
        {"--teacher-rank", BF_INT, &pc.tr, 1, DLN_MAX_DIM, 0, NULL},
        {"--noise", BF_DOUBLE, &pc.noise, 0, 1e100, 0, NULL},
        {"--widths", BF_INTS, widths, 1, 65536, MAXL, &nw},
        {"--depths", BF_INTS, depths, 1, DLN_MAX_DEPTH, MAXL, &nd},
        {"--members", BF_INTS, members, 1, 1 << 20, MAXL, &nb},
        {"--lr", BF_DOUBLE, &pc.lr, -1, 1e300, 0, NULL},
        {"--steps", BF_LONG, &steps, 0, 1e9, 0, NULL},
        {"--tol", BF_DOUBLE, &pc.tol, 0, 1, 0, NULL},
        {"--max-flops", BF_DOUBLE, &max_flops, 1, 1e300, 0, NULL},
        {"--procs", BF_INT, &pc.procs, 0, 1 << 20, 0, NULL},
        {"--dln", BF_STRING, &pc.dln, 0, 0, 0, NULL},
        {"--threads", BF_INT, &threads, 0, 1024, 0, NULL},
        {"--no-bare", BF_SWITCH, &do_bare, 0, -1, 0, NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL},
    };
    int parsed = bench_parse_args(argc, argv, specs, &o, usage);
    if (parsed) return parsed == 1 ? 0 : 2;
    dln_error err;
    dln_backend *be = NULL;
    int rc = bench_backend("batch", &o, &err, &be);
    if (rc) return rc;
    if ((rc = dln_backend_set_threads(be, threads))) {
        fprintf(stderr, "batch: --threads: %s\n", err.msg);
        dln_backend_destroy(be);
        return 2;
    }
    pc.backend = dln_backend_name(be), pc.precision = o.precision;
    int exact = !strcmp(dln_backend_name(be), "cpu");
    dln_json j;
    bench_json_begin(&j, "batch", be, &o, argc, argv);
    dln_synth_opts so = {pc.dx, pc.dy, pc.m, pc.tr, pc.noise, o.seed, DLN_LABELS_VALUES};
    dln_data d = {0, 0, 0, NULL, NULL};
    rc = dln_synth_make(&so, &d, &err);
    if (rc) fprintf(stderr, "batch: data: %s\n", err.msg);
    dln_json_object(&j, "config");
    dln_json_int(&j, "dx", pc.dx), dln_json_int(&j, "dy", pc.dy), dln_json_int(&j, "m", pc.m);
    dln_json_int(&j, "teacher_rank", pc.tr), dln_json_num(&j, "noise", pc.noise);
    dln_json_str(&j, "lr", pc.lr > 0 ? "given" : pc.lr < 0 ? "arora" : "sharpness rule");
    dln_json_num(&j, "lr_given", pc.lr > 0 ? pc.lr : NAN);
    dln_json_int(&j, "steps", steps), dln_json_num(&j, "tol", pc.tol), dln_json_num(&j, "max_flops", max_flops);
    dln_json_int(&j, "procs", pc.procs);
    dln_json_int(&j, "threads", dln_backend_threads(be));
    dln_json_end_object(&j);
    dln_json_array(&j, "points");
    printf("%6s %5s %5s %6s | %12s %12s %12s %12s %12s | %8s %8s %8s | %9s %9s %6s\n", "width", "depth", "B", "steps",
           "(a) proc/s", "(b) loop/s", "(b') +solve/s", "(c) batch/s", "(d) GEMMs/s", "c/b", "c/b'", "c/a", "(c) GF/s",
           "(d) GF/s", "c/d");
    printf("(member-steps per second, medians of %d passes of (b), (b') and (c) in turn; c/b and c/b': medians of\n"
           " the passes' ratios; (a) over min(B, --procs) spawned processes; (d) the step's GEMMs alone, batched;\n"
           " GF/s: GEMM flops per second)\n", o.reps);
    for (int iw = 0; iw < nw && !rc; iw++)
        for (int id = 0; id < nd && !rc; id++)
            for (int ib = 0; ib < nb && !rc; ib++) {
                int H = depths[id], width = widths[iw], B = members[ib];
                dln_shape s = {0, NULL};
                dln_shallow sh;
                bench_problem pb = {0};
                memset(&sh, 0, sizeof sh);
                int hidden[DLN_MAX_DEPTH];
                for (int i = 0; i < H - 1; i++) hidden[i] = width;
                if ((rc = dln_shape_make(H, pc.dx, pc.dy, hidden, H - 1, &s, &err) ||
                          dln_shallow_solve(be, &d, dln_shape_narrowest(&s), 0, 1, &sh, &err) ||
                          bench_problem_make(&sh, &d, &pb, &err))) {
                    fprintf(stderr, "batch: set-up: %s\n", err.msg);
                    break;
                }
                double per_step = 0; /* flops of one member's step, on the columns trained on */
                int n = sh.r < d.m ? sh.r : d.m;
                for (int i = 0; i < H; i++) per_step += 6.0 * n * s.dims[i] * s.dims[i + 1];
                long st = steps;
                while (st > 5 && (double)B * st * per_step > max_flops) st /= 2;
                if (st < 5 && steps >= 5) st = 5;
                if ((double)B * st * per_step > max_flops) {
                    printf("%6d %5d %5d %6s | skipped: %.3g flops per pass > --max-flops\n", width, H, B, "-",
                           (double)B * st * per_step);
                    bench_problem_free(&pb), dln_shallow_free(&sh), dln_shape_free(&s);
                    continue;
                }
                pass_ctx c = {be, &d, &pb, &s, B, calloc((size_t)B, sizeof(double **)),
                              calloc((size_t)B, sizeof(double **)), calloc((size_t)B, sizeof(dln_train_opts)),
                              calloc((size_t)B, sizeof(dln_train_result))};
                dln_train_result *single = calloc((size_t)B, sizeof(dln_train_result));
                double ***Ws = calloc((size_t)B, sizeof(double **));
                rc = !c.W0 || !c.W || !c.o || !c.res || !single || !Ws;
                for (int b = 0; b < B && !rc; b++) {
                    rc = dln_init_weights(&s, DLN_INIT_ORTHOGONAL, 1.0, o.seed + 1 + (uint64_t)b, &c.W0[b], &err) ||
                         dln_weights_alloc(&s, &c.W[b], &err) || dln_weights_alloc(&s, &Ws[b], &err);
                    dln_train_opts_default(&c.o[b]);
                    c.o[b].lr = pc.lr > 0 ? pc.lr : 0, c.o[b].lr_rule = pc.lr < 0 ? DLN_LR_ARORA : DLN_LR_SHARPNESS;
                    c.o[b].steps = st, c.o[b].tol = pc.tol, c.o[b].dtype = o.dtype;
                }
                /* the check: every member of the batch is its single run */
                double worst_w = 0, worst_l = 0;
                if (!rc) rc = reset(&c) || run_loop(&c);
                for (int b = 0; b < B && !rc; b++) {
                    single[b] = c.res[b];
                    for (int i = 0; i < H; i++)
                        memcpy(Ws[b][i], c.W[b][i], sizeof(double) * (size_t)s.dims[i + 1] * (size_t)s.dims[i]);
                }
                if (!rc) rc = reset(&c) || run_batch(&c);
                for (int b = 0; b < B && !rc; b++) {
                    double el = bench_rel(c.res[b].loss, single[b].loss);
                    double ew = single[b].diverged ? 0 : weights_diff(&s, c.W[b], Ws[b]);
                    worst_l = fmax(worst_l, el), worst_w = fmax(worst_w, ew);
                    if (c.res[b].steps != single[b].steps || (exact ? el != 0 || ew != 0 : el > 1e-10 || ew > 1e-10)) {
                        fprintf(stderr, "batch: member %d of %d (width %d depth %d): steps %ld vs %ld alone, loss rel "
                                "diff %.3g, weights %.3g: FAILED\n", b, B, width, H, c.res[b].steps, single[b].steps,
                                el, ew);
                        rc = 1;
                    }
                }
                if (rc && !err.msg[0]) snprintf(err.msg, sizeof err.msg, "the check failed");
                /* (a) */
                int procs = pc.procs < B ? pc.procs : B;
                double pwall = 0;
                long psteps = 0;
                for (int b = 0; b < procs && !rc; b++) {
                    double wall = 0, loss = 0;
                    long k = 0;
                    rc = spawn_member(&pc, &s, o.seed, o.seed + 1 + (uint64_t)b, st, &wall, &k, &loss);
                    if (!rc && (k != single[b].steps || (exact ? loss != single[b].loss
                                                               : bench_rel(loss, single[b].loss) > 1e-10))) {
                        fprintf(stderr, "batch: process of member %d: %ld steps, loss %.17g; alone %ld, %.17g: FAILED\n",
                                b, k, loss, single[b].steps, single[b].loss);
                        rc = 1;
                    }
                    pwall += wall, psteps += k;
                }
                /* (b), (c) */
                bench_timing tt[3];
                double ratio[2];
                long steps_done = total_steps(&c);
                if (!rc) rc = time_rounds(be, &c, &o, tt, ratio);
                bench_timing tl = tt[0], tls = tt[1], tb = tt[2], td;
                memset(&td, 0, sizeof td);
                double gemm_flops = bare_batched_flops(&s, n), rd = NAN, d_err = NAN;
                if (!rc && do_bare && bare_fits(be, &s, n, B, o.dtype)) {
                    /* checked first on the last member against host GEMMs; a failure of (d) fails the
                     * benchmark but keeps the point's (a)-(c) */
                    const double *Xd = n < d.m ? sh.C : d.X;
                    /* the device sums in its own order: about k H eps relative over a chain of H
                     * GEMMs of inner size k (k H <= ~10^4 here: 2e-12 at fp64's eps, so 1e-12 holds
                     * with the errors' usual sqrt growth; fp32's eps 6e-8 gives 1e-4); TF32 keeps 10
                     * mantissa bits (5e-2, as bench/step) */
                    double tol = o.math == DLN_MATH_TF32 ? 5e-2 : o.dtype == DLN_F32 ? 1e-4 : 1e-12;
                    bare_batched bare;
                    dln_error_clear(&err);
                    int d_rc = bare_batched_make(&bare, be, &s, n, B, o.dtype, Xd, o.seed) ||
                               bare_batched_check(&bare, &s, Xd, B - 1, o.seed, &d_err);
                    if (!d_rc && !(d_err <= tol)) {
                        snprintf(err.msg, sizeof err.msg, "member %d's products differ from the host's by %.3g (> %g)",
                                 B - 1, d_err, tol);
                        d_rc = 1;
                    }
                    if (!d_rc) d_rc = bench_time(be, bare_batched_run, &bare, &o, &td);
                    bare_batched_free(&bare);
                    if (d_rc) {
                        fprintf(stderr, "batch: width %d depth %d B %d: (d): %s\n", width, H, B,
                                err.msg[0] ? err.msg : "failed");
                        d_failed = 1;
                    } else rd = B / td.s.median;
                }
                if (rc) {
                    fprintf(stderr, "batch: width %d depth %d B %d: %s\n", width, H, B, err.msg);
                } else {
                    double ra = procs ? psteps / pwall : NAN, rl = steps_done / tl.s.median,
                           rls = steps_done / tls.s.median, rb = steps_done / tb.s.median;
                    printf("%6d %5d %5d %6ld | %12.4g %12.4g %12.4g %12.4g %12.4g | %8.3g %8.3g %8.3g | %9.4g %9.4g "
                           "%6.3g\n", width, H, B, st, ra, rl, rls, rb, rd, ratio[0], ratio[1], rb / ra,
                           rb * gemm_flops / 1e9, rd * gemm_flops / 1e9, rb / rd);
                    dln_json_object(&j, NULL);
                    dln_json_int(&j, "width", width), dln_json_int(&j, "depth", H), dln_json_int(&j, "members", B);
                    dln_json_int(&j, "steps", st), dln_json_int(&j, "member_steps", steps_done);
                    dln_json_num(&j, "flops_per_member_step", per_step);
                    dln_json_num(&j, "check_loss_rel_diff", worst_l), dln_json_num(&j, "check_weights_rel_diff", worst_w);
                    dln_json_int(&j, "procs", procs), dln_json_num(&j, "procs_wall_s", pwall);
                    dln_json_int(&j, "procs_member_steps", psteps);
                    dln_json_num(&j, "a_process_per_member_steps_per_s", ra);
                    dln_json_num(&j, "b_loop_steps_per_s", rl);
                    dln_json_num(&j, "b_loop_solving_steps_per_s", rls);
                    dln_json_num(&j, "c_batch_steps_per_s", rb);
                    dln_json_num(&j, "c_over_b_median_of_rounds", ratio[0]);
                    dln_json_num(&j, "c_over_b_solving_median_of_rounds", ratio[1]);
                    bj_stats(&j, "b_loop", &tl);
                    bj_stats(&j, "b_loop_solving", &tls);
                    bj_stats(&j, "c_batch", &tb);
                    dln_json_num(&j, "gemm_flops_per_member_step", gemm_flops);
                    dln_json_num(&j, "d_bare_batched_gemms_steps_per_s", rd);
                    dln_json_num(&j, "c_gemm_gflops", rb * gemm_flops / 1e9);
                    dln_json_num(&j, "d_gemm_gflops", rd * gemm_flops / 1e9);
                    dln_json_num(&j, "c_over_d", rb / rd);
                    dln_json_num(&j, "d_check_rel_diff", d_err);
                    if (isfinite(rd)) bj_stats(&j, "d_bare_batched_gemms", &td);
                    dln_json_end_object(&j);
                    fflush(stdout);
                }
                for (int b = 0; b < B; b++) {
                    if (c.W0) dln_weights_free(H, c.W0[b]);
                    if (c.W) dln_weights_free(H, c.W[b]);
                    if (Ws) dln_weights_free(H, Ws[b]);
                }
                free(c.W0), free(c.W), free(c.o), free(c.res), free(single), free(Ws);
                bench_problem_free(&pb);
                dln_shallow_free(&sh);
                dln_shape_free(&s);
            }
    dln_json_end_array(&j);
    rc = rc || d_failed;
    rc = bench_json_end(&j, &o, !rc) || rc;
    dln_data_free(&d);
    dln_backend_destroy(be);
    return rc ? 1 : 0;
}
