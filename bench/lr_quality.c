/* lr_quality.c: how good the automatic step size is. On a set of problems generated from
 * seeds (conditions 1e0..1e6 of X with the same L* at every condition, one-hot and
 * low-rank noisy targets, depths 2..10, every init), every fixed step of a log-spaced grid
 * is trained in one batch (dln_train_batch: the members share data and shape) to find the
 * best fixed step, then the sharpness rule (`auto`, the default), the old curvature bound
 * (`arora`) and the best grid step are each run alone and timed.
 *
 * The comparison target g* of a problem is the tightest of rel_gap 1e-6 and 1e-4 that some
 * grid step reaches within the step limit; where none reaches 1e-4 (ill-conditioned X:
 * the small directions take ~cond^2 steps at any stable step) it is the smallest rel_gap
 * any grid step reaches. The best grid step is the one that reaches g* in the fewest
 * steps; auto's quality is its steps to g* over the best step's (auto may run 5x the step
 * limit, so ratios up to 5 are measured; infinity beyond). Steps and seconds to 1e-4 and
 * 1e-6 are reported where reached, and the grid's cost (its steps summed).
 *
 * Problems: X = U diag(s) V^T (dx, m), s log-spaced from 1 to 1/cond, U, V Haar; targets
 * depend on X only through V (so L* is the same at every condition): one-hot labels
 * argmax(G V^T) of a Gaussian G (classes, dx), or a rank-3 teacher B V^T plus 0.1 N(0,1)
 * noise. Checked: on the CPU the best step run alone takes exactly the steps its batch
 * member took (the batch equals single runs bit for bit), and a problem on which auto
 * diverges fails the benchmark.
 *
 * --loss NAME measures another loss (lp, huber, logistic, softmax) on the same problems (the
 * classifiers' labels: 0/1 where the low-rank teacher is positive, one-hot at its largest
 * entry; the one-hot targets as they are). These have no known optimum: the gap is then
 * measured against the lowest loss L_b any grid step reaches within the step limit, as
 * (L - L_b) / L(0) (the zero prediction's loss), and g* is 1e-6 on that scale (where the best
 * grid step is still decreasing at the limit, reaching it means reaching that step's last
 * loss). Arora's bound is skipped for lp (its curvature is unbounded). */
#include <lapacke.h>

#include "bench_common.h"

#define MAXGRID 32
#define NT 2 /* targets: rel_gap 1e-4, 1e-6 */

static const double targets[NT] = {1e-4, 1e-6};

/* The running minimum of rel_gap at every step of one run (observer; checks every step);
 * without a reference value, of (loss - base) / scale (base: the best grid loss, known once
 * the grid has run: the grid's curves hold the loss itself, base 0 and scale 1). stop_at:
 * the run stops once that is at or below it (0: never). */
typedef struct {
    double *min_gap; /* (limit + 1), NaN where not observed */
    long limit, last;
    double running;
    int no_reference;
    double base, scale, stop_at;
} curve;

static int curve_init(curve *c, long limit, int no_reference, double base, double scale, double stop_at)
{
    c->min_gap = malloc(sizeof(double) * (size_t)(limit + 1));
    c->limit = limit, c->last = -1, c->running = INFINITY;
    c->no_reference = no_reference, c->base = base, c->scale = scale, c->stop_at = stop_at;
    return c->min_gap == NULL;
}

static int observe(void *ctx, const dln_observation *o)
{
    curve *c = ctx;
    if (o->step > c->limit) return 0;
    double g = c->no_reference ? (o->loss - c->base) / c->scale : o->rel_gap;
    if (g < c->running) c->running = g;
    c->min_gap[o->step] = c->running;
    c->last = o->step;
    return c->stop_at > 0 && c->running <= c->stop_at;
}

/* The first step at which rel_gap <= g (-1: never). */
static long curve_first(const curve *c, double g)
{
    for (long t = 0; t <= c->last; t++)
        if (c->min_gap[t] <= g) return t;
    return -1;
}

/* (rows, cols) with orthonormal columns (rows >= cols): QR of a Gaussian. */
static double *orthonormal(dln_rng *g, int rows, int cols)
{
    double *A = malloc(sizeof(double) * (size_t)rows * cols), *tau = malloc(sizeof(double) * (size_t)cols);
    for (size_t e = 0; e < (size_t)rows * cols; e++) A[e] = dln_rng_normal(g);
    if (LAPACKE_dgeqrf(LAPACK_COL_MAJOR, rows, cols, A, rows, tau) ||
        LAPACKE_dorgqr(LAPACK_COL_MAJOR, rows, cols, cols, A, rows, tau)) {
        free(A), free(tau);
        return NULL;
    }
    free(tau);
    return A;
}

