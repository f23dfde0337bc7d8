/* options.c: parsing and checking the command-line options of `dln train` and
 * `dln solve`, and their --help texts. Every value is checked here, before any work:
 * a bad one is a one-line DLN_EINPUT message. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum {
    O_X = 256, O_Y, O_DX, O_DY, O_SAMPLES, O_TRANK, O_NOISE, O_SEED, O_DSEED, O_DEPTH, O_WIDTH, O_WIDTHS,
    O_LOAD, O_SAVE, O_INIT, O_ISCALE, O_RANK, O_RTOL, O_LR, O_MOM, O_LS, O_STEPS, O_TOL, O_LOG, O_LOGE,
    O_CHECKE, O_FULL, O_COMPRESSED, O_QUIET, O_BACKEND, O_PREC, O_SOLVER, O_SEEDS, O_BSIZE, O_THREADS, O_HELP
};

static const struct option train_opts[] = {
    {"x", 1, 0, O_X}, {"y", 1, 0, O_Y}, {"dx", 1, 0, O_DX}, {"dy", 1, 0, O_DY},
    {"samples", 1, 0, O_SAMPLES}, {"teacher-rank", 1, 0, O_TRANK}, {"noise", 1, 0, O_NOISE},
    {"seed", 1, 0, O_SEED}, {"data-seed", 1, 0, O_DSEED}, {"depth", 1, 0, O_DEPTH}, {"width", 1, 0, O_WIDTH},
    {"widths", 1, 0, O_WIDTHS}, {"load", 1, 0, O_LOAD}, {"save", 1, 0, O_SAVE}, {"init", 1, 0, O_INIT},
    {"init-scale", 1, 0, O_ISCALE}, {"rank-tol", 1, 0, O_RTOL}, {"lr", 1, 0, O_LR},
    {"momentum", 1, 0, O_MOM}, {"line-search", 0, 0, O_LS}, {"steps", 1, 0, O_STEPS}, {"tol", 1, 0, O_TOL},
    {"log", 1, 0, O_LOG}, {"log-every", 1, 0, O_LOGE}, {"check-every", 1, 0, O_CHECKE},
    {"full-data", 0, 0, O_FULL}, {"compressed", 0, 0, O_COMPRESSED}, {"quiet", 0, 0, O_QUIET},
    {"backend", 1, 0, O_BACKEND}, {"precision", 1, 0, O_PREC}, {"solver", 1, 0, O_SOLVER},
    {"seeds", 1, 0, O_SEEDS}, {"batch-size", 1, 0, O_BSIZE}, {"threads", 1, 0, O_THREADS},
    {"help", 0, 0, O_HELP}, CLI_DYN_TRAIN_OPTIONS, CLI_LOSS_OPTIONS, CLI_SHALLOW_OPTIONS, CLI_CERTIFY_OPTIONS,
    CLI_MATRIX_OPTIONS, {0, 0, 0, 0}};

static const struct option solve_opts[] = {
    {"x", 1, 0, O_X}, {"y", 1, 0, O_Y}, {"dx", 1, 0, O_DX}, {"dy", 1, 0, O_DY},
    {"samples", 1, 0, O_SAMPLES}, {"teacher-rank", 1, 0, O_TRANK}, {"noise", 1, 0, O_NOISE},
    {"seed", 1, 0, O_SEED}, {"data-seed", 1, 0, O_DSEED}, {"rank", 1, 0, O_RANK}, {"depth", 1, 0, O_DEPTH},
    {"width", 1, 0, O_WIDTH}, {"widths", 1, 0, O_WIDTHS}, {"rank-tol", 1, 0, O_RTOL},
    {"quiet", 0, 0, O_QUIET}, {"backend", 1, 0, O_BACKEND}, {"precision", 1, 0, O_PREC},
    {"solver", 1, 0, O_SOLVER}, {"help", 0, 0, O_HELP}, CLI_DYN_SOLVE_OPTIONS, CLI_LOSS_OPTIONS, CLI_SHALLOW_OPTIONS,
    CLI_MATRIX_OPTIONS, {0, 0, 0, 0}};

/* `dln hessian` (dynopts.c handles its own options) */
static const struct option hessian_opts[] = {
    {"x", 1, 0, O_X}, {"y", 1, 0, O_Y}, {"dx", 1, 0, O_DX}, {"dy", 1, 0, O_DY},
    {"samples", 1, 0, O_SAMPLES}, {"teacher-rank", 1, 0, O_TRANK}, {"noise", 1, 0, O_NOISE},
    {"seed", 1, 0, O_SEED}, {"data-seed", 1, 0, O_DSEED}, {"load", 1, 0, O_LOAD}, {"rank-tol", 1, 0, O_RTOL},
    {"quiet", 0, 0, O_QUIET}, {"backend", 1, 0, O_BACKEND}, {"solver", 1, 0, O_SOLVER}, {"help", 0, 0, O_HELP},
    {"hessian-iters", 1, 0, CLI_DYN_FIRST + 1}, {"save-direction", 1, 0, CLI_DYN_FIRST + 2},
    {"save-data", 1, 0, CLI_DYN_FIRST + 4}, CLI_LOSS_OPTIONS, CLI_SHALLOW_OPTIONS, CLI_CERTIFY_OPTIONS, CLI_MATRIX_OPTIONS,
    {0, 0, 0, 0}};

