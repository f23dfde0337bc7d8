/* step.c: time per training step of the deep linear network (one plain gradient-descent
 * update W -= lr G, then the forward and backward chains at the new weights: exactly the
 * trainer's step, built from dln_net_* of src/network.h and the backend's axpby), over a
 * grid of widths and depths with square layers, against the same 3H - 1 GEMMs issued
 * bare through the backend's gemm op. Where the backend captures graphs (CUDA), one step
 * and one bare GEMM sequence are captured and replayed with graph_launch, as
 * src/trainer.c does.
 *
 * Checked before anything is timed, on a small non-square network for every depth of the
 * grid: the loss against dln_host_loss, the gradient against a central finite difference
 * of dln_host_loss along a random direction, and two steps (through the captured graph
 * where there is one) against the host loss of the host-updated weights. At each grid
 * point the initial loss is checked against dln_host_loss when the host can afford it
 * (--check-limit), and after timing the loss must be finite and not above the start.
 *
 * flops per step = 2 n (3 sum_i d_i d_{i-1} - d_1 d_0): H forward GEMMs, H gradient
 * GEMMs and H - 1 input-gradient GEMMs (the first layer's is not needed). */
#include "bench_common.h"
#include "network.h"

#define MAXGRID 32

typedef struct {
    dln_backend *be;
    dln_net *net;
    double lr;
    dln_graph *graph; /* replayed when non-NULL */
    int bare;         /* the GEMMs alone */
} run_ctx;

/* The trainer's plain-GD step: W -= lr G, forward (slot 0 = ||E||^2), backward (slot 1). */
static int issue_step(dln_net *net, double lr)
{
    const dln_backend_ops *op = net->be->ops;
    for (int i = 0; i < net->s->depth; i++) DLN_TRY(op->axpby(net->be, -lr, &net->G[i], 1.0, &net->W[i]));
    DLN_TRY(dln_net_forward(net, net->W, 0));
    return dln_net_backward(net, net->W, 1);
}

/* The same 3H - 1 GEMMs on the same buffers, in the same order, and nothing else. */
static int issue_bare(dln_net *net)
{
    const dln_backend_ops *op = net->be->ops;
    dln_backend *be = net->be;
    int H = net->s->depth;
    for (int i = 1; i <= H; i++)
        DLN_TRY(op->gemm(be, 0, 0, 1.0, &net->W[i - 1], i == 1 ? &net->X : &net->A[i - 1], 0.0, &net->A[i]));
    for (int i = H; i >= 1; i--) {
        DLN_TRY(op->gemm(be, 0, 1, 1.0, &net->A[i], i == 1 ? &net->X : &net->A[i - 1], 0.0, &net->G[i - 1]));
        if (i > 1) DLN_TRY(op->gemm(be, 1, 0, 1.0, &net->W[i - 1], &net->A[i], 0.0, &net->A[i - 1]));
    }
    return DLN_OK;
}

static int run_once(void *p)
{
    run_ctx *c = p;
    if (c->graph) return c->be->ops->graph_launch(c->be, c->graph);
    return c->bare ? issue_bare(c->net) : issue_step(c->net, c->lr);
}

/* Captures one run_once into *g where the backend can (else *g stays NULL). */
static int capture(run_ctx *c, int allow, dln_graph **g)
{
    const dln_backend_ops *op = c->be->ops;
    *g = NULL;
    if (!allow || !op->capture_begin) return DLN_OK;
    c->graph = NULL;
    DLN_TRY(op->capture_begin(c->be));
    int rc_ops = run_once(c);
    int rc = op->capture_end(c->be, g);
    return rc ? rc : rc_ops;
}

static double step_flops(const dln_shape *s, int n)
{
    double sum = 0;
    for (int i = 1; i <= s->depth; i++) sum += (double)s->dims[i] * s->dims[i - 1];
    return 2.0 * n * (3.0 * sum - (double)s->dims[1] * s->dims[0]);
}