/* The problem: X = U diag(s) V^T, targets of kind 0 (one-hot, dy classes) or 1 (rank-3
 * teacher on V^T plus noise), made labels of `labels` (the loss's). */
static int make_problem(dln_data *d, int dx, int dy, int m, double cond, int kind, dln_labels labels, uint64_t seed)
{
    dln_rng g;
    dln_rng_seed(&g, seed, 71);
    double *U = orthonormal(&g, dx, dx), *V = orthonormal(&g, m, dx);
    d->dx = dx, d->dy = dy, d->m = m;
    d->X = calloc((size_t)dx * m, sizeof(double)), d->Y = calloc((size_t)dy * m, sizeof(double));
    if (!U || !V || !d->X || !d->Y) return 1;
    for (int i = 0; i < dx; i++) { /* X = U diag(s) V^T */
        double s = pow(cond, -(double)i / (dx > 1 ? dx - 1 : 1));
        for (int j = 0; j < m; j++)
            for (int a = 0; a < dx; a++) d->X[a + (size_t)j * dx] += U[a + (size_t)i * dx] * s * V[j + (size_t)i * m];
    }
    int r = kind == 0 ? dy : 3;
    double *G = malloc(sizeof(double) * (size_t)r * dx);
    for (size_t e = 0; e < (size_t)r * dx; e++) G[e] = dln_rng_normal(&g);
    for (int j = 0; j < m; j++) {
        double z[64];
        for (int c = 0; c < r; c++) {
            z[c] = 0.0;
            for (int i = 0; i < dx; i++) z[c] += G[c + (size_t)i * r] * V[j + (size_t)i * m] * sqrt((double)m);
        }
        if (kind == 0) {
            int best = 0;
            for (int c = 1; c < dy; c++) best = z[c] > z[best] ? c : best;
            d->Y[best + (size_t)j * dy] = 1.0;
        } else {
            double *y = d->Y + (size_t)j * dy;
            int top = 0;
            for (int a = 0; a < dy; a++) {
                double v = 0.0;
                for (int c = 0; c < r; c++) v += (double)((a * 7 + c * 3) % 5 - 2) / 2.0 * z[c];
                y[a] = v / sqrt((double)dx) + 0.1 * dln_rng_normal(&g);
                top = y[a] > y[top] ? a : top;
            }
            for (int a = 0; a < dy && labels != DLN_LABELS_VALUES; a++)
                y[a] = labels == DLN_LABELS_BINARY ? y[a] > 0 : a == top;
        }
    }
    free(U), free(V), free(G);
    return 0;
}

typedef struct {
    double cond;
    int kind, depth;
    dln_init_kind init;
    double target;                                   /* g* */
    long auto_steps, best_steps, arora_steps;        /* to g* (-1: not reached) */
    long auto_at[NT], best_at[NT], arora_at[NT];     /* to 1e-4, 1e-6 */
    double auto_s, best_s, arora_s;                  /* seconds of the runs alone, to g* */
    double best_lr, auto_lr, grid_cost, quality;
    double base; /* without a reference value: the lowest loss of the grid, which the gaps are measured from */
    int auto_diverged, arora_diverged;
    long auto_limit;
} problem_result;

static void usage(void)
{
    fputs("usage: lr_quality [options]\n\n"
          "The automatic step size (sharpness rule), the old curvature bound and the best step of a\n"
          "log-spaced grid compared on generated problems: steps and seconds to rel_gap 1e-4 and 1e-6\n"
          "(or to the smallest rel_gap a grid step reaches).\n\n"
          "  --dx N --classes N --m N   data (default 32, 10, 2000)\n"
          "  --width W                  hidden width (default 16)\n"
          "  --depths LIST              (default 2,3,6,10)\n"
          "  --conds LIST               condition numbers of X (default 1,1e2,1e4,1e6)\n"
          "  --steps N                  step limit of the grid and arora runs; auto gets 5x (default 20000)\n"
          "  --grid-lo X --grid-hi X    the fixed-lr grid, factors of 2 (default 1e-6, 4)\n"
          "  --inits N                  the first N of gaussian, orthogonal, identity, balanced (default 4)\n"
          "  --loss NAME                square, lp, huber, logistic or softmax (default square); --p P (lp,\n"
          "                             default 4), --delta D (huber, default 1)\n\n",
          stdout);
    bench_common_help(stdout);
}

