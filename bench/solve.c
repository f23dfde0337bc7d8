/* solve.c: time of dln_shallow_solve (the closed-form shallow optimum L*) against the bare
 * backend factorisations it is made of, on the same matrices, as dln_shallow_plan lists
 * them: gesvd of X^T (m, dx) with U and VT (of X itself when m < dx), of M = Y U_r
 * (singular values) and of Y (singular values, for rank(Y)), each transposed first when
 * wide. The rest of the solver is uploads, a transpose, two GEMMs and reductions.
 *
 * Checked before anything is timed, at every size: L*, the least-squares value and the
 * singular values and rank of X against the host reference ref_shallow (src/reference:
 * LAPACKE_dgelsd least squares, then LAPACKE_dgesdd of the fitted values). */
#include <float.h>
#include <lapacke.h>

#include "bench_common.h"

#define MAXGRID 32

typedef struct {
    dln_backend *be;
    const dln_data *d;
    int k, keep;
    dln_mat src, work, U, VT; /* gesvd input (pristine), its scratch copy, factors */
    double *s;
    int with_vectors;
} solve_ctx;

static int run_solve(void *p)
{
    solve_ctx *c = p;
    dln_shallow sh;
    int rc = dln_shallow_solve(c->be, c->d, c->k, 0, c->keep, &sh, dln_backend_error(c->be));
    if (!rc) dln_shallow_free(&sh);
    return rc;
}

static int prep_copy(void *p)
{
    solve_ctx *c = p;
    return dln_copy(c->be, &c->work, &c->src);
}

static int run_gesvd(void *p)
{
    solve_ctx *c = p;
    return dln_gesvd(c->be, &c->work, c->s, c->with_vectors ? &c->U : NULL, c->with_vectors ? &c->VT : NULL);
}

typedef struct {
    int dx, dy, m, k, r;
    double Lstar, Lref, err_L, err_sx;
    bench_timing solve, gx, gm, gy;
} point;

static int fail(const char *what, dln_error *err)
{
    fprintf(stderr, "solve: %s: %s\n", what, err->msg[0] ? err->msg : "failed");
    return 1;
}

/* Uploads host A (rows, cols) (ld = rows) as the plan's call sees it, transposed when the
 * plan says so (rows >= cols for gesvd), as c->src, with a scratch c->work, and U and VT
 * when the call computes vectors. */
static int setup_gesvd(dln_backend *be, solve_ctx *c, const double *A, int rows, int cols, const dln_svd_call *call)
{
    dln_mat tmp = {0, 0, 0, DLN_F64, NULL};
    c->with_vectors = call->vectors;
    DLN_TRY(dln_mat_alloc(be, &c->src, call->rows, call->cols, DLN_F64));
    DLN_TRY(dln_mat_alloc(be, &c->work, call->rows, call->cols, DLN_F64));
    if (!call->transposed) {
        DLN_TRY(dln_upload(be, &c->src, A, rows));
    } else {
        DLN_TRY(dln_mat_alloc(be, &tmp, rows, cols, DLN_F64));
        int rc = dln_upload(be, &tmp, A, rows);
        if (!rc) rc = dln_transpose(be, &c->src, &tmp);
        dln_mat_free(be, &tmp);
        DLN_TRY(rc);
    }
    if (call->vectors) {
        DLN_TRY(dln_mat_alloc(be, &c->U, call->rows, call->cols, DLN_F64));
        DLN_TRY(dln_mat_alloc(be, &c->VT, call->cols, call->cols, DLN_F64));
    }
    c->s = malloc(sizeof(double) * (size_t)(call->cols ? call->cols : 1));
    return c->s ? DLN_OK : dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
}

static void free_gesvd(dln_backend *be, solve_ctx *c)
{
    dln_mat *all[] = {&c->src, &c->work, &c->U, &c->VT};
    for (int i = 0; i < 4; i++) dln_mat_free(be, all[i]);
    free(c->s);
    c->s = NULL;
}