/* Fewest bytes a step moves: every GEMM operand once, the H updates (read G, W; write W),
 * the residual (read A_H, Y; write A_H) and the reductions (read A_H and every G). */
static double step_bytes(const dln_shape *s, int n, size_t es)
{
    double e = 0, p = 0;
    for (int i = 1; i <= s->depth; i++) {
        double w = (double)s->dims[i] * s->dims[i - 1], a = (double)s->dims[i] * n, b = (double)s->dims[i - 1] * n;
        p += w;
        e += w + a + b;             /* forward */
        e += a + b + w;             /* gradient */
        if (i > 1) e += w + a + b;  /* input gradient */
    }
    double out = (double)s->dims[s->depth] * n;
    e += 3 * p + 3 * out + out + p;
    return e * (double)es;
}

static int fail(const char *what, dln_error *err)
{
    fprintf(stderr, "step: %s: %s\n", what, err->msg[0] ? err->msg : "failed");
    return 1;
}

/* W[i] += a * D[i] over every layer */
static void add_scaled(const dln_shape *s, double **W, double a, double *const *D)
{
    for (int i = 0; i < s->depth; i++)
        for (size_t e = 0; e < (size_t)s->dims[i + 1] * s->dims[i]; e++) W[i][e] += a * D[i][e];
}

static int download_set(dln_backend *be, const dln_mat *set, int H, double **out)
{
    for (int i = 0; i < H; i++) DLN_TRY(be->ops->download(be, &set[i], out[i], set[i].rows));
    return DLN_OK;
}