/* Whether the problem has no reference value (a loss other than the square). */
static int no_reference(const bench_problem *pb) { return pb->ref.kind == DLN_REFERENCE_NONE; }

/* One run alone from the init, recording its curve; stops at rel_gap <= tol (without a
 * reference, at (loss - base) / L(0) <= tol). */
static int run_alone(dln_backend *be, const bench_problem *pb, const dln_shape *s,
                     dln_init_kind init, uint64_t seed, double lr, dln_lr_rule rule, double tol, double base,
                     long limit, curve *c, dln_train_result *res, dln_error *err)
{
    double **W = NULL;
    dln_train_opts o;
    dln_train_opts_default(&o);
    int noref = no_reference(pb);
    o.steps = limit, o.tol = noref ? 0.0 : tol, o.check_every = 1, o.lr = lr, o.lr_rule = rule;
    o.observer = observe, o.observer_ctx = c;
    int rc = curve_init(c, limit, noref, base, pb->ref.zero_loss, noref ? tol : 0.0) ||
             dln_init_weights(s, init, 1.0, seed, &W, err) || dln_train(be, &pb->fit, &pb->ref, s, 1, &W, &o, res, err);
    if (W) dln_weights_free(s->depth, W);
    return rc;
}

/* The grid in one batch, then auto, arora and the best grid step alone. */
static int run_problem(dln_backend *be, const bench_problem *pb, const dln_shape *s,
                       dln_init_kind init, uint64_t seed, const double *grid, int ngrid, long steps,
                       problem_result *pr, dln_error *err)
{
    int rc = 0;
    double ***W = calloc((size_t)ngrid, sizeof(double **));
    dln_train_opts *o = calloc((size_t)ngrid, sizeof(dln_train_opts));
    dln_train_result *res = calloc((size_t)ngrid, sizeof(dln_train_result));
    curve *cv = calloc((size_t)ngrid, sizeof(curve));
    if (!W || !o || !res || !cv) return 1;
    int noref = no_reference(pb);
    for (int b = 0; b < ngrid && !rc; b++) {
        rc = curve_init(&cv[b], steps, noref, 0.0, 1.0, 0.0) || dln_init_weights(s, init, 1.0, seed, &W[b], err);
        dln_train_opts_default(&o[b]);
        o[b].steps = steps, o[b].tol = noref ? 0.0 : targets[NT - 1], o[b].check_every = 1, o[b].lr = grid[b];
        o[b].observer = observe, o[b].observer_ctx = &cv[b];
    }
    if (!rc) rc = dln_train(be, &pb->fit, &pb->ref, s, ngrid, W, o, res, err);
    int best = -1;
    pr->base = 0.0;
    if (!rc && noref) { /* the grid's curves hold losses: measured against the lowest, on L(0)'s scale */
        pr->base = INFINITY;
        for (int b = 0; b < ngrid; b++)
            if (!res[b].diverged && cv[b].running < pr->base) pr->base = cv[b].running;
        for (int b = 0; b < ngrid; b++) {
            for (long t = 0; t <= cv[b].last; t++) cv[b].min_gap[t] = (cv[b].min_gap[t] - pr->base) / pb->ref.zero_loss;
            cv[b].running = (cv[b].running - pr->base) / pb->ref.zero_loss;
        }
    }
    if (!rc) {
        pr->target = NAN;
        for (int k = NT - 1; k >= 0 && isnan(pr->target); k--)
            for (int b = 0; b < ngrid; b++)
                if (!res[b].diverged && curve_first(&cv[b], targets[k]) >= 0) pr->target = targets[k];
        pr->grid_cost = 0;
        for (int b = 0; b < ngrid; b++) pr->grid_cost += (double)res[b].steps;
        if (isnan(pr->target)) { /* no grid step reached 1e-4: the smallest gap reached */
            double g = INFINITY;
            for (int b = 0; b < ngrid; b++)
                if (!res[b].diverged && cv[b].running < g) g = cv[b].running;
            pr->target = g;
        }
        for (int b = 0; b < ngrid; b++) {
            if (res[b].diverged) continue;
            long t = curve_first(&cv[b], pr->target);
            if (t >= 0 && (best < 0 || t < pr->best_steps)) best = b, pr->best_steps = t;
        }
        if (best < 0) rc = dln_fail(err, DLN_ERUNTIME, "lr_quality: every grid step diverged");
    }
    if (!rc) {
        pr->best_lr = grid[best];
        for (int k = 0; k < NT; k++) pr->best_at[k] = curve_first(&cv[best], targets[k]);
    }
    for (int b = 0; b < ngrid; b++) {
        if (W[b]) dln_weights_free(s->depth, W[b]);
        free(cv[b].min_gap);
    }
    free(W), free(o), free(res), free(cv);
    if (rc) return rc;

    curve ca = {0}, cr = {0}, cb = {0};
    dln_train_result ra, rr, rb;
    pr->auto_limit = 5 * steps;
    /* the curvature bound assumes d^2L/dZ^2 <= I: not for lp (its arora run is skipped) */
    int arora = dln_objective_flags(pb->fit.objective) & DLN_OBJECTIVE_UNIT_CURVATURE;
    memset(&rr, 0, sizeof rr);
    rr.seconds = NAN;
    rc = run_alone(be, pb, s, init, seed, 0.0, DLN_LR_SHARPNESS, pr->target, pr->base, pr->auto_limit, &ca, &ra,
                   err) ||
         (arora && run_alone(be, pb, s, init, seed, 0.0, DLN_LR_ARORA, pr->target, pr->base, steps, &cr, &rr, err)) ||
         run_alone(be, pb, s, init, seed, pr->best_lr, DLN_LR_SHARPNESS, pr->target, pr->base, steps, &cb, &rb, err);
    if (!rc) {
        pr->auto_steps = curve_first(&ca, pr->target), pr->arora_steps = arora ? curve_first(&cr, pr->target) : -1;
        for (int k = 0; k < NT; k++)
            pr->auto_at[k] = curve_first(&ca, targets[k]), pr->arora_at[k] = arora ? curve_first(&cr, targets[k]) : -1;
        pr->auto_s = ra.seconds, pr->arora_s = rr.seconds, pr->best_s = rb.seconds;
        pr->auto_lr = ra.lr_init, pr->auto_diverged = ra.diverged, pr->arora_diverged = rr.diverged;
        long alone = curve_first(&cb, pr->target);
        if (!strcmp(dln_backend_name(be), "cpu") && alone != pr->best_steps)
            rc = dln_fail(err, DLN_ERUNTIME,
                               "lr_quality: the best step alone took %ld steps, in the batch %ld (CPU runs must agree)",
                               alone, pr->best_steps);
        pr->quality = pr->auto_steps < 0 ? INFINITY
                                         : (double)(pr->auto_steps > 0 ? pr->auto_steps : 1) /
                                               (double)(pr->best_steps > 0 ? pr->best_steps : 1);
    }
    free(ca.min_gap), free(cr.min_gap), free(cb.min_gap);
    return rc;
}