static const char *problem_help =
    "Problem (synthetic unless --x and --y are given):\n"
    "  --x FILE            inputs X, a 2-D .npy of shape (dx, m), float64 or float32\n"
    "  --y FILE            targets Y, a 2-D .npy of shape (dy, m)\n"
    "  --dx N              synthetic input dimension               (default 32)\n"
    "  --dy N              synthetic output dimension              (default 32)\n"
    "  --samples N         synthetic number of samples m           (default 256)\n"
    "  --teacher-rank N    rank of the synthetic teacher           (default 8)\n"
    "  --noise S           std of the noise added to Y             (default 0.1)\n"
    "  --seed N            seed of the weights and, unless --data-seed, of the data (default 1)\n"
    "  --data-seed N       seed of the synthetic data              (default: --seed)\n"
    "  --rank-tol T        relative singular-value threshold for rank(X) and rank(Y)\n"
    "                      (default max(dx, m) * machine epsilon for X, max(dy, m) for Y)\n"
    "  --solver S          shallow solver: qr, svd or auto (qr when m >= dx) (default auto)\n";

static const char *exec_help =
    "Execution:\n"
    "  --backend B         cpu, cuda or auto (cuda when a device is present) (default auto)\n"
    "  --precision P       fp64, fp32, or tf32 (fp32 with TF32 GEMMs; cuda only) (default fp64)\n"
    "                      the shallow solver always runs in fp64\n"
    "  --help              this text\n";