static int run_point(dln_backend *be, const bench_opts *o, int dx, int dy, int m, int k, int trank, int keep,
                     point *pt, dln_error *err)
{
    memset(pt, 0, sizeof *pt);
    pt->dx = dx, pt->dy = dy, pt->m = m;
    dln_synth_opts so = {dx, dy, m, trank, 0.1, o->seed};
    dln_data d = {0, 0, 0, NULL, NULL};
    dln_shallow sh;
    memset(&sh, 0, sizeof sh);
    solve_ctx c;
    memset(&c, 0, sizeof c);
    c.be = be, c.d = &d, c.k = k, c.keep = keep;
    int rc = 1, nsx = dx < m ? dx : m, rank_ref = 0;
    double *sx_ref = malloc(sizeof(double) * (size_t)nsx), lstsq_ref = 0;
    if (!sx_ref || dln_synth_make(&so, &d, err) || dln_shallow_solve(be, &d, k, 0, 1, &sh, err)) {
        fail("set-up", err);
        goto out;
    }
    /* check first */
    if (ref_shallow(&d, sh.k, &pt->Lref, &lstsq_ref, sx_ref, &rank_ref)) {
        fprintf(stderr, "solve: the host reference (LAPACKE_dgelsd/dgesdd) failed\n");
        goto out;
    }
    pt->Lstar = sh.optimum, pt->k = sh.k, pt->r = sh.r;
    pt->err_L = fabs(sh.optimum - pt->Lref) / (fabs(pt->Lref) + 1e-13 * sh.y_half);
    for (int i = 0; i < nsx; i++) {
        double e = fabs(sh.sx[i] - sx_ref[i]) / sx_ref[0];
        if (e > pt->err_sx) pt->err_sx = e;
    }
    double err_ls = fabs(sh.lstsq - lstsq_ref) / (lstsq_ref + 1e-13 * sh.y_half);
    int ok = pt->err_L <= 1e-9 && err_ls <= 1e-9 && pt->err_sx <= 1e-12 && rank_ref == sh.rank_x;
    printf("check dx %d dy %d m %d k %d: L* %.15g vs host %.15g (rel err %.1e), lstsq rel err %.1e, "
           "sigma(X) err %.1e, rank(X) %d/%d: %s\n",
           dx, dy, m, sh.k, sh.optimum, pt->Lref, pt->err_L, err_ls, pt->err_sx, sh.rank_x, rank_ref, ok ? "ok" : "FAILED");
    if (!ok) goto out;
    /* the solver itself */
    if (bench_time_each(be, NULL, run_solve, &c, o, &pt->solve)) {
        fail("timing dln_shallow_solve", err);
        goto out;
    }
    /* its factorisations bare, as the solver's plan lists them, on the same matrices */
    dln_svd_call plan[DLN_SOLVER_SVDS];
    dln_shallow_plan(dx, dy, m, sh.r, plan);
    bench_timing *out[DLN_SOLVER_SVDS] = {&pt->gx, &pt->gm, &pt->gy};
    int ok_t = 1;
    for (int q = 0; q < DLN_SOLVER_SVDS && ok_t; q++) {
        const double *A = plan[q].operand == DLN_SVD_OF_X ? d.X : plan[q].operand == DLN_SVD_OF_M ? sh.M : d.Y;
        int rows = plan[q].operand == DLN_SVD_OF_X ? dx : dy;
        int cols = plan[q].operand == DLN_SVD_OF_X ? m : plan[q].operand == DLN_SVD_OF_M ? sh.r : m;
        ok_t = !setup_gesvd(be, &c, A, rows, cols, &plan[q]) && !bench_time_each(be, prep_copy, run_gesvd, &c, o, out[q]);
        free_gesvd(be, &c);
    }
    if (!ok_t) {
        fail("timing the bare gesvd calls", err);
        goto out;
    }
    rc = 0;
out:
    free_gesvd(be, &c);
    free(sx_ref);
    dln_shallow_free(&sh);
    dln_data_free(&d);
    return rc;
}