/* Small non-square check of loss, gradient and two steps at depth H (see the header). */
static int check_small(dln_backend *be, const bench_opts *o, int H, int use_graph, dln_error *err, bench_json *j)
{
    enum { MAXH = 256 };
    int dx = 7, dy = 6, m = 11, hidden[MAXH];
    if (H > MAXH) return fprintf(stderr, "step: the check supports depth <= %d\n", MAXH), 1;
    for (int i = 0; i < H - 1; i++) hidden[i] = 5 + (3 * i) % 5;
    int is32 = o->dtype == DLN_F32, tf32 = o->math == DLN_MATH_TF32;
    double tol_loss = tf32 ? 2e-2 : is32 ? 1e-4 : 1e-11, tol_grad = tf32 ? 5e-2 : is32 ? 1e-3 : 1e-6;
    dln_shape s = {0, NULL};
    double **W = NULL, **G = NULL, **D = NULL;
    dln_graph *g = NULL;
    dln_net net;
    memset(&net, 0, sizeof net);
    dln_data d = {dx, dy, m, bench_normals((size_t)dx * m, o->seed, 11), bench_normals((size_t)dy * m, o->seed, 12)};
    int rc = 1;
    double sl[2];
    if (!d.X || !d.Y || dln_shape_make(H, dx, dy, hidden, H - 1, &s, err) ||
        dln_init_weights(&s, DLN_INIT_GAUSSIAN, 1.0, o->seed, &W, err) ||
        dln_init_weights(&s, DLN_INIT_GAUSSIAN, 1.0, o->seed + 1, &G, err) ||
        dln_init_weights(&s, DLN_INIT_GAUSSIAN, 1.0, o->seed + 2, &D, err) ||
        dln_net_create(be, &s, m, o->dtype, 0, 0, &net) || dln_net_set_data(&net, d.X, d.Y) ||
        dln_net_set_weights(&net, W) || dln_net_forward(&net, net.W, 0) || dln_net_backward(&net, net.W, 1) ||
        be->ops->read_slots(be, sl, 2) || dln_net_get_weights(&net, W) || download_set(be, net.G, H, G)) {
        fail("check set-up, forward and backward", err);
        goto done;
    }
    /* W now holds the weights exactly as the backend stores them (fp32-rounded in fp32) */
    double gslot = sl[1], L0 = 0.5 * sl[0], ref0 = dln_host_loss(&s, W, &d), gsq = 0, dd = 0, h = 2e-3 / H;
    for (int i = 0; i < H; i++)
        for (size_t e = 0; e < (size_t)s.dims[i + 1] * s.dims[i]; e++) gsq += G[i][e] * G[i][e], dd += G[i][e] * D[i][e];
    /* fourth-order central difference: (8 (L(h) - L(-h)) - (L(2h) - L(-2h))) / 12h */
    double Lk[4], steps_h[4] = {h, -h, 2 * h, -2 * h};
    for (int k = 0; k < 4; k++) {
        add_scaled(&s, W, steps_h[k], D);
        Lk[k] = dln_host_loss(&s, W, &d);
        add_scaled(&s, W, -steps_h[k], D);
    }
    double fd = (8 * (Lk[0] - Lk[1]) - (Lk[2] - Lk[3])) / (12 * h);
    /* two steps (replaying the captured graph where there is one) against the host loss of
     * W_{t+1} = W_t - lr G_t, G_t downloaded from the backend */
    double lr = 0.002 * L0 / gsq, L[2], ref[2];
    run_ctx c = {be, &net, lr, NULL, 0};
    if (capture(&c, use_graph, &g)) {
        fail("check capture", err);
        goto done;
    }
    c.graph = g;
    for (int t = 0; t < 2; t++) {
        add_scaled(&s, W, -lr, G);
        ref[t] = dln_host_loss(&s, W, &d);
        if (run_once(&c) || be->ops->read_slots(be, sl, 1) || download_set(be, net.G, H, G)) {
            fail("check step", err);
            goto done;
        }
        L[t] = 0.5 * sl[0];
    }
    double e_loss = bench_rel(L0, ref0), e_grad = bench_rel(fd, dd), e1 = bench_rel(L[0], ref[0]),
           e2 = bench_rel(L[1], ref[1]), e_gsq = bench_rel(gslot, gsq);
    int ok = e_loss <= tol_loss && e_grad <= tol_grad && e1 <= tol_loss && e2 <= tol_loss && e_gsq <= tol_loss &&
             L[1] <= L0 * (1 + tol_loss); /* a descent step (to the precision's resolution) */
    printf("check depth %3d (dims 7,5..9,6; n=11%s) rel err: loss %.1e, |G|^2 %.1e, gradient vs finite "
           "difference %.1e, steps 1,2 %.1e %.1e: %s\n",
           H, g ? "; graph" : "", e_loss, e_gsq, e_grad, e1, e2, ok ? "ok" : "FAILED");
    bj_obj(j, NULL);
    bj_int(j, "depth", H);
    bj_num(j, "loss_rel_err", e_loss);
    bj_num(j, "grad_sumsq_rel_err", e_gsq);
    bj_num(j, "grad_fd_rel_err", e_grad);
    bj_num(j, "step1_loss_rel_err", e1);
    bj_num(j, "step2_loss_rel_err", e2);
    bj_num(j, "tol_loss", tol_loss);
    bj_num(j, "tol_grad", tol_grad);
    bj_bool(j, "graph", g != NULL);
    bj_bool(j, "ok", ok);
    bj_end_obj(j);
    rc = ok ? 0 : 1;
done:
    if (g) be->ops->graph_destroy(be, g);
    dln_net_destroy(&net);
    dln_weights_free(s.depth, W);
    dln_weights_free(s.depth, G);
    dln_weights_free(s.depth, D);
    dln_shape_free(&s);
    free(d.X);
    free(d.Y);
    return rc;
}

typedef struct {
    int width, depth, m, graph, checked;
    double flops, bytes, loss0, loss1, check_err;
    bench_timing step, bare;
    char skip[128];
} point;