void cli_print_help(const char *command)
{
    if (!strcmp(command, "hessian")) {
        cli_hessian_help(problem_help, exec_help);
        return;
    }
    if (!strcmp(command, "solve")) {
        printf("usage: dln solve [options]\n\n"
               "Global optimum L* of min 1/2 ||R X - Y||^2 subject to rank(R) <= k, in closed form,\n"
               "with the unconstrained least-squares value, ranks, and the theorem's hypotheses.\n"
               "With --loss (not square): min L(R X) without a rank bound, a convex problem, by\n"
               "Newton's method to a relative gradient norm of 1e-12 (optimum_kind \"convex\"; for\n"
               "logistic or softmax on separable data \"unattained\": the infimum 0 is not reached).\n\n%s"
               "Rank bound:\n"
               "  --rank K            rank bound k; larger than min(dx, dy) means no constraint\n"
               "                      (with another loss an active bound is refused: not solved yet)\n"
               "  --depth H, --width W, --widths d1,..: take k = the narrowest layer of that network\n"
               "                      (default: no constraint, k = min(dx, dy))\n"
               "  --quiet             no note on stderr about the backend chosen\n\n%s%s%s%s",
               problem_help, cli_loss_help, cli_matrix_help, cli_dyn_solve_help, exec_help);
        return;
    }
    printf("usage: dln train [options]\n\n"
           "Full-batch gradient descent on min 1/2 ||W_H...W_1 X - Y||^2, timed against the shallow\n"
           "optimum L* (the global minimum for the narrowest layer). With no options it runs the\n"
           "default experiment.\n\n%s"
           "Network:\n"
           "  --depth H           number of weight matrices                 (default 4)\n"
           "  --width W           width of every hidden layer               (default 4)\n"
           "  --widths d1,...     hidden widths d_1..d_{H-1} (depth = count + 1 unless --depth)\n"
           "  --load DIR          start from DIR/W1.npy..WH.npy (depth and widths from the files)\n"
           "  --save DIR          save the final weights there as W1.npy..WH.npy; DIR always\n"
           "                      holds one complete set, the old or the new (see README)\n"
           "  --init NAME         gaussian, orthogonal, identity or balanced (default orthogonal)\n"
           "                      gaussian: N(0, s^2/d_in); orthogonal: s * Haar (semi-)orthogonal;\n"
           "                      identity: s * eye(d_out, d_in); balanced: Arora et al. 2019\n"
           "  --init-scale S      the scale s above                          (default 1)\n\n"
           "Optimiser:\n"
           "  --lr X|auto|arora   step size; auto = 1.8 (1 - MU) / lambda_max of the Hessian\n"
           "                      (Lanczos), re-estimated during the run; arora = the old curvature\n"
           "                      bound 1 / (sigma_1(X)^2 sum_i prod_{j!=i} a_j^2) (docs/maths.md 5)\n"
           "                                                                     (default auto)\n"
           "  --momentum MU       heavy ball: V = MU V + G, W -= lr V, 0 <= MU < 1 (default 0)\n"
           "  --line-search       backtracking (Armijo, c = 1/2) from 2x the last accepted step\n"
           "  --steps N           maximum number of updates                 (default 10000)\n"
           "  --tol T             stop when rel_gap <= T; 0 never stops early (default 1e-6)\n"
           "  --check-every N     read the loss every N steps (1 on cpu, 50 on cuda)\n"
           "  --full-data         train on X, Y even when the exact compression is smaller\n"
           "  --compressed        always train on the compressed pair (C, M)\n\n"
           "Output:\n"
           "  --log FILE          JSONL trace: step, loss, gap, rel_gap, grad_norm, lr, seconds;\n"
           "                      an existing FILE is replaced only when the run succeeds\n"
           "  --log-every N       trace interval in steps                    (default 100)\n"
           "  --quiet             no live progress line on stderr\n\n"
           "Batch (many runs on the same data and shape in one process):\n"
           "  --seeds A-B|a,b,..  one member per seed (instead of --seed); the data's seed is\n"
           "                      --data-seed, else the first seed of the list\n"
           "  --init, --init-scale, --lr, --momentum also take comma-separated lists\n"
           "                      (--lr 3e-6,auto); the members are the product of the lists.\n"
           "                      Each member prints the summary line its single run prints,\n"
           "                      with a `member` field; --log lines carry `member`; --save DIR\n"
           "                      saves member b's weights as DIR/<b>/W*.npy; no --line-search\n"
           "  --batch-size N      train at most N members at once; the rest follow in later\n"
           "                      batches (default: as many as memory allows)\n"
           "  --threads N         CPU backend: spread the members, and the pieces of a run's\n"
           "                      long products (full data), over N threads (0, the default:\n"
           "                      one per CPU; results do not depend on N)\n\n%s%s%s%s",
           problem_help, cli_loss_help, cli_matrix_help, cli_dyn_train_help, exec_help);
}