static void usage(void)
{
    fputs("usage: solve [options]\n\n"
          "Time of dln_shallow_solve against the backend gesvd calls it is made of; L* checked\n"
          "against LAPACKE_dgelsd + dgesdd on the host first.\n\n"
          "Grid (synthetic data: X ~ N(0,1), Y = T X + 0.1 N(0,1), teacher rank --teacher-rank):\n"
          "  --sizes LIST        input dimensions dx (default: powers of two from 32 to --max)\n"
          "  --max N             largest dx of the default grid (default 256)\n"
          "  --m-factor F        samples m = F * dx (default 8; below 1 gives wide X)\n"
          "  --dy N              output dimension; 0 means dy = dx (default 0)\n"
          "  --rank K            rank bound k; 0 means dx / 4 (default 0)\n"
          "  --teacher-rank N    0 means dx / 8 (default 0)\n"
          "  --keep              also build the compressed pair (C, M), as dln train does\n\n",
          stdout);
    bench_common_help(stdout);
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o);
    o.warmup = 1;
    o.reps = 5;
    int sizes[MAXGRID], ns = 0, maxd = 256, dy_fixed = 0, k_fixed = 0, tr_fixed = 0, keep = 0;
    double mf = 8;
    const bench_flag_spec specs[] = {
        {"--sizes", BF_INTS, sizes, 1, DLN_MAX_DIM, MAXGRID, &ns},
        {"--max", BF_INT, &maxd, 1, DLN_MAX_DIM, 0, NULL},
        {"--m-factor", BF_DOUBLE, &mf, 1e-6, 1e6, 0, NULL},
        {"--dy", BF_INT, &dy_fixed, 0, DLN_MAX_DIM, 0, NULL},
        {"--rank", BF_INT, &k_fixed, 0, DLN_MAX_DIM, 0, NULL},
        {"--teacher-rank", BF_INT, &tr_fixed, 0, DLN_MAX_DIM, 0, NULL},
        {"--keep", BF_SWITCH, &keep, 0, 1, 0, NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL},
    };
    int parsed = bench_parse_args(argc, argv, specs, &o, usage);
    if (parsed) return parsed == 1 ? 0 : 2;
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
    point pts[MAXGRID];
    for (int a = 0; a < ns && !rc; a++) {
        int dx = sizes[a], dy = dy_fixed ? dy_fixed : dx, m = (int)fmax(1, round(mf * dx));
        int k = k_fixed ? k_fixed : (dx / 4 > 0 ? dx / 4 : 1), tr = tr_fixed ? tr_fixed : (dx / 8 > 0 ? dx / 8 : 1);
        dln_error_clear(&err);
        rc = run_point(be, &o, dx, dy, m, k, tr, keep, &pts[a], &err);
    }
    if (rc) {
        fprintf(stderr, "solve: stopped: a check or a backend call failed\n");
        bench_json_end(&j, &o, 0);
        dln_backend_destroy(be);
        return 1;
    }
    printf("\n%6s %6s %7s %5s | %-28s | %-12s %-12s %-12s | %-10s | %s\n", "dx", "dy", "m", "k",
           "dln_shallow_solve: ms [min, max]", "gesvd X", "gesvd M", "gesvd Y", "sum (ms)", "solve/sum");
    dln_json_array(&j, "results");
    for (int a = 0; a < ns; a++) {
        point *p = &pts[a];
        double sum = p->gx.s.median + p->gm.s.median + p->gy.s.median;
        char sc[64];
        snprintf(sc, sizeof sc, "%.4g [%.4g, %.4g]", 1e3 * p->solve.s.median, 1e3 * p->solve.s.min,
                 1e3 * p->solve.s.max);
        printf("%6d %6d %7d %5d | %-32s | %-12.4g %-12.4g %-12.4g | %-10.4g | %.3f\n", p->dx, p->dy, p->m, p->k, sc,
               1e3 * p->gx.s.median, 1e3 * p->gm.s.median, 1e3 * p->gy.s.median, 1e3 * sum, p->solve.s.median / sum);
        dln_json_object(&j, NULL);
        dln_json_int(&j, "dx", p->dx);
        dln_json_int(&j, "dy", p->dy);
        dln_json_int(&j, "m", p->m);
        dln_json_int(&j, "k", p->k);
        dln_json_int(&j, "rank_x", p->r);
        dln_json_bool(&j, "keep_compressed", keep);
        dln_json_num(&j, "optimum", p->Lstar);
        dln_json_num(&j, "optimum_host_ref", p->Lref);
        dln_json_num(&j, "optimum_rel_err", p->err_L);
        dln_json_num(&j, "sigma_x_err_rel_sigma1", p->err_sx);
        bj_stats(&j, "solve", &p->solve);
        bj_stats(&j, "gesvd_x", &p->gx);
        bj_stats(&j, "gesvd_m", &p->gm);
        bj_stats(&j, "gesvd_y", &p->gy);
        dln_json_num(&j, "gesvd_sum_median_s", sum);
        dln_json_num(&j, "solve_over_gesvd_sum", p->solve.s.median / sum);
        dln_json_end_object(&j);
    }
    dln_json_end_array(&j);
    rc = bench_json_end(&j, &o, 1);
    dln_backend_destroy(be);
    return rc;
}
