/* step.c: time per training step of the deep linear network: the library's one step
 * (dln_network_step on a network of one member: the update W -= lr G, then the forward and
 * backward chains at the new weights, with the loss and gradient norm reduced), over a grid of widths and
 * depths with square layers, against the same 3H - 1 GEMMs issued bare through
 * dln_gemm on buffers of the same shapes. Where the backend captures graphs (CUDA) the
 * step replays its captured graph, as the trainer does, and the bare GEMMs are captured
 * and replayed too (--no-graph: both issue every operation).
 *
 * Checked before anything is timed, on a small non-square network for every depth of the
 * grid: the loss against the host reference (src/oracle), the gradient against a
 * central finite difference of the host loss along a random direction, and two steps
 * against the host loss of the host-updated weights. At each grid point the initial loss
 * is checked against the host reference when the host can afford it (--check-limit), and
 * after timing the loss must be finite and not above the start.
 *
 * flops per step = 2 n (3 sum_i d_i d_{i-1} - d_1 d_0): H forward GEMMs, H gradient
 * GEMMs and H - 1 input-gradient GEMMs (the first layer's is not needed). */
#include "bench_common.h"

#define MAXGRID 32

/* The bare baseline's own buffers, shaped as the network's: W[i] (d_{i+1}, d_i),
 * A[i] (d_i, n) with A[0] the input, G[i] shaped as W[i]. */
typedef struct {
    dln_backend *be;
    int depth;
    dln_mat *W, *A, *G;
    dln_graph *graph;
} bare_gemms;

static void bare_free(bare_gemms *b)
{
    for (int i = 0; i <= b->depth; i++) {
        if (b->A) dln_mat_free(b->be, &b->A[i]);
        if (i < b->depth && b->W) dln_mat_free(b->be, &b->W[i]);
        if (i < b->depth && b->G) dln_mat_free(b->be, &b->G[i]);
    }
    free(b->W), free(b->A), free(b->G);
    dln_graph_destroy(b->be, b->graph);
    memset(b, 0, sizeof *b);
}

/* The 3H - 1 GEMMs of a step, in the step's order, and nothing else. */
static int bare_issue(bare_gemms *b)
{
    int H = b->depth;
    for (int i = 1; i <= H; i++) DLN_TRY(dln_gemm(b->be, 0, 0, 1.0, &b->W[i - 1], &b->A[i - 1], 0.0, &b->A[i]));
    for (int i = H; i >= 1; i--) {
        DLN_TRY(dln_gemm(b->be, 0, 1, 1.0, &b->A[i], &b->A[i - 1], 0.0, &b->G[i - 1]));
        if (i > 1) DLN_TRY(dln_gemm(b->be, 1, 0, 1.0, &b->W[i - 1], &b->A[i], 0.0, &b->A[i - 1]));
    }
    return DLN_OK;
}

/* Buffers of the shapes of s on n columns, filled with the given host weights and data
 * (uploaded, so the GEMMs see the same values as the step), captured where allowed. */
static int bare_make(bare_gemms *b, dln_backend *be, const dln_shape *s, int n, dln_dtype t, double *const *W,
                     const double *X, int use_graph)
{
    int H = s->depth;
    memset(b, 0, sizeof *b);
    b->be = be, b->depth = H;
    b->W = calloc((size_t)H, sizeof(dln_mat)), b->G = calloc((size_t)H, sizeof(dln_mat));
    b->A = calloc((size_t)H + 1, sizeof(dln_mat));
    if (!b->W || !b->G || !b->A) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    for (int i = 0; i <= H; i++) DLN_TRY(dln_mat_alloc(be, &b->A[i], s->dims[i], n, t));
    for (int i = 0; i < H; i++) {
        DLN_TRY(dln_mat_alloc(be, &b->W[i], s->dims[i + 1], s->dims[i], t));
        DLN_TRY(dln_mat_alloc(be, &b->G[i], s->dims[i + 1], s->dims[i], t));
        DLN_TRY(dln_upload(be, &b->W[i], W[i], s->dims[i + 1]));
    }
    DLN_TRY(dln_upload(be, &b->A[0], X, s->dims[0]));
    if (!use_graph || !dln_backend_supports(be, DLN_CAP_GRAPHS)) return DLN_OK;
    DLN_TRY(dln_capture_begin(be));
    int rc_ops = bare_issue(b);
    DLN_TRY(dln_capture_end(be, &b->graph));
    return rc_ops;
}