/* 1 when s is a decimal number: [+-] digits [. digits] [(e|E) [+-] digits], with at least
 * one digit before the exponent. strtod alone would also take hex ("0x10"), "inf", "nan"
 * and leading blanks; none of those is a sensible option value. */
static int is_decimal(const char *s)
{
    const char *p = s;
    int digits = 0;
    if (*p == '+' || *p == '-') p++;
    for (; *p >= '0' && *p <= '9'; p++) digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++) digits++;
    if (!digits) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == '\0';
}

/* 2^63 exactly: every double below it (and >= -2^63) converts to a long without overflow.
 * (double)LONG_MAX rounds up to 2^63 itself, so comparing against it lets 2^63 through. */
#define TWO_POW_63 9223372036854775808.0

/* An integer, also written as an integral number such as 1e5. */
static int parse_long(const char *opt, const char *s, long lo, long hi, long *out, dln_error *err)
{
    char *end;
    long v = 0;
    int ok = is_decimal(s);
    if (ok) {
        errno = 0;
        v = strtol(s, &end, 10);
        ok = !errno && end != s && !*end;
        if (!ok) {
            errno = 0;
            double d = strtod(s, &end);
            ok = !errno && end != s && !*end && isfinite(d) && d == floor(d) && d >= -TWO_POW_63 && d < TWO_POW_63;
            v = ok ? (long)d : 0;
        }
    }
    if (!ok || v < lo || v > hi)
        return dln_fail(err, DLN_EINPUT, "--%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi, s);
    *out = v;
    return DLN_OK;
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out, dln_error *err)
{
    long v;
    DLN_TRY(parse_long(opt, s, lo, hi, &v, err));
    *out = (int)v;
    return DLN_OK;
}

int cli_parse_double(const char *opt, const char *s, double lo, double hi, double *out, dln_error *err)
{
    char *end = NULL;
    errno = 0;
    double v = is_decimal(s) ? strtod(s, &end) : NAN;
    if (errno || !isfinite(v) || *end || v < lo || v > hi)
        return dln_fail(err, DLN_EINPUT, "--%s: expected a number in [%g, %g], got '%s'", opt, lo, hi, s);
    *out = v;
    return DLN_OK;
}

static int parse_widths(const char *s, cli_opts *o, dln_error *err)
{
    int n = 1;
    for (const char *p = s; *p; p++) n += *p == ',';
    free(o->widths);
    o->widths = calloc((size_t)n, sizeof(int));
    if (!o->widths) return dln_fail(err, DLN_ENOMEM, "out of memory");
    char *copy = strdup(s), *save = NULL, *tok;
    if (!copy) return dln_fail(err, DLN_ENOMEM, "out of memory");
    int k = 0, rc = DLN_OK;
    for (tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save))
        rc = parse_int("widths", tok, 1, DLN_MAX_DIM, &o->widths[k++], err);
    free(copy);
    if (!rc && k != n) rc = dln_fail(err, DLN_EINPUT, "--widths: expected d1,d2,... with positive integers, got '%s'", s);
    o->n_widths = k;
    return rc;
}

