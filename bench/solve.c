/* solve.c: time and memory of dln_shallow_solve (the closed-form shallow optimum L*) by
 * both routes, against the bare backend factorisations each is made of, on the same
 * matrices, as dln_shallow_plan_route lists them:
 *   QR route: geqrf of X^T (m, dx), ormqr (Q^T) on Y^T (m, dy), geqrf of E (the rows of
 *     Q^T Y^T below dx), gesvd of R (dx, dx) with vectors, of M and of F = [Z; R_E] (values);
 *     "bare geqrf + ormqr" is the first two, each one call on the whole matrix;
 *   SVD route: gesvd of X^T (m, dx) with U and VT (of X when m < dx), of M and of Y^T.
 * The solver times include uploads and transposes. Memory: the peak resident set of the
 * process while one solve runs, above what it held before (the data and the benchmark's
 * own buffers): /proc/self/status VmHWM after VmHWM was reset through /proc/self/clear_refs
 * (Linux); reported as a multiple of the data size 8 (dx + dy) m bytes.
 *
 * Checked before anything is timed, at every size: each route's L*, least-squares value,
 * singular values and rank of X against the host reference ref_shallow (src/oracle:
 * LAPACKE_dgelsd least squares, then LAPACKE_dgesdd of the fitted values), and the two
 * routes' L* against each other (1e-10 relative). */
#include <float.h>
#include <lapacke.h>

#include "bench_common.h"

#define MAXGRID 32
enum { QR = 0, SVD = 1 };

typedef struct {
    dln_backend *be;
    const dln_data *d;
    dln_shallow_opts so;
} solve_ctx;

static int run_solve(void *p)
{
    solve_ctx *c = p;
    dln_shallow sh;
    int rc = dln_shallow_solve_opts(c->be, c->d, &c->so, &sh, dln_backend_error(c->be));
    if (!rc) dln_shallow_free(&sh);
    return rc;
}

/* One bare call: the operand (pristine) is copied into work before each timed call. */
typedef struct {
    dln_backend *be;
    dln_svd_call call;
    dln_mat src, work, U, VT, scratch_tau;
    const dln_mat *A, *tau; /* ormqr: the reflectors of X^T */
    double *s;
} bare_ctx;

static int prep_copy(void *p)
{
    bare_ctx *c = p;
    return dln_copy(c->be, &c->work, &c->src);
}

static int run_bare(void *p)
{
    bare_ctx *c = p;
    if (c->call.op == DLN_OP_GEQRF) return dln_geqrf(c->be, &c->work, &c->scratch_tau);
    if (c->call.op == DLN_OP_ORMQR) return dln_ormqr(c->be, 1, c->A, c->tau, &c->work);
    return dln_gesvd(c->be, &c->work, c->s, c->call.vectors ? &c->U : NULL, c->call.vectors ? &c->VT : NULL);
}

typedef struct {
    int dx, dy, m, k, r, blocks, block_rows, have[2];
    double L[2], Lref, err[2], err_routes, err_sx, mem[2], data_bytes;
    bench_timing solve[2], bare[2][DLN_SOLVER_MAX_CALLS];
    dln_svd_call plan[2][DLN_SOLVER_MAX_CALLS];
    int ncalls[2];
} point;

/* ---- memory: the peak resident set of one call ------------------------------------- */

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n)) v = atol(line + n);
    if (f) fclose(f);
    return v;
}

/* Bytes by which the resident set peaked above its level before fn ran (-1: unknown). */
static double peak_extra(int (*fn)(void *), void *ctx, int *rc)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int reset = f && fputs("5", f) >= 0;
    if (f && fclose(f)) reset = 0;
    long before = status_kb("VmRSS:");
    *rc = fn(ctx);
    long hwm = status_kb("VmHWM:");
    return reset && before >= 0 && hwm >= 0 ? 1024.0 * (double)(hwm - before) : -1.0;
}

/* ---- operands of the bare calls ------------------------------------------------------- */

typedef struct {
    dln_mat XT, XTf, tau, YT, QY, E, F, R, M, Y, X, MT;
} operands;

static void free_operands(dln_backend *be, operands *w)
{
    dln_mat *all[] = {&w->XT, &w->XTf, &w->tau, &w->YT, &w->QY, &w->E, &w->F, &w->R, &w->M, &w->Y, &w->X, &w->MT};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) dln_mat_free(be, all[i]);
}