/* One grid point: square layers of width w, depth H, n = m columns. */
static int run_point(dln_backend *be, const bench_opts *o, int w, int H, int m, double check_limit, int use_graph,
                     int do_bare, point *pt, dln_error *err)
{
    memset(pt, 0, sizeof *pt);
    pt->width = w, pt->depth = H, pt->m = m;
    int *hidden = malloc(sizeof(int) * (size_t)(H > 1 ? H - 1 : 1)), rc = 1;
    for (int i = 0; i < H - 1; i++) hidden[i] = w;
    dln_shape s = {0, NULL};
    double **W = NULL;
    dln_graph *g_step = NULL, *g_bare = NULL;
    dln_net net, net2; /* the step's, and the bare GEMMs' own (they overwrite G and A) */
    memset(&net, 0, sizeof net);
    memset(&net2, 0, sizeof net2);
    dln_data d = {w, w, m, NULL, NULL};
    if (dln_shape_make(H, w, w, hidden, H - 1, &s, err)) goto out;
    pt->flops = step_flops(&s, m);
    pt->bytes = step_bytes(&s, m, dln_dtype_size(o->dtype));
    size_t need = dln_net_bytes(&s, m, o->dtype, 0, 0) * (do_bare ? 2 : 1), fb = 0, tb = 0;
    double host = 8.0 * (3.0 * w * m + (double)H * w * w);
    double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (be->ops->mem_info(be, &fb, &tb)) goto out;
    if ((tb && need > fb / 10 * 9) || (phys > 0 && host + (tb ? 0 : (double)need) > 0.7 * phys)) {
        snprintf(pt->skip, sizeof pt->skip, "needs %.3g GB on the backend, %.3g GB on the host", need / 1e9, host / 1e9);
        rc = 0;
        goto out;
    }
    d.X = bench_normals((size_t)w * m, o->seed, 21);
    d.Y = bench_normals((size_t)w * m, o->seed, 22);
    if (!d.X || !d.Y) goto out;
    for (size_t e = 0; e < (size_t)w * m; e++) d.Y[e] = 0.5 * d.X[e] + 0.1 * d.Y[e];
    double sl[2];
    if (dln_init_weights(&s, DLN_INIT_ORTHOGONAL, 1.0, o->seed, &W, err) ||
        dln_net_create(be, &s, m, o->dtype, 0, 0, &net) || dln_net_set_data(&net, d.X, d.Y) ||
        dln_net_set_weights(&net, W) || dln_net_forward(&net, net.W, 0) || dln_net_backward(&net, net.W, 1) ||
        be->ops->read_slots(be, sl, 2) ||
        (do_bare && (dln_net_create(be, &s, m, o->dtype, 0, 0, &net2) || dln_net_set_data(&net2, d.X, d.Y) ||
                     dln_net_set_weights(&net2, W)))) {
        fail("set-up", err);
        goto out;
    }
    pt->loss0 = 0.5 * sl[0];
    double tol = o->math == DLN_MATH_TF32 ? 5e-2 : o->dtype == DLN_F32 ? 1e-3 : 1e-9;
    if (pt->flops / 3 <= check_limit) {
        if (dln_net_get_weights(&net, W)) goto out;
        pt->check_err = bench_rel(pt->loss0, dln_host_loss(&s, W, &d));
        pt->checked = 1;
        if (!(pt->check_err <= tol)) {
            fprintf(stderr, "step: width %d depth %d: loss %.17g differs from the host's by %.2e (tolerance %.0e)\n",
                    w, H, pt->loss0, pt->check_err, tol);
            goto out;
        }
    }
    /* a step size well inside stability for orthogonal layers: sigma_1(X)^2 <= (sqrt(w) + sqrt(m))^2 */
    double sx = sqrt((double)w) + sqrt((double)m);
    run_ctx c = {be, &net, 0.25 / (H * sx * sx), NULL, 0}, c2 = {be, &net2, 0, NULL, 1};
    if (capture(&c, use_graph, &g_step) || (do_bare && capture(&c2, use_graph, &g_bare))) {
        fail("capturing a graph", err);
        goto out;
    }
    c.graph = g_step;
    c2.graph = g_bare;
    pt->graph = g_step != NULL;
    if (bench_time2(be, run_once, &c, do_bare ? run_once : NULL, &c2, o, &pt->step, &pt->bare) ||
        be->ops->read_slots(be, sl, 1)) {
        fail("timing", err);
        goto out;
    }
    pt->loss1 = 0.5 * sl[0];
    if (!isfinite(pt->loss1) || pt->loss1 > pt->loss0 * (1 + tol)) {
        fprintf(stderr, "step: width %d depth %d: the loss went from %g to %g while timing\n", w, H, pt->loss0,
                pt->loss1);
        goto out;
    }
    rc = 0;
out:
    if (g_step) be->ops->graph_destroy(be, g_step);
    if (g_bare) be->ops->graph_destroy(be, g_bare);
    dln_net_destroy(&net);
    dln_net_destroy(&net2);
    dln_weights_free(s.depth, W);
    dln_shape_free(&s);
    free(d.X);
    free(d.Y);
    free(hidden);
    return rc;
}