/* --seeds: A-B (A <= B), or a,b,c; each a seed as --seed takes it. */
static int parse_seeds(const char *s, cli_opts *o, dln_error *err)
{
    char *copy = strdup(s);
    if (!copy) return dln_fail(err, DLN_ENOMEM, "out of memory");
    free(o->seeds);
    o->seeds = NULL, o->n_seeds = 0, o->seeds_set = 1;
    char *dash = NULL;
    for (char *p = copy + 1; *copy && *p && !dash; p++)
        if (*p == '-' && p[-1] >= '0' && p[-1] <= '9') dash = p;
    long a, b;
    int rc = DLN_OK;
    if (dash && !strchr(copy, ',')) {
        *dash = '\0';
        rc = parse_long("seeds", copy, 0, __LONG_MAX__, &a, err);
        if (!rc) rc = parse_long("seeds", dash + 1, 0, __LONG_MAX__, &b, err);
        if (!rc && (b < a || b - a >= CLI_MAX_MEMBERS))
            rc = dln_fail(err, DLN_EINPUT, "--seeds: expected A-B with A <= B and at most %ld seeds, got '%s'",
                          CLI_MAX_MEMBERS, s);
        if (!rc && !(o->seeds = malloc(sizeof(uint64_t) * (size_t)(b - a + 1))))
            rc = dln_fail(err, DLN_ENOMEM, "out of memory");
        for (long v = a; !rc && v <= b; v++) o->seeds[o->n_seeds++] = (uint64_t)v;
        free(copy);
        return rc;
    }
    size_t n = 1;
    for (const char *p = s; *p; p++) n += *p == ',';
    if (n > (size_t)CLI_MAX_MEMBERS) rc = dln_fail(err, DLN_EINPUT, "--seeds: more than %ld seeds", CLI_MAX_MEMBERS);
    if (!rc && !(o->seeds = malloc(sizeof(uint64_t) * n))) rc = dln_fail(err, DLN_ENOMEM, "out of memory");
    char *tok = copy;
    for (size_t k = 0; !rc && k < n; k++) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        rc = parse_long("seeds", tok, 0, __LONG_MAX__, &a, err);
        if (!rc) o->seeds[o->n_seeds++] = (uint64_t)a;
        tok = comma ? comma + 1 : tok;
    }
    free(copy);
    return rc;
}

static void defaults(cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->dx = 32;
    o->dy = 32;
    o->samples = 256;
    o->teacher_rank = 8;
    o->noise = 0.1;
    o->seed = 1;
    o->depth = 4;
    o->width = 4;
    o->init = DLN_INIT_ORTHOGONAL;
    o->init_scale = 1.0;
    o->backend = DLN_BACKEND_AUTO;
    o->dtype = DLN_F64;
    o->precision = "fp64";
    dln_train_opts_default(&o->train);
    cli_dyn_defaults(&o->dyn);
    cli_loss_defaults(o);
    cli_matrix_defaults(o);
    o->log_every = 100;
}