/* Backend matrix (rows, cols) from host A (rows, cols), or its transpose when t. */
static int put(dln_backend *be, dln_mat *out, const double *A, int rows, int cols, int t)
{
    dln_mat tmp = {0, 0, 0, DLN_F64, NULL};
    DLN_TRY(dln_mat_alloc(be, out, t ? cols : rows, t ? rows : cols, DLN_F64));
    if (!t) return dln_upload(be, out, A, rows);
    DLN_TRY(dln_mat_alloc(be, &tmp, rows, cols, DLN_F64));
    int rc = dln_upload(be, &tmp, A, rows);
    if (!rc) rc = dln_transpose(be, out, &tmp);
    dln_mat_free(be, &tmp);
    return rc;
}

/* A fresh copy of src (a view or not). */
static int dup_mat(dln_backend *be, dln_mat *out, const dln_mat *src)
{
    DLN_TRY(dln_mat_alloc(be, out, src->rows, src->cols, DLN_F64));
    return dln_copy(be, out, src);
}

/* The QR route's operands from the data and M (dy, r): X^T, its factored copy and tau,
 * Y^T, Q^T Y^T, E, R, F = [Z; R_E]. */
static int qr_operands(dln_backend *be, const dln_data *d, const double *M, int r, operands *w)
{
    int dx = d->dx, dy = d->dy, m = d->m, e = m - dx, re = dy < e ? dy : e;
    DLN_TRY(put(be, &w->XT, d->X, dx, m, 1));
    DLN_TRY(dup_mat(be, &w->XTf, &w->XT));
    DLN_TRY(dln_mat_alloc(be, &w->tau, dx > dy ? dx : dy, 1, DLN_F64));
    DLN_TRY(dln_geqrf(be, &w->XTf, &w->tau));
    DLN_TRY(put(be, &w->YT, d->Y, dy, m, 1));
    DLN_TRY(dup_mat(be, &w->QY, &w->YT));
    DLN_TRY(dln_ormqr(be, 1, &w->XTf, &w->tau, &w->QY));
    dln_mat top = dln_mat_view(&w->XTf, 0, 0, dx, dx);
    DLN_TRY(dup_mat(be, &w->R, &top));
    DLN_TRY(dln_triu(be, &w->R));
    DLN_TRY(dln_mat_alloc(be, &w->F, dx + re, dy, DLN_F64));
    dln_mat z = dln_mat_view(&w->QY, 0, 0, dx, dy), fz = dln_mat_view(&w->F, 0, 0, dx, dy);
    DLN_TRY(dln_copy(be, &fz, &z));
    if (e > 0) {
        dln_mat ev = dln_mat_view(&w->QY, dx, 0, e, dy), ef, te;
        DLN_TRY(dup_mat(be, &w->E, &ev));
        DLN_TRY(dup_mat(be, &ef, &w->E));
        int rc = dln_mat_alloc(be, &te, dy, 1, DLN_F64);
        if (!rc) rc = dln_geqrf(be, &ef, &te);
        dln_mat rt = dln_mat_view(&ef, 0, 0, re, dy), fr = dln_mat_view(&w->F, dx, 0, re, dy);
        if (!rc) rc = dln_triu(be, &rt);
        if (!rc) rc = dln_copy(be, &fr, &rt);
        dln_mat_free(be, &ef);
        dln_mat_free(be, &te);
        DLN_TRY(rc);
    }
    return put(be, &w->M, M, dy, r, 0);
}

/* The pristine operand of a listed call. */
static const dln_mat *operand_of(const dln_svd_call *c, operands *w)
{
    switch (c->operand) {
    case DLN_SVD_OF_X: return c->op == DLN_OP_GESVD && !c->transposed ? &w->X : &w->XT;
    case DLN_SVD_OF_Y: return c->op == DLN_OP_GESVD && !c->transposed ? &w->Y : &w->YT;
    case DLN_SVD_OF_M: return &w->M;
    case DLN_SVD_OF_R: return &w->R;
    case DLN_SVD_OF_E: return &w->E;
    default: return &w->F;
    }
}