static void usage(void)
{
    fputs("usage: step [options]\n\n"
          "Time per training step (update + forward + backward) of square deep linear networks,\n"
          "against the same 3H-1 GEMMs issued bare; checked against host references first.\n\n"
          "Grid:\n"
          "  --widths LIST       layer widths dx = d_i = dy (default 64,256)\n"
          "  --depths LIST       numbers of weight matrices H (default 2,8)\n"
          "  --m N               columns of the data; 0 means m = width (default 0)\n"
          "  --check-limit F     check each point's initial loss on the host when its forward\n"
          "                      costs at most F flops (default 2e10)\n"
          "  --no-graph          issue every operation instead of replaying a captured graph\n"
          "  --no-bare           skip the bare-GEMM comparison\n\n",
          stdout);
    bench_common_help(stdout);
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o);
    int widths[MAXGRID] = {64, 256}, nw = 2, depths[MAXGRID] = {2, 8}, nd = 2, m_fixed = 0, use_graph = 1, do_bare = 1;
    double check_limit = 2e10;
    for (int i = 1; i < argc; i++) {
        int missing = 0, bad = 0, r = bench_common_flag(argc, argv, &i, &o);
        const char *v;
        if (r == 2) return 2;
        if (r == 1) continue;
        if (!strcmp(argv[i], "--help")) return usage(), 0;
        else if (!strcmp(argv[i], "--no-graph")) use_graph = 0;
        else if (!strcmp(argv[i], "--no-bare")) do_bare = 0;
        else if ((v = bench_flag(argc, argv, &i, "--widths", &missing))) {
            if (bench_parse_ints("--widths", v, 1, DLN_MAX_DIM, widths, MAXGRID, &nw)) return 2;
        } else if ((v = bench_flag(argc, argv, &i, "--depths", &missing))) {
            if (bench_parse_ints("--depths", v, 1, DLN_MAX_DEPTH, depths, MAXGRID, &nd)) return 2;
        } else if (!missing && (bench_int_flag(argc, argv, &i, "--m", 0, DLN_MAX_DIM, &m_fixed, &bad) ||
                                bench_double_flag(argc, argv, &i, "--check-limit", 0, 1e300, &check_limit, &bad))) {
            if (bad) return 2;
        } else {
            fprintf(stderr, "step: %s '%s' (see --help)\n", missing ? "missing value for" : "unknown option", argv[i]);
            return 2;
        }
    }
    dln_error err;
    dln_error_clear(&err);
    dln_backend *be = NULL;
    int rc = bench_backend(&o, &err, &be);
    if (rc) return rc;
    char dev[256];
    dln_devices_describe(dev, sizeof dev);
    printf("step: backend %s, precision %s, devices: %s\n", be->ops->name, o.precision, dev);
    bench_json j;
    if (bench_json_begin(&j, o.json_path, "step", be, &o, argc, argv)) return dln_backend_destroy(be), 1;
    bj_arr(&j, "checks");
    for (int k = 0; k < nd && !rc; k++) {
        int seen = 0;
        for (int q = 0; q < k; q++) seen |= depths[q] == depths[k];
        if (!seen) rc = check_small(be, &o, depths[k], use_graph, &err, &j);
    }
    bj_end_arr(&j);
    if (rc) {
        fprintf(stderr, "step: the check failed: nothing was timed\n");
        bj_bool(&j, "ok", 0);
        bench_json_end(&j);
        dln_backend_destroy(be);
        return 1;
    }
    printf("\n%6s %5s %6s | %-30s %9s | %-30s %9s | %9s\n", "width", "depth", "m", "step: ms median [min, max]",
           "GFLOP/s", "bare 3H-1 GEMMs: ms [min, max]", "GFLOP/s", "step/bare");
    bj_arr(&j, "results");
    for (int a = 0; a < nd && !rc; a++)
        for (int b = 0; b < nw && !rc; b++) {
            point pt;
            int m = m_fixed ? m_fixed : widths[b];
            dln_error_clear(&err);
            rc = run_point(be, &o, widths[b], depths[a], m, check_limit, use_graph, do_bare, &pt, &err);
            if (rc) break;
            char sc[64] = "", bc[64] = "-";
            double gs = pt.flops / pt.step.s.median / 1e9, gb = do_bare ? pt.flops / pt.bare.s.median / 1e9 : NAN;
            if (pt.skip[0]) {
                printf("%6d %5d %6d | skipped: %s\n", pt.width, pt.depth, pt.m, pt.skip);
            } else {
                snprintf(sc, sizeof sc, "%.4g [%.4g, %.4g]", 1e3 * pt.step.s.median, 1e3 * pt.step.s.min,
                         1e3 * pt.step.s.max);
                if (do_bare)
                    snprintf(bc, sizeof bc, "%.4g [%.4g, %.4g]", 1e3 * pt.bare.s.median, 1e3 * pt.bare.s.min,
                             1e3 * pt.bare.s.max);
                printf("%6d %5d %6d | %-30s %9.2f | %-30s %9.2f | %9.3f\n", pt.width, pt.depth, pt.m, sc, gs, bc, gb,
                       do_bare ? pt.step.s.median / pt.bare.s.median : NAN);
            }
            fflush(stdout);
            bj_obj(&j, NULL);
            bj_int(&j, "width", pt.width);
            bj_int(&j, "depth", pt.depth);
            bj_int(&j, "m", pt.m);
            bj_int(&j, "gemms_per_step", 3L * pt.depth - 1);
            bj_num(&j, "flops_per_step", pt.flops);
            bj_num(&j, "bytes_per_step_min", pt.bytes);
            if (pt.skip[0]) {
                bj_str(&j, "skipped", pt.skip);
            } else {
                bj_bool(&j, "graph", pt.graph);
                bj_stats(&j, "step", &pt.step);
                bj_num(&j, "step_gflops", gs);
                if (do_bare) {
                    bj_stats(&j, "bare_gemms", &pt.bare);
                    bj_num(&j, "bare_gflops", gb);
                    bj_num(&j, "step_over_bare", pt.step.s.median / pt.bare.s.median);
                }
                bj_num(&j, "loss_start", pt.loss0);
                bj_num(&j, "loss_end", pt.loss1);
                bj_bool(&j, "host_checked", pt.checked);
                bj_num(&j, "host_check_rel_err", pt.checked ? pt.check_err : NAN);
            }
            bj_end_obj(&j);
        }
    bj_end_arr(&j);
    bj_bool(&j, "ok", rc == 0);
    if (bench_json_end(&j) && !rc) rc = 1;
    dln_backend_destroy(be);
    return rc ? 1 : 0;
}