static int set_option(int c, const char *a, cli_opts *o, dln_error *err)
{
    long v;
    switch (c) {
    case O_X: o->x_path = a; return DLN_OK;
    case O_Y: o->y_path = a; return DLN_OK;
    case O_DX: o->synth_set = 1; return parse_int("dx", a, 1, DLN_MAX_DIM, &o->dx, err);
    case O_DY: o->synth_set = 1; return parse_int("dy", a, 1, DLN_MAX_DIM, &o->dy, err);
    case O_SAMPLES: o->synth_set = 1; return parse_int("samples", a, 1, DLN_MAX_DIM, &o->samples, err);
    case O_TRANK: o->synth_set = 1; return parse_int("teacher-rank", a, 1, DLN_MAX_DIM, &o->teacher_rank, err);
    case O_NOISE: o->noise_set = 1; return cli_parse_double("noise", a, 0, 1e150, &o->noise, err);
    case O_SEED:
        o->seed_set = 1;
        DLN_TRY(parse_long("seed", a, 0, __LONG_MAX__, &v, err));
        o->seed = (uint64_t)v;
        return DLN_OK;
    case O_SEEDS: return parse_seeds(a, o, err);
    case O_BSIZE: return parse_int("batch-size", a, 1, (int)CLI_MAX_MEMBERS, &o->batch_size, err);
    case O_THREADS: return parse_int("threads", a, 0, 1024, &o->threads, err);
    case O_DSEED:
        o->data_seed_set = 1;
        DLN_TRY(parse_long("data-seed", a, 0, __LONG_MAX__, &v, err));
        o->data_seed = (uint64_t)v;
        return DLN_OK;
    case O_DEPTH: o->depth_set = 1; return parse_int("depth", a, 1, DLN_MAX_DEPTH, &o->depth, err);
    case O_WIDTH: o->width_set = 1; return parse_int("width", a, 1, DLN_MAX_DIM, &o->width, err);
    case O_WIDTHS: o->widths_set = 1; return parse_widths(a, o, err);
    case O_LOAD: o->load_dir = a; return DLN_OK;
    case O_SAVE: o->save_dir = a; return DLN_OK;
    case O_INIT:
        if (dln_init_parse(a, &o->init))
            return dln_fail(err, DLN_EINPUT, "--init: expected gaussian, orthogonal, identity or balanced, got '%s'", a);
        return DLN_OK;
    case O_ISCALE: o->init_scale_set = 1; return cli_parse_double("init-scale", a, 0, 1e100, &o->init_scale, err);
    case O_RANK: return parse_int("rank", a, 1, DLN_MAX_DIM, &o->rank, err);
    case O_RTOL: return cli_parse_double("rank-tol", a, 1e-300, 1, &o->rank_tol, err);
    case O_SOLVER:
        if (dln_solver_route_parse(a, &o->solver))
            return dln_fail(err, DLN_EINPUT, "--solver: expected qr, svd or auto, got '%s'", a);
        return DLN_OK;
    case O_LR:
        if (!strcmp(a, "auto") || !strcmp(a, "arora")) {
            o->train.lr = 0;
            o->train.lr_rule = !strcmp(a, "arora") ? DLN_LR_ARORA : DLN_LR_SHARPNESS;
            return DLN_OK;
        }
        DLN_TRY(cli_parse_double("lr", a, 0, 1e300, &o->train.lr, err));
        if (o->train.lr <= 0) return dln_fail(err, DLN_EINPUT, "--lr: expected a positive number, auto or arora, got '%s'", a);
        return DLN_OK;
    case O_MOM:
        DLN_TRY(cli_parse_double("momentum", a, 0, 1, &o->train.momentum, err));
        if (o->train.momentum >= 1) return dln_fail(err, DLN_EINPUT, "--momentum: must be < 1, got '%s'", a);
        return DLN_OK;
    case O_LS: o->train.line_search = 1; return DLN_OK;
    case O_STEPS: return parse_long("steps", a, 0, 1000000000000L, &o->train.steps, err);
    case O_TOL: return cli_parse_double("tol", a, 0, 1e300, &o->train.tol, err);
    case O_LOG: o->log_path = a; return DLN_OK;
    case O_LOGE: return parse_int("log-every", a, 1, 1 << 30, &o->log_every, err);
    case O_CHECKE: return parse_int("check-every", a, 1, 1 << 30, &o->train.check_every, err);
    case O_FULL: o->train.data_mode = DLN_DATA_FULL; return DLN_OK;
    case O_COMPRESSED: o->train.data_mode = DLN_DATA_COMPRESSED; return DLN_OK;
    case O_QUIET: o->quiet = 1; return DLN_OK;
    case O_BACKEND:
        if (!strcmp(a, "cpu")) o->backend = DLN_BACKEND_CPU;
        else if (!strcmp(a, "cuda")) o->backend = DLN_BACKEND_CUDA;
        else if (!strcmp(a, "auto")) o->backend = DLN_BACKEND_AUTO;
        else return dln_fail(err, DLN_EINPUT, "--backend: expected cpu, cuda or auto, got '%s'", a);
        return DLN_OK;
    case O_PREC:
        o->precision = a;
        if (!strcmp(a, "fp64")) o->dtype = DLN_F64, o->math = DLN_MATH_DEFAULT;
        else if (!strcmp(a, "fp32")) o->dtype = DLN_F32, o->math = DLN_MATH_DEFAULT;
        else if (!strcmp(a, "tf32")) o->dtype = DLN_F32, o->math = DLN_MATH_TF32;
        else return dln_fail(err, DLN_EINPUT, "--precision: expected fp64, fp32 or tf32, got '%s'", a);
        return DLN_OK;
    default:
        if (c >= CLI_MATRIX_FIRST) return cli_matrix_option(c, a, o, err);
        if (c >= CLI_LOSS_FIRST) return cli_loss_option(c, a, o, err);
        if (c >= CLI_DYN_FIRST) return cli_dyn_option(c, a, o, err);
        return dln_fail(err, DLN_EINPUT, "internal: unknown option code %d", c);
    }
}