static int run_bare(void *p)
{
    bare_gemms *b = p;
    return b->graph ? dln_graph_launch(b->be, b->graph) : bare_issue(b);
}

typedef struct {
    dln_network *net;
    int measure;
} step_ctx;

static int run_step(void *p)
{
    step_ctx *c = p;
    return dln_network_step(c->net, c->measure);
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

/* W[i] -= lr G[i] over every layer */
static void host_update(const dln_shape *s, double **W, double lr, double *const *G)
{
    for (int i = 0; i < s->depth; i++)
        for (size_t e = 0; e < (size_t)s->dims[i + 1] * s->dims[i]; e++) W[i][e] -= lr * G[i][e];
}

/* Small non-square check of loss, gradient and two steps at depth H (see the header). */
static int check_small(dln_backend *be, const bench_opts *o, int H, int use_graph, dln_error *err, dln_json *j)
{
    enum { MAXH = 256 };
    int dx = 7, dy = 6, m = 11, hidden[MAXH];
    if (H > MAXH) return fprintf(stderr, "step: the check supports depth <= %d\n", MAXH), 1;
    for (int i = 0; i < H - 1; i++) hidden[i] = 5 + (3 * i) % 5;
    int is32 = o->dtype == DLN_F32, tf32 = o->math == DLN_MATH_TF32;
    double tol_loss = tf32 ? 2e-2 : is32 ? 1e-4 : 1e-11, tol_grad = tf32 ? 5e-2 : is32 ? 1e-3 : 1e-6;
    dln_shape s = {0, NULL};
    double **W = NULL, **G = NULL, **D = NULL;
    dln_network *net = NULL;
    dln_network_stats st;
    dln_data d = {dx, dy, m, bench_normals((size_t)dx * m, o->seed, 11), bench_normals((size_t)dy * m, o->seed, 12)};
    int rc = 1;
    if (!d.X || !d.Y || dln_shape_make(H, dx, dy, hidden, H - 1, &s, err) ||
        dln_init_weights(&s, DLN_INIT_GAUSSIAN, 1.0, o->seed, &W, err) ||
        dln_init_weights(&s, DLN_INIT_GAUSSIAN, 1.0, o->seed + 1, &G, err) ||
        dln_init_weights(&s, DLN_INIT_GAUSSIAN, 1.0, o->seed + 2, &D, err) ||
        dln_network_create(be, &s, &(dln_network_config){.n = m, .dtype = o->dtype}, &net) ||
        dln_network_use_graphs(net, use_graph) || dln_network_set_data(net, d.X, d.Y) ||
        dln_network_set_weights(net, 0, W) || dln_network_evaluate(net) || dln_network_read(net, &st) ||
        dln_network_get_weights(net, 0, W) || dln_network_get_gradients(net, 0, G)) {
        fail("check set-up, forward and backward", err);
        goto done;
    }
    /* W now holds the weights exactly as the backend stores them (fp32-rounded in fp32) */
    double gslot = st.grad_sumsq, L0 = st.loss, ref0 = ref_loss(&s, W, &d), gsq = 0, dd = 0;
    for (int i = 0; i < H; i++)
        for (size_t e = 0; e < (size_t)s.dims[i + 1] * s.dims[i]; e++) gsq += G[i][e] * G[i][e], dd += G[i][e] * D[i][e];
    double fd = ref_directional_derivative(&s, W, D, &d, 2e-3 / H);
    /* two steps against the host loss of W_{t+1} = W_t - lr G_t, G_t downloaded from the backend */
    double lr = 0.002 * L0 / gsq, L[2], ref[2];
    for (int t = 0; t < 2; t++) {
        host_update(&s, W, lr, G);
        ref[t] = ref_loss(&s, W, &d);
        if (dln_network_set_rates(net, &lr, NULL) || dln_network_step(net, 1) || dln_network_read(net, &st) ||
            dln_network_get_gradients(net, 0, G)) {
            fail("check step", err);
            goto done;
        }
        L[t] = st.loss;
    }
    double e_loss = bench_rel(L0, ref0), e_grad = bench_rel(fd, dd), e1 = bench_rel(L[0], ref[0]),
           e2 = bench_rel(L[1], ref[1]), e_gsq = bench_rel(gslot, gsq);
    int graph = use_graph && dln_backend_supports(be, DLN_CAP_GRAPHS);
    int ok = e_loss <= tol_loss && e_grad <= tol_grad && e1 <= tol_loss && e2 <= tol_loss && e_gsq <= tol_loss &&
             L[1] <= L0 * (1 + tol_loss); /* a descent step (to the precision's resolution) */
    printf("check depth %3d (dims 7,5..9,6; n=11%s) rel err: loss %.1e, |G|^2 %.1e, gradient vs finite "
           "difference %.1e, steps 1,2 %.1e %.1e: %s\n",
           H, graph ? "; graph" : "", e_loss, e_gsq, e_grad, e1, e2, ok ? "ok" : "FAILED");
    dln_json_object(j, NULL);
    dln_json_int(j, "depth", H);
    dln_json_num(j, "loss_rel_err", e_loss);
    dln_json_num(j, "grad_sumsq_rel_err", e_gsq);
    dln_json_num(j, "grad_fd_rel_err", e_grad);
    dln_json_num(j, "step1_loss_rel_err", e1);
    dln_json_num(j, "step2_loss_rel_err", e2);
    dln_json_num(j, "tol_loss", tol_loss);
    dln_json_num(j, "tol_grad", tol_grad);
    dln_json_bool(j, "graph", graph);
    dln_json_bool(j, "ok", ok);
    dln_json_end_object(j);
    rc = ok ? 0 : 1;
done:
    dln_network_destroy(net);
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

/* One grid point: hidden layers of width w, depth H, n = m columns, input and output widths
 * dx, dy (0: w). */
static int run_point(dln_backend *be, const bench_opts *o, int w, int dx, int dy, int H, int m, double check_limit,
                     int use_graph, int do_bare, int measure, point *pt, dln_error *err)
{
    memset(pt, 0, sizeof *pt);
    dx = dx ? dx : w, dy = dy ? dy : w;
    pt->width = w, pt->depth = H, pt->m = m;
    int *hidden = malloc(sizeof(int) * (size_t)(H > 1 ? H - 1 : 1)), rc = 1;
    for (int i = 0; i < H - 1; i++) hidden[i] = w;
    dln_shape s = {0, NULL};
    double **W = NULL;
    dln_network *net = NULL;
    bare_gemms bare;
    memset(&bare, 0, sizeof bare);
    dln_data d = {dx, dy, m, NULL, NULL};
    if (dln_shape_make(H, dx, dy, hidden, H - 1, &s, err)) goto out;
    pt->flops = step_flops(&s, m);
    pt->bytes = step_bytes(&s, m, dln_dtype_size(o->dtype));
    size_t need = dln_network_bytes(&s, &(dln_network_config){.n = m, .dtype = o->dtype}) * (do_bare ? 2 : 1);
    size_t fb = 0, tb = 0;
    double host = 8.0 * ((double)(dx + 2 * dy) * m + (double)H * w * w);
    double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    if (dln_backend_mem_info(be, &fb, &tb)) goto out;
    if ((tb && need > fb / 10 * 9) || (phys > 0 && host + (tb ? 0 : (double)need) > 0.7 * phys)) {
        snprintf(pt->skip, sizeof pt->skip, "needs %.3g GB on the backend, %.3g GB on the host", need / 1e9, host / 1e9);
        rc = 0;
        goto out;
    }
    d.X = bench_normals((size_t)dx * m, o->seed, 21);
    d.Y = bench_normals((size_t)dy * m, o->seed, 22);
    if (!d.X || !d.Y) goto out;
    for (size_t j = 0; j < (size_t)m; j++) /* Y = X's first rows (cycled) / 2 + noise */
        for (int i = 0; i < dy; i++) d.Y[i + j * dy] = 0.5 * d.X[i % dx + j * dx] + 0.1 * d.Y[i + j * dy];
    dln_network_stats st;
    if (dln_init_weights(&s, DLN_INIT_ORTHOGONAL, 1.0, o->seed, &W, err) ||
        dln_network_create(be, &s, &(dln_network_config){.n = m, .dtype = o->dtype}, &net) ||
        dln_network_use_graphs(net, use_graph) || dln_network_set_data(net, d.X, d.Y) ||
        dln_network_set_weights(net, 0, W) || dln_network_evaluate(net) || dln_network_read(net, &st) ||
        (do_bare && bare_make(&bare, be, &s, m, o->dtype, W, d.X, use_graph))) {
        fail("set-up", err);
        goto out;
    }
    pt->loss0 = st.loss;
    double tol = o->math == DLN_MATH_TF32 ? 5e-2 : o->dtype == DLN_F32 ? 1e-3 : 1e-9;
    if (pt->flops / 3 <= check_limit) {
        if (dln_network_get_weights(net, 0, W)) goto out;
        pt->check_err = bench_rel(pt->loss0, ref_loss(&s, W, &d));
        pt->checked = 1;
        if (!(pt->check_err <= tol)) {
            fprintf(stderr, "step: width %d depth %d: loss %.17g differs from the host's by %.2e (tolerance %.0e)\n",
                    w, H, pt->loss0, pt->check_err, tol);
            goto out;
        }
    }
    /* a step size well inside stability for orthogonal layers: sigma_1(X)^2 <= (sqrt(dx) + sqrt(m))^2 */
    double sx = sqrt((double)dx) + sqrt((double)m);
    double lr = 0.25 / (H * sx * sx);
    step_ctx c = {net, measure};
    pt->graph = use_graph && dln_backend_supports(be, DLN_CAP_GRAPHS);
    if (dln_network_set_rates(net, &lr, NULL) || bench_time2(be, run_step, &c, do_bare ? run_bare : NULL, &bare, o, &pt->step, &pt->bare) ||
        dln_network_read(net, &st)) {
        fail("timing", err);
        goto out;
    }
    pt->loss1 = st.loss;
    if (!isfinite(pt->loss1) || pt->loss1 > pt->loss0 * (1 + tol)) {
        fprintf(stderr, "step: width %d depth %d: the loss went from %g to %g while timing\n", w, H, pt->loss0,
                pt->loss1);
        goto out;
    }
    rc = 0;
out:
    bare_free(&bare);
    dln_network_destroy(net);
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
          "  --dx N, --dy N      input and output widths instead (0: the width; default 0)\n"
          "  --unmeasured        steps without the loss and gradient-norm reductions (the\n"
          "                      trainer's steps between checks)\n"
          "  --threads N         the CPU backend's threads for the pieces of long products\n"
          "                      (0: one per CPU; default 1)\n"
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
    int dx = 0, dy = 0, measure = 1, threads = 1;
    double check_limit = 2e10;
    const bench_flag_spec specs[] = {
        {"--widths", BF_INTS, widths, 1, DLN_MAX_DIM, MAXGRID, &nw},
        {"--depths", BF_INTS, depths, 1, DLN_MAX_DEPTH, MAXGRID, &nd},
        {"--m", BF_INT, &m_fixed, 0, DLN_MAX_DIM, 0, NULL},
        {"--check-limit", BF_DOUBLE, &check_limit, 0, 1e300, 0, NULL},
        {"--no-graph", BF_SWITCH, &use_graph, 0, -1, 0, NULL},
        {"--no-bare", BF_SWITCH, &do_bare, 0, -1, 0, NULL},
        {"--dx", BF_INT, &dx, 0, DLN_MAX_DIM, 0, NULL},
        {"--dy", BF_INT, &dy, 0, DLN_MAX_DIM, 0, NULL},
        {"--unmeasured", BF_SWITCH, &measure, 0, -1, 0, NULL},
        {"--threads", BF_INT, &threads, 0, 1024, 0, NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL},
    };
    int parsed = bench_parse_args(argc, argv, specs, &o, usage);
    if (parsed) return parsed == 1 ? 0 : 2;
    dln_error err;
    dln_backend *be = NULL;
    int rc = bench_backend("step", &o, &err, &be);
    if (!rc && threads != 1 && dln_backend_set_threads(be, threads)) rc = fail("--threads", &err);
    if (rc) return rc;
    dln_json j;
    bench_json_begin(&j, "step", be, &o, argc, argv);
    dln_json_array(&j, "checks");
    for (int k = 0; k < nd && !rc; k++) {
        int seen = 0;
        for (int q = 0; q < k; q++) seen |= depths[q] == depths[k];
        if (!seen) rc = check_small(be, &o, depths[k], use_graph, &err, &j);
    }
    dln_json_end_array(&j);
    if (rc) {
        fprintf(stderr, "step: the check failed: nothing was timed\n");
        bench_json_end(&j, &o, 0);
        dln_backend_destroy(be);
        return 1;
    }
    printf("\n%6s %5s %6s | %-30s %9s | %-30s %9s | %9s\n", "width", "depth", "m", "step: ms median [min, max]",
           "GFLOP/s", "bare 3H-1 GEMMs: ms [min, max]", "GFLOP/s", "step/bare");
    dln_json_array(&j, "results");
    for (int a = 0; a < nd && !rc; a++)
        for (int b = 0; b < nw && !rc; b++) {
            point pt;
            int m = m_fixed ? m_fixed : widths[b];
            dln_error_clear(&err);
            rc = run_point(be, &o, widths[b], dx, dy, depths[a], m, check_limit, use_graph, do_bare, measure, &pt, &err);
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
            dln_json_object(&j, NULL);
            dln_json_int(&j, "width", pt.width);
            dln_json_int(&j, "dx", dx ? dx : pt.width);
            dln_json_int(&j, "dy", dy ? dy : pt.width);
            dln_json_bool(&j, "measured", measure);
            dln_json_int(&j, "depth", pt.depth);
            dln_json_int(&j, "m", pt.m);
            dln_json_int(&j, "gemms_per_step", 3L * pt.depth - 1);
            dln_json_num(&j, "flops_per_step", pt.flops);
            dln_json_num(&j, "bytes_per_step_min", pt.bytes);
            if (pt.skip[0]) {
                dln_json_str(&j, "skipped", pt.skip);
            } else {
                dln_json_bool(&j, "graph", pt.graph);
                bj_stats(&j, "step", &pt.step);
                dln_json_num(&j, "step_gflops", gs);
                if (do_bare) {
                    bj_stats(&j, "bare_gemms", &pt.bare);
                    dln_json_num(&j, "bare_gflops", gb);
                    dln_json_num(&j, "step_over_bare", pt.step.s.median / pt.bare.s.median);
                }
                dln_json_num(&j, "loss_start", pt.loss0);
                dln_json_num(&j, "loss_end", pt.loss1);
                dln_json_bool(&j, "host_checked", pt.checked);
                dln_json_num(&j, "host_check_rel_err", pt.checked ? pt.check_err : NAN);
            }
            dln_json_end_object(&j);
        }
    dln_json_end_array(&j);
    if (bench_json_end(&j, &o, rc == 0) && !rc) rc = 1;
    dln_backend_destroy(be);
    return rc ? 1 : 0;
}