/* Times every call of plan[0..n) bare, on its operand (transposed when the call says). */
static int time_calls(dln_backend *be, const bench_opts *o, const dln_svd_call *plan, int n, operands *w,
                      bench_timing *out)
{
    for (int q = 0; q < n; q++) {
        bare_ctx c;
        memset(&c, 0, sizeof c);
        c.be = be, c.call = plan[q], c.A = &w->XTf, c.tau = &w->tau;
        const dln_mat *src = operand_of(&plan[q], w);
        int rc = 0;
        if (plan[q].op == DLN_OP_GESVD && plan[q].transposed &&
            (plan[q].operand == DLN_SVD_OF_M || plan[q].operand == DLN_SVD_OF_F)) {
            rc = dln_mat_alloc(be, &c.src, src->cols, src->rows, DLN_F64); /* stored as is: transpose */
            if (!rc) rc = dln_transpose(be, &c.src, src);
        } else {
            rc = dup_mat(be, &c.src, src);
        }
        if (!rc) rc = dln_mat_alloc(be, &c.work, c.src.rows, c.src.cols, DLN_F64);
        if (!rc) rc = dln_mat_alloc(be, &c.scratch_tau, c.src.cols > 0 ? c.src.cols : 1, 1, DLN_F64);
        if (!rc && plan[q].vectors) rc = dln_mat_alloc(be, &c.U, c.src.rows, c.src.cols, DLN_F64);
        if (!rc && plan[q].vectors) rc = dln_mat_alloc(be, &c.VT, c.src.cols, c.src.cols, DLN_F64);
        c.s = malloc(sizeof(double) * (size_t)(c.src.cols > 0 ? c.src.cols : 1));
        if (!rc && c.s) rc = bench_time_each(be, prep_copy, run_bare, &c, o, &out[q]);
        dln_mat *all[] = {&c.src, &c.work, &c.scratch_tau, &c.U, &c.VT};
        for (int i = 0; i < 5; i++) dln_mat_free(be, all[i]);
        free(c.s);
        if (rc || !c.s) return 1;
    }
    return 0;
}

static int fail(const char *what, dln_error *err)
{
    fprintf(stderr, "solve: %s: %s\n", what, err->msg[0] ? err->msg : "failed");
    return 1;
}