/* The list of option c (--init, --init-scale, --lr or --momentum): each comma-separated
 * value parsed as the option alone (set_option, which leaves it in the single-run field)
 * and kept in the option's list. */
static int parse_list(int c, const char *a, cli_opts *o, dln_error *err)
{
    const char *name = c == O_INIT ? "init" : c == O_ISCALE ? "init-scale" : c == O_LR ? "lr" : "momentum";
    size_t n = 1;
    for (const char *p = a; *p; p++) n += *p == ',';
    if (n > (size_t)CLI_MAX_MEMBERS) return dln_fail(err, DLN_EINPUT, "--%s: more than %ld values", name, CLI_MAX_MEMBERS);
    int *count = c == O_INIT ? &o->n_inits : c == O_ISCALE ? &o->n_scales : c == O_LR ? &o->n_lrs : &o->n_moms;
    *count = 0;
    int rc = DLN_OK;
    if (c == O_INIT) free(o->inits), rc = !(o->inits = malloc(sizeof(dln_init_kind) * n));
    if (c == O_ISCALE) free(o->scales), rc = !(o->scales = malloc(sizeof(double) * n));
    if (c == O_MOM) free(o->moms), rc = !(o->moms = malloc(sizeof(double) * n));
    if (c == O_LR) {
        free(o->lrs), free(o->lr_rules);
        o->lrs = malloc(sizeof(double) * n), o->lr_rules = malloc(sizeof(dln_lr_rule) * n);
        rc = !o->lrs || !o->lr_rules;
    }
    char *copy = strdup(a), *tok = copy;
    if (rc || !copy) {
        free(copy);
        return dln_fail(err, DLN_ENOMEM, "out of memory");
    }
    for (size_t k = 0; !rc && k < n; k++) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        if (!*tok) rc = dln_fail(err, DLN_EINPUT, "--%s: an empty value in the list '%s'", name, a);
        if (!rc) rc = set_option(c, tok, o, err);
        if (rc) break;
        if (c == O_INIT) o->inits[k] = o->init;
        if (c == O_ISCALE) o->scales[k] = o->init_scale;
        if (c == O_LR) o->lrs[k] = o->train.lr, o->lr_rules[k] = o->train.lr_rule;
        if (c == O_MOM) o->moms[k] = o->train.momentum;
        *count = (int)k + 1;
        tok = comma ? comma + 1 : tok;
    }
    free(copy);
    return rc;
}

/* A batch's options: lists of the values that may differ between members, on data and a
 * shape they share; the line search trains single runs only. */
static int check_batch(cli_opts *o, dln_error *err)
{
    if (o->seeds_set && o->seed_set) return dln_fail(err, DLN_EINPUT, "--seed and --seeds exclude each other: give one");
    if (o->seeds_set) o->seed = o->seeds[0];
    double members = 1;
    int n[] = {o->n_seeds, o->n_inits, o->n_scales, o->n_lrs, o->n_moms};
    for (int i = 0; i < 5; i++) members *= n[i] > 1 ? n[i] : 1;
    if (members > (double)CLI_MAX_MEMBERS)
        return dln_fail(err, DLN_EINPUT, "the lists make %.0f members; at most %ld can be trained in one process",
                        members, CLI_MAX_MEMBERS);
    if (members <= 1) return DLN_OK;
    if (o->train.line_search)
        return dln_fail(err, DLN_EINPUT, "--line-search trains single runs only: give single values of --seeds, "
                        "--init, --init-scale, --lr and --momentum");
    if (o->load_dir && (o->n_seeds > 1 || o->n_inits > 1 || o->n_scales > 1))
        return dln_fail(err, DLN_EINPUT, "--load starts every member from the same weights: lists of --seeds, "
                        "--init and --init-scale need the initialiser");
    return DLN_OK;
}