int main(int argc, char **argv)
{
    bench_opts o;
    bench_opts_default(&o);
    int dx = 32, dy = 10, m = 2000, width = 16, depths[8] = {2, 3, 6, 10}, nd = 4, nc = 4;
    double conds[8] = {1, 1e2, 1e4, 1e6}, glo = 1e-6, ghi = 4.0, lp_p = 4.0, delta = 1.0;
    long steps = 20000;
    int n_inits = 4;
    const char *loss = "square";
    const bench_flag_spec specs[] = {
        {"--dx", BF_INT, &dx, 1, 64, 0, NULL},
        {"--classes", BF_INT, &dy, 2, 64, 0, NULL},
        {"--m", BF_INT, &m, 1, DLN_MAX_DIM, 0, NULL},
        {"--width", BF_INT, &width, 1, 4096, 0, NULL},
        {"--depths", BF_INTS, depths, 1, 64, 8, &nd},
        {"--conds", BF_DOUBLES, conds, 1, 1e12, 8, &nc},
        {"--steps", BF_LONG, &steps, 1, 1e9, 0, NULL},
        {"--grid-lo", BF_DOUBLE, &glo, 1e-12, 1e3, 0, NULL},
        {"--grid-hi", BF_DOUBLE, &ghi, 1e-12, 1e3, 0, NULL},
        {"--inits", BF_INT, &n_inits, 1, 4, 0, NULL},
        {"--loss", BF_STRING, &loss, 0, 0, 0, NULL},
        {"--p", BF_DOUBLE, &lp_p, 2, 64, 0, NULL},
        {"--delta", BF_DOUBLE, &delta, 1e-300, 1e300, 0, NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL},
    };
    int parsed = bench_parse_args(argc, argv, specs, &o, usage);
    if (parsed) return parsed == 1 ? 0 : 2;
    double grid[MAXGRID];
    int ngrid = 0;
    for (double lr = glo; lr <= ghi * (1 + 1e-12) && ngrid < MAXGRID; lr *= 2) grid[ngrid++] = lr;
    dln_error err;
    dln_backend *be = NULL;
    dln_objective *obj = NULL;
    dln_objective_params op = {NULL, 0, !strcmp(loss, "lp") ? lp_p : 0, !strcmp(loss, "huber") ? delta : 0, NULL};
    dln_error_clear(&err);
    if (dln_objective_create(loss, &op, &obj, &err)) {
        fprintf(stderr, "lr_quality: --loss: %s\n", err.msg);
        return 2;
    }
    int square = !strcmp(loss, "square");
    int rc = bench_backend("lr_quality", &o, &err, &be);
    if (rc) return rc;
    dln_json j;
    bench_json_begin(&j, "lr_quality", be, &o, argc, argv);
    dln_json_str(&j, "loss", loss);
    if (!strcmp(loss, "lp")) dln_json_num(&j, "p", lp_p);
    if (!strcmp(loss, "huber")) dln_json_num(&j, "delta", delta);
    dln_json_array(&j, "problems");
    static const dln_init_kind inits[4] = {DLN_INIT_GAUSSIAN, DLN_INIT_ORTHOGONAL, DLN_INIT_IDENTITY, DLN_INIT_BALANCED};
    int total = 0, within2 = 0, worse5 = 0, auto_div = 0, arora_div = 0, arora_reached = 0, at_grid_min = 0;
    double auto_sum = 0, best_sum = 0, grid_sum = 0;
    printf("%-6s %-8s %5s %-10s %8s | %8s %8s %8s | %8s %8s | %8s %8s | %8s %7s\n", "cond", "targets", "depth",
           "init", "g*", "auto lr", "best lr", "auto/bst", "auto st", "best st", "auto s", "best s", "arora st",
           "grid st");
    for (int ci = 0; ci < nc && !rc; ci++)
        for (int kind = 0; kind < 2 && !rc; kind++)
            for (int di = 0; di < nd && !rc; di++)
                for (int ii = 0; ii < n_inits && !rc; ii++) {
                    uint64_t seed = o.seed + 1000 * (uint64_t)ci + 100 * (uint64_t)kind + (uint64_t)di;
                    dln_data d = {0, 0, 0, NULL, NULL};
                    dln_shallow sh;
                    bench_problem pb = {0};
                    dln_shape s = {0, NULL};
                    memset(&sh, 0, sizeof sh);
                    int hidden[64];
                    for (int h = 0; h < depths[di] - 1; h++) hidden[h] = width;
                    problem_result pr;
                    memset(&pr, 0, sizeof pr);
                    pr.cond = conds[ci], pr.kind = kind, pr.depth = depths[di], pr.init = inits[ii];
                    sh.optimum = NAN;
                    rc = make_problem(&d, dx, dy, m, conds[ci], kind, dln_objective_labels(obj), seed) ||
                         dln_shape_make(depths[di], dx, dy, hidden, depths[di] - 1, &s, &err);
                    if (!rc && square)
                        rc = dln_shallow_solve(be, &d, dln_shape_narrowest(&s), 0, 1, &sh, &err) ||
                             bench_problem_make(&sh, &d, &pb, &err);
                    if (!rc && !square) { /* the data as they are, no reference value */
                        pb.fit = (dln_fit){obj, d.dx, d.dy, d.m, d.X, d.Y, 0, NULL, NULL, 0.0};
                        dln_reference_none(&pb.ref, dln_objective_zero_loss(obj, d.Y, d.dy, d.m));
                        pb.ref.input_norm = dln_spectral_norm(d.dx, d.m, d.X, 0, NULL, DLN_NORM_ITERS);
                    }
                    if (!rc) rc = run_problem(be, &pb, &s, inits[ii], seed, grid, ngrid, steps, &pr, &err);
                    if (rc) {
                        fprintf(stderr, "lr_quality: %s\n", err.msg[0] ? err.msg : "set-up failed");
                        break;
                    }
                    double q = pr.quality;
                    total++;
                    within2 += q <= 2.0, worse5 += q > 5.0, auto_div += pr.auto_diverged, arora_div += pr.arora_diverged;
                    arora_reached += pr.arora_steps >= 0, at_grid_min += pr.target > targets[0];
                    auto_sum += pr.auto_s, best_sum += pr.best_s, grid_sum += pr.grid_cost;
                    printf("%-6.0e %-8s %5d %-10s %8.2e | %8.2e %8.2e %8.2f | %8ld %8ld | %8.3f %8.3f | %8ld %7.0f%s\n",
                           pr.cond, kind ? "low-rank" : "one-hot", pr.depth, dln_init_name(pr.init), pr.target,
                           pr.auto_lr, pr.best_lr, q, pr.auto_steps, pr.best_steps, pr.auto_s, pr.best_s,
                           pr.arora_steps, pr.grid_cost, pr.auto_diverged ? " (auto diverged)" : "");
                    fflush(stdout);
                    dln_json_object(&j, NULL);
                    dln_json_num(&j, "cond", pr.cond);
                    dln_json_str(&j, "targets", kind ? "low-rank" : "one-hot");
                    dln_json_int(&j, "depth", pr.depth);
                    dln_json_str(&j, "init", dln_init_name(pr.init));
                    dln_json_num(&j, "optimum", sh.optimum);
                    dln_json_num(&j, "best_grid_loss", square ? NAN : pr.base);
                    dln_json_num(&j, "target_rel_gap", pr.target);
                    dln_json_num(&j, "auto_lr_init", pr.auto_lr);
                    dln_json_int(&j, "auto_steps", pr.auto_steps);
                    dln_json_int(&j, "auto_step_limit", pr.auto_limit);
                    dln_json_num(&j, "auto_seconds", pr.auto_s);
                    dln_json_int(&j, "auto_steps_1e-4", pr.auto_at[0]);
                    dln_json_int(&j, "auto_steps_1e-6", pr.auto_at[1]);
                    dln_json_bool(&j, "auto_diverged", pr.auto_diverged);
                    dln_json_num(&j, "best_grid_lr", pr.best_lr);
                    dln_json_int(&j, "best_steps", pr.best_steps);
                    dln_json_num(&j, "best_seconds", pr.best_s);
                    dln_json_int(&j, "best_steps_1e-4", pr.best_at[0]);
                    dln_json_int(&j, "best_steps_1e-6", pr.best_at[1]);
                    dln_json_int(&j, "arora_steps", pr.arora_steps);
                    dln_json_num(&j, "arora_seconds", pr.arora_s);
                    dln_json_int(&j, "arora_steps_1e-4", pr.arora_at[0]);
                    dln_json_int(&j, "arora_steps_1e-6", pr.arora_at[1]);
                    dln_json_bool(&j, "arora_diverged", pr.arora_diverged);
                    dln_json_num(&j, "grid_cost_steps", pr.grid_cost);
                    dln_json_num(&j, "auto_over_best", q);
                    dln_json_end_object(&j);
                    bench_problem_free(&pb);
                    if (square) dln_shallow_free(&sh);
                    dln_shape_free(&s);
                    dln_data_free(&d);
                }
    dln_json_end_array(&j);
    printf("\n%d problems (grid %g..%g by factors of 2, step limit %ld, auto %ld): auto within 2x of the best grid "
           "step's steps on %d (%.0f%%), more than 5x on %d; auto diverged on %d; arora reached g* on %d, diverged on "
           "%d; g* above 1e-4 (no grid step reached 1e-4) on %d. Seconds summed: auto %.1f, best step %.1f; grid "
           "cost %.0f steps\n",
           total, glo, ghi, steps, 5 * steps, within2, total ? 100.0 * within2 / total : 0.0, worse5, auto_div,
           arora_reached, arora_div, at_grid_min, auto_sum, best_sum, grid_sum);
    dln_json_int(&j, "problems", total);
    dln_json_int(&j, "auto_within_2x", within2);
    dln_json_int(&j, "auto_worse_than_5x", worse5);
    dln_json_int(&j, "auto_diverged", auto_div);
    dln_json_int(&j, "arora_reached", arora_reached);
    dln_json_int(&j, "arora_diverged", arora_div);
    dln_json_int(&j, "target_above_1e-4", at_grid_min);
    dln_json_num(&j, "auto_seconds_sum", auto_sum);
    dln_json_num(&j, "best_seconds_sum", best_sum);
    int ok = !rc && auto_div == 0;
    if (bench_json_end(&j, &o, ok) && ok) ok = 0;
    dln_backend_destroy(be);
    dln_objective_destroy(obj);
    return ok ? 0 : 1;
}