static int run_point(dln_backend *be, const bench_opts *o, int dx, int dy, int m, int k, int trank,
                     const int routes[2], int block_rows, int keep, point *pt, dln_error *err)
{
    memset(pt, 0, sizeof *pt);
    pt->dx = dx, pt->dy = dy, pt->m = m, pt->data_bytes = 8.0 * (dx + dy) * (double)m;
    dln_synth_opts so = {dx, dy, m, trank, 0.1, o->seed, DLN_LABELS_VALUES};
    dln_data d = {0, 0, 0, NULL, NULL};
    dln_shallow sh[2];
    memset(sh, 0, sizeof sh);
    operands w;
    memset(&w, 0, sizeof w);
    int rc = 1, nsx = dx < m ? dx : m, rank_ref = 0;
    double *sx_ref = malloc(sizeof(double) * (size_t)nsx), lstsq_ref = 0;
    solve_ctx c[2];
    if (!sx_ref || dln_synth_make(&so, &d, err)) {
        fail("set-up", err);
        goto out;
    }
    /* memory first, before the benchmark holds anything else: one solve by each route */
    for (int q = 0; q < 2; q++) {
        c[q].be = be, c[q].d = &d;
        dln_shallow_opts_default(&c[q].so);
        c[q].so.k = k, c[q].so.keep_compressed = keep, c[q].so.route = q == QR ? DLN_SOLVER_QR : DLN_SOLVER_SVD;
        c[q].so.block_rows = block_rows;
        if (!routes[q] || (q == QR && m < dx)) continue;
        pt->mem[q] = peak_extra(run_solve, &c[q], &rc);
        if (rc) {
            fail(q == QR ? "the QR route" : "the SVD route", err);
            goto out;
        }
        pt->have[q] = 1;
    }
    rc = 1;
    if (ref_shallow(&d, k < dx && k < dy ? k : (dx < dy ? dx : dy), &pt->Lref, &lstsq_ref, sx_ref, &rank_ref)) {
        fprintf(stderr, "solve: the host reference (LAPACKE_dgelsd/dgesdd) failed\n");
        goto out;
    }
    /* check first: each route against the host, and against each other */
    int ok = 1;
    for (int q = 0; q < 2; q++) {
        if (!pt->have[q]) continue;
        dln_shallow_opts s1 = c[q].so;
        s1.keep_compressed = 1;
        if (dln_shallow_solve_opts(be, &d, &s1, &sh[q], err)) {
            fail("solve", err);
            goto out;
        }
        pt->L[q] = sh[q].optimum, pt->k = sh[q].k, pt->r = sh[q].r;
        if (q == QR) pt->blocks = sh[q].qr_blocks, pt->block_rows = sh[q].qr_block_rows;
        pt->err[q] = fabs(sh[q].optimum - pt->Lref) / (fabs(pt->Lref) + 1e-13 * sh[q].y_half);
        double es = 0.0, el = fabs(sh[q].lstsq - lstsq_ref) / (lstsq_ref + 1e-13 * sh[q].y_half);
        for (int i = 0; i < nsx; i++) es = fmax(es, fabs(sh[q].sx[i] - sx_ref[i]) / sx_ref[0]);
        pt->err_sx = fmax(pt->err_sx, es);
        int okq = pt->err[q] <= 1e-9 && el <= 1e-9 && es <= 1e-12 && rank_ref == sh[q].rank_x;
        printf("check %s route dx %d dy %d m %d k %d: L* %.15g vs host %.15g (rel err %.1e), lstsq rel err %.1e, "
               "sigma(X) err %.1e, rank(X) %d/%d: %s\n",
               q == QR ? "QR" : "SVD", dx, dy, m, sh[q].k, sh[q].optimum, pt->Lref, pt->err[q], el, es, sh[q].rank_x,
               rank_ref, okq ? "ok" : "FAILED");
        ok = ok && okq;
    }
    if (pt->have[QR] && pt->have[SVD]) {
        pt->err_routes = fabs(pt->L[QR] - pt->L[SVD]) / fabs(pt->L[SVD]);
        printf("check QR against SVD route: L* rel diff %.1e: %s\n", pt->err_routes,
               pt->err_routes <= 1e-10 ? "ok" : "FAILED");
        ok = ok && pt->err_routes <= 1e-10;
    }
    if (!ok) goto out;
    /* the solver by each route, then the bare calls of its plan on the same matrices */
    for (int q = 0; q < 2; q++) {
        if (!pt->have[q]) continue;
        if (bench_time_each(be, NULL, run_solve, &c[q], o, &pt->solve[q])) {
            fail("timing dln_shallow_solve_opts", err);
            goto out;
        }
        pt->ncalls[q] = dln_shallow_plan_route(c[q].so.route, dx, dy, m, pt->r, pt->plan[q]);
        int built = q == QR ? !qr_operands(be, &d, sh[q].M, sh[q].r, &w)
                            : !put(be, m >= dx ? &w.XT : &w.X, d.X, dx, m, m >= dx) &&
                                  !put(be, dy < m ? &w.YT : &w.Y, d.Y, dy, m, dy < m) &&
                                  !put(be, &w.M, sh[q].M, dy, sh[q].r, 0);
        if (!built || time_calls(be, o, pt->plan[q], pt->ncalls[q], &w, pt->bare[q])) {
            fail("timing the bare calls", err);
            goto out;
        }
        free_operands(be, &w);
    }
    rc = 0;
out:
    free_operands(be, &w);
    free(sx_ref);
    dln_shallow_free(&sh[0]);
    dln_shallow_free(&sh[1]);
    dln_data_free(&d);
    return rc;
}

static void usage(void)
{
    fputs("usage: solve [options]\n\n"
          "Time and peak memory of dln_shallow_solve by the QR and the SVD route against the bare\n"
          "backend calls each is made of; L* checked against LAPACKE_dgelsd + dgesdd on the host first.\n\n"
          "Grid (synthetic data: X ~ N(0,1), Y = T X + 0.1 N(0,1), teacher rank --teacher-rank):\n"
          "  --sizes LIST        input dimensions dx (default: powers of two from 32 to --max)\n"
          "  --max N             largest dx of the default grid (default 256)\n"
          "  --m-factor F        samples m = F * dx (default 8; below 1 gives wide X)\n"
          "  --samples N         samples m for every dx (overrides --m-factor)\n"
          "  --dy N              output dimension; 0 means dy = dx (default 0)\n"
          "  --rank K            rank bound k; 0 means dx / 4 (default 0)\n"
          "  --teacher-rank N    0 means dx / 8 (default 0)\n"
          "  --route R           qr, svd or both (default both)\n"
          "  --block-rows B      QR route: rows of X^T per block; 0: the solver's choice (default 0)\n"
          "  --keep              also build the compressed pair (C, M), as dln train does\n\n",
          stdout);
    bench_common_help(stdout);
}