/* Combinations that make no sense are refused here, with the reason. */
static int check_combinations(const char *command, cli_opts *o, dln_error *err)
{
    if (!o->x_path != !o->y_path) return dln_fail(err, DLN_EINPUT, "--x and --y go together: give both or neither");
    DLN_TRY(cli_matrix_check(o, err));
    if (o->x_path && (o->synth_set || o->noise_set || o->data_seed_set))
        return dln_fail(err, DLN_EINPUT, "--dx/--dy/--samples/--teacher-rank/--noise/--data-seed describe the "
                        "synthetic problem and cannot be combined with --x/--y");
    if (o->train.line_search && o->train.momentum != 0.0)
        return dln_fail(err, DLN_EINPUT, "--line-search works with plain gradient descent (--momentum 0)");
    if (o->width_set && o->widths_set) return dln_fail(err, DLN_EINPUT, "--width and --widths exclude each other");
    if (o->load_dir && (o->depth_set || o->width_set || o->widths_set))
        return dln_fail(err, DLN_EINPUT, "--load takes depth and widths from the files: drop --depth/--width/--widths");
    if (o->load_dir && (o->init_scale_set))
        return dln_fail(err, DLN_EINPUT, "--load starts from the saved weights: drop --init-scale");
    if (o->widths_set) {
        if (o->depth_set && o->depth != o->n_widths + 1)
            return dln_fail(err, DLN_EINPUT, "--depth %d needs %d hidden widths but --widths gives %d", o->depth,
                            o->depth - 1, o->n_widths);
        o->depth = o->n_widths + 1;
    }
    if (!strcmp(command, "solve") && o->rank && (o->depth_set || o->width_set || o->widths_set))
        return dln_fail(err, DLN_EINPUT, "--rank and --depth/--width/--widths both set the rank bound: give one");
    if (strcmp(command, "solve")) DLN_TRY(check_batch(o, err));
    if (!o->data_seed_set) o->data_seed = o->seed;
    DLN_TRY(cli_loss_check(o, err));
    return cli_dyn_check(command, o, err);
}

int cli_parse(const char *command, int argc, char **argv, cli_opts *o, dln_error *err)
{
    defaults(o);
    const struct option *table = !strcmp(command, "solve") ? solve_opts : !strcmp(command, "hessian") ? hessian_opts : train_opts;
    optind = 1;
    opterr = 0;
    int c, idx;
    while ((c = getopt_long(argc, argv, ":h", table, &idx)) != -1) {
        if (c == O_HELP || c == 'h') {
            cli_print_help(command);
            return -1;
        }
        if (c == '?')
            return dln_fail(err, DLN_EINPUT, "%s: unknown option '%s' (see dln %s --help)", command,
                            argv[optind - 1], command);
        if (c == ':')
            return dln_fail(err, DLN_EINPUT, "%s: option '%s' needs a value", command, argv[optind - 1]);
        if (c == O_INIT || c == O_ISCALE || c == O_LR || c == O_MOM) DLN_TRY(parse_list(c, optarg, o, err));
        else DLN_TRY(set_option(c, optarg, o, err));
    }
    if (optind < argc)
        return dln_fail(err, DLN_EINPUT, "%s: unexpected argument '%s' (see dln %s --help)", command, argv[optind],
                        command);
    return check_combinations(command, o, err);
}

void cli_opts_free(cli_opts *o)
{
    free(o->widths);
    free(o->seeds), free(o->inits), free(o->scales), free(o->lrs), free(o->lr_rules), free(o->moms);
    o->widths = NULL, o->seeds = NULL, o->inits = NULL, o->scales = NULL, o->lrs = NULL, o->lr_rules = NULL;
    o->moms = NULL;
}