/* "ms" of a timing, or "-" when absent. */
static const char *ms(char *buf, size_t n, int have, double s)
{
    if (have) snprintf(buf, n, "%.4g", 1e3 * s);
    else snprintf(buf, n, "-");
    return buf;
}

static double sum_calls(const point *p, int q, int first, int last)
{
    double s = 0.0;
    for (int i = first; i < last && i < p->ncalls[q]; i++) s += p->bare[q][i].s.median;
    return s;
}

static void put_point(dln_json *j, const point *p, int keep)
{
    static const char *ops[] = {"gesvd", "geqrf", "ormqr"};
    static const char *what[] = {"X", "M", "Y", "R", "E", "F"};
    dln_json_object(j, NULL);
    dln_json_int(j, "dx", p->dx);
    dln_json_int(j, "dy", p->dy);
    dln_json_int(j, "m", p->m);
    dln_json_int(j, "k", p->k);
    dln_json_int(j, "rank_x", p->r);
    dln_json_bool(j, "keep_compressed", keep);
    dln_json_num(j, "data_bytes", p->data_bytes);
    dln_json_num(j, "optimum_host_ref", p->Lref);
    dln_json_num(j, "sigma_x_err_rel_sigma1", p->err_sx);
    if (p->have[QR] && p->have[SVD]) dln_json_num(j, "optimum_rel_diff_qr_svd", p->err_routes);
    for (int q = 0; q < 2; q++) {
        if (!p->have[q]) continue;
        dln_json_object(j, q == QR ? "qr" : "svd");
        if (q == QR) {
            dln_json_int(j, "blocks", p->blocks);
            dln_json_int(j, "block_rows", p->block_rows);
        }
        dln_json_num(j, "optimum", p->L[q]);
        dln_json_num(j, "optimum_rel_err", p->err[q]);
        dln_json_num(j, "peak_rss_above_data_bytes", p->mem[q]);
        bj_stats(j, "solve", &p->solve[q]);
        dln_json_array(j, "bare_calls");
        for (int i = 0; i < p->ncalls[q]; i++) {
            const dln_svd_call *c = &p->plan[q][i];
            dln_json_object(j, NULL);
            dln_json_str(j, "op", ops[c->op]);
            dln_json_str(j, "operand", what[c->operand]);
            dln_json_bool(j, "transposed", c->transposed);
            dln_json_int(j, "rows", c->rows);
            dln_json_int(j, "cols", c->cols);
            dln_json_bool(j, "vectors", c->vectors);
            bj_stats(j, "time", &p->bare[q][i]);
            dln_json_end_object(j);
        }
        dln_json_end_array(j);
        dln_json_num(j, "bare_sum_median_s", sum_calls(p, q, 0, DLN_SOLVER_MAX_CALLS));
        if (q == QR) dln_json_num(j, "bare_geqrf_ormqr_median_s", sum_calls(p, q, 0, 2));
        dln_json_end_object(j);
    }
    if (p->have[QR] && p->have[SVD])
        dln_json_num(j, "svd_over_qr_solve", p->solve[SVD].s.median / p->solve[QR].s.median);
    dln_json_end_object(j);
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o);
    o.warmup = 1;
    o.reps = 5;
    int sizes[MAXGRID], ns = 0, maxd = 256, dy_fixed = 0, k_fixed = 0, tr_fixed = 0, keep = 0, samples = 0, br = 0;
    char route[8] = "both";
    const char *route_arg = NULL;
    double mf = 8;
    const bench_flag_spec specs[] = {
        {"--sizes", BF_INTS, sizes, 1, DLN_MAX_DIM, MAXGRID, &ns},
        {"--max", BF_INT, &maxd, 1, DLN_MAX_DIM, 0, NULL},
        {"--m-factor", BF_DOUBLE, &mf, 1e-6, 1e6, 0, NULL},
        {"--samples", BF_INT, &samples, 0, DLN_MAX_DIM, 0, NULL},
        {"--dy", BF_INT, &dy_fixed, 0, DLN_MAX_DIM, 0, NULL},
        {"--rank", BF_INT, &k_fixed, 0, DLN_MAX_DIM, 0, NULL},
        {"--teacher-rank", BF_INT, &tr_fixed, 0, DLN_MAX_DIM, 0, NULL},
        {"--route", BF_STRING, &route_arg, 0, 0, 0, NULL},
        {"--block-rows", BF_INT, &br, 0, DLN_MAX_DIM, 0, NULL},
        {"--keep", BF_SWITCH, &keep, 0, 1, 0, NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL},
    };
    int parsed = bench_parse_args(argc, argv, specs, &o, usage);
    if (parsed) return parsed == 1 ? 0 : 2;
    if (route_arg) snprintf(route, sizeof route, "%s", route_arg);
    int routes[2] = {strcmp(route, "svd") != 0, strcmp(route, "qr") != 0};
    if (strcmp(route, "qr") && strcmp(route, "svd") && strcmp(route, "both"))
        return fprintf(stderr, "solve: --route: expected qr, svd or both, got '%s'\n", route), 2;
    if (!ns)
        for (int s = 32; s <= maxd && ns < MAXGRID; s *= 2) sizes[ns++] = s;
    if (!ns) return fprintf(stderr, "solve: --max %d leaves no size (the default grid starts at 32)\n", maxd), 2;
    dln_error err;
    dln_backend *be = NULL;
    int rc = bench_backend("solve", &o, &err, &be);
    if (rc) return rc;
    printf("solve: the factorisations run in fp64 whatever the precision\n");
    dln_json j;
    bench_json_begin(&j, "solve", be, &o, argc, argv);
    static point pts[MAXGRID];
    for (int a = 0; a < ns && !rc; a++) {
        int dx = sizes[a], dy = dy_fixed ? dy_fixed : dx, m = samples ? samples : (int)fmax(1, round(mf * dx));
        int k = k_fixed ? k_fixed : (dx / 4 > 0 ? dx / 4 : 1), tr = tr_fixed ? tr_fixed : (dx / 8 > 0 ? dx / 8 : 1);
        dln_error_clear(&err);
        rc = run_point(be, &o, dx, dy, m, k, tr, routes, br, keep, &pts[a], &err);
    }
    if (rc) {
        fprintf(stderr, "solve: stopped: a check or a backend call failed\n");
        bench_json_end(&j, &o, 0);
        dln_backend_destroy(be);
        return 1;
    }
    printf("\n(ms: medians; mem: peak resident set during one solve above the data held, / data size)\n");
    printf("%5s %4s %7s %4s %6s | %-10s %-10s %-9s %-10s %-7s | %-10s %-10s %-7s | %-8s | %-7s %-7s\n", "dx", "dy", "m",
           "k", "blocks", "QR solve", "geqrf+orm", "solve/gq", "QR plan", "solve/p", "SVD solve", "SVD plan", "solve/p",
           "SVD/QR", "mem QR", "mem SVD");
    dln_json_array(&j, "results");
    for (int a = 0; a < ns; a++) {
        point *p = &pts[a];
        char b[11][32];
        int hq = p->have[QR], hs = p->have[SVD];
        double tq = p->solve[QR].s.median, ts = p->solve[SVD].s.median, gq = sum_calls(p, QR, 0, 2);
        double pq = sum_calls(p, QR, 0, DLN_SOLVER_MAX_CALLS), ps = sum_calls(p, SVD, 0, DLN_SOLVER_MAX_CALLS);
        snprintf(b[2], 32, hq ? "%.3f" : "-", tq / gq);
        snprintf(b[4], 32, hq ? "%.3f" : "-", tq / pq);
        snprintf(b[7], 32, hs ? "%.3f" : "-", ts / ps);
        snprintf(b[8], 32, hq && hs ? "%.2f" : "-", ts / tq);
        snprintf(b[9], 32, hq ? "%.3f" : "-", p->mem[QR] / p->data_bytes);
        snprintf(b[10], 32, hs ? "%.3f" : "-", p->mem[SVD] / p->data_bytes);
        printf("%5d %4d %7d %4d %6d | %-10s %-10s %-9s %-10s %-7s | %-10s %-10s %-7s | %-8s | %-7s %-7s\n", p->dx, p->dy,
               p->m, p->k, p->blocks, ms(b[0], 32, hq, tq), ms(b[1], 32, hq, gq), b[2], ms(b[3], 32, hq, pq), b[4],
               ms(b[5], 32, hs, ts), ms(b[6], 32, hs, ps), b[7], b[8], b[9], b[10]);
        put_point(&j, p, keep);
    }
    dln_json_end_array(&j);
    rc = bench_json_end(&j, &o, 1);
    dln_backend_destroy(be);
    return rc;
}
