/* test_cli_runs.c: the `dln` program's good paths (suite "cli"; the runner, fixtures and suite
 * set-up are in tests/test_cli_runner.c): JSON summaries with their keys, convergence of the
 * default experiment, `solve` on C- and Fortran-order, float64 and float32 files, atomic
 * --save / --load round trips, the JSONL trace of --log, complete --help texts (checked
 * against the option tables of src/cli/options.c), `info`, train, solve and info on the
 * CUDA backend where a device is present (a GPU, or the emulated device of tests/cudaemu,
 * whose memory can be limited to reach the refusal of a network that does not fit). The
 * usage error of a bare `dln` is in test_cli_contract.c. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_runner.h"
#include "dln/dln.h"
#include "test_support.h"

/* ---- good paths --------------------------------------------------------------------------------- */

static const char *const train_keys[] = {"loss", "optimum", "gap", "rel_gap", "steps", "converged", "seconds", NULL};
static const char *const solve_keys[] = {"optimum", "lstsq", "rank_x", "rank_y", "rank", NULL};

Test(cli, default_train_converges)
{
    run_t r = expect_ok(DLN("train"));
    expect_keys(r.out, train_keys);
    cr_assert(jbool(r.out, "converged"), "default experiment did not converge: %s", r.out);
    cr_assert(strchr(r.out, '\n') == r.out + strlen(r.out) - 1, "summary is not one line");
    double loss = jnum(r.out, "loss"), opt = jnum(r.out, "optimum"), gap = jnum(r.out, "gap");
    cr_assert(loss >= opt * (1 - 1e-9) && fabs(loss - opt - gap) <= 1e-9 * loss, "loss %g optimum %g gap %g",
              loss, opt, gap);
    cr_assert(jnum(r.out, "rel_gap") <= 1e-6);
    run_free(&r);
}

Test(cli, solve_prints_required_keys)
{
    run_t r = expect_ok(DLN("solve", "--x", P("X.npy"), "--y", P("Y.npy"), "--rank", "2"));
    expect_keys(r.out, solve_keys);
    cr_assert_eq(jnum(r.out, "rank"), 2, "%s", r.out);
    cr_assert_eq(jnum(r.out, "rank_x"), 4, "%s", r.out);
    cr_assert_eq(jnum(r.out, "rank_y"), 3, "%s", r.out);
    double opt = jnum(r.out, "optimum"), ls = jnum(r.out, "lstsq");
    cr_assert(opt >= ls && ls >= 0, "optimum %g < lstsq %g", opt, ls);
    /* the same matrix as float32, in Fortran order: same ranks */
    npy_mat("X4.npy", "<f4", 1, 4, 6, 0, SIZE_MAX);
    run_t r4 = expect_ok(DLN("solve", "--x", P("X4.npy"), "--y", P("Y.npy"), "--rank", "2"));
    cr_assert_eq(jnum(r4.out, "rank_x"), 4);
    cr_assert(fabs(jnum(r4.out, "optimum") - opt) <= 1e-5 * (1 + opt));
    run_free(&r), run_free(&r4);
    /* synthetic without --x/--y */
    run_t s = expect_ok(DLN("solve", "--dx", "5", "--dy", "4", "--samples", "20"));
    expect_keys(s.out, solve_keys);
    jstr_is(s.out, "data", "synthetic");
    cr_assert_eq(jnum(s.out, "rank_x"), 5);
    run_free(&s);
}

/* --solver: the summary names the route that ran; both routes give the same optimum; the
 * QR route needs m >= dx (auto takes the SVD route for wide X, an explicit qr is refused). */
Test(cli, solver_routes)
{
    run_t a = expect_ok(DLN("solve", "--dx", "9", "--dy", "5", "--samples", "300", "--rank", "2"));
    run_t s = expect_ok(DLN("solve", "--dx", "9", "--dy", "5", "--samples", "300", "--rank", "2", "--solver", "svd"));
    run_t q = expect_ok(DLN("solve", "--dx", "9", "--dy", "5", "--samples", "300", "--rank", "2", "--solver", "qr"));
    jstr_is(a.out, "solver", "qr");
    jstr_is(s.out, "solver", "svd");
    jstr_is(q.out, "solver", "qr");
    double os = jnum(s.out, "optimum"), oq = jnum(q.out, "optimum");
    cr_assert(fabs(oq - os) <= 1e-10 * os, "optimum by qr %.17g, by svd %.17g", oq, os);
    run_t w = expect_ok(DLN("solve", "--dx", "12", "--dy", "5", "--samples", "6"));
    jstr_is(w.out, "solver", "svd");
    expect_bad(DLN("solve", "--dx", "12", "--dy", "5", "--samples", "6", "--solver", "qr"), "SVD route");
    run_t t = expect_ok(DLN("train", "--steps", "3", "--quiet", "--solver", "svd"));
    jstr_is(t.out, "solver", "svd");
    run_free(&a), run_free(&s), run_free(&q), run_free(&w), run_free(&t);
}

Test(cli, save_then_load_gives_same_loss)
{
    run_t a = expect_ok(DLN("train", "--dx", "8", "--dy", "6", "--samples", "32", "--teacher-rank", "2",
                            "--depth", "3", "--width", "3", "--steps", "300", "--quiet", "--save", P("w")));
    expect_keys(a.out, train_keys);
    char l[4096];
    listing(P("w"), l, sizeof l);
    cr_assert_str_eq(l, "W1.npy W2.npy W3.npy ");
    listing(tdir, l, sizeof l);
    cr_assert_str_eq(l, "X.npy Y.npy w [W1.npy W2.npy W3.npy ] ", "stray temporary files: %s", l);
    run_t b = expect_ok(DLN("train", "--dx", "8", "--dy", "6", "--samples", "32", "--teacher-rank", "2",
                            "--load", P("w"), "--steps", "0", "--tol", "0", "--quiet"));
    double la = jnum(a.out, "loss"), lb = jnum(b.out, "loss");
    cr_assert(fabs(la - lb) <= 1e-12 * fabs(la), "loss after --load %.17g != saved run's loss %.17g", lb, la);
    cr_assert_eq(jnum(b.out, "steps"), 0);
    cr_assert_eq(jnum(b.out, "depth"), 3);
    jints_are(b.out, "widths", (const int[]){3, 3}, 2);
    run_free(&a), run_free(&b);
}

Test(cli, save_replaces_previous_save)
{
    run_t a = expect_ok(DLN("train", SMALL, "--depth", "3", "--steps", "5", "--quiet", "--save", P("w")));
    cr_assert(exists(P("w/W3.npy")));
    run_t b = expect_ok(DLN("train", SMALL, "--depth", "2", "--width", "2", "--steps", "5", "--quiet", "--save",
                            P("w/")));
    char l[4096];
    listing(tdir, l, sizeof l);
    cr_assert_str_eq(l, "X.npy Y.npy w [W1.npy W2.npy ] ", "after re-saving: %s", l);
    run_t c = expect_ok(DLN("train", SMALL, "--load", P("w"), "--steps", "0", "--quiet"));
    cr_assert_eq(jnum(c.out, "depth"), 2);
    cr_assert(fabs(jnum(c.out, "loss") - jnum(b.out, "loss")) <= 1e-12 * jnum(b.out, "loss"));
    run_free(&a), run_free(&b), run_free(&c);
}

Test(cli, log_writes_jsonl)
{
    run_t r = expect_ok(DLN("train", SMALL, "--steps", "50", "--tol", "0", "--log-every", "10", "--quiet", "--log",
                            P("trace.jsonl")));
    size_t n;
    char *t = read_all(P("trace.jsonl"), &n);
    cr_assert(n > 0 && t[n - 1] == '\n', "trace must end with a newline");
    static const char *const keys[] = {"step", "loss", "gap", "rel_gap", "grad_norm", "seconds", NULL};
    int lines = 0;
    for (char *save = NULL, *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        expect_keys(line, keys);
        cr_assert_eq(jnum(line, "step"), 10 * lines, "line %d: %s", lines, line);
        lines++;
    }
    cr_assert(lines >= 5, "expected a line every 10 of 50 steps, got %d", lines);
    free(t);
    run_free(&r);
}

/* ---- help and info ------------------------------------------------------------------------------- */

/* opt occurs in the help text as a whole option name (not a prefix of a longer one): the
 * text's words of [-a-z0-9_] characters are compared with it. */
static int mentions(const char *text, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = text; *p;) {
        size_t len = strspn(p, "-_abcdefghijklmnopqrstuvwxyz0123456789");
        if (len == n && !strncmp(p, opt, n)) return 1;
        p += len ? len : 1;
    }
    return 0;
}

static const char *const common_opts[] = {"--x", "--y", "--dx", "--dy", "--samples", "--teacher-rank",
                                          "--noise", "--seed", "--data-seed", "--depth", "--width",
                                          "--widths", "--rank-tol", "--backend", "--precision", "--help", NULL};
static const char *const train_only[] = {"--load", "--save", "--init", "--init-scale", "--lr", "--momentum",
                                         "--line-search", "--steps", "--tol", "--log", "--log-every",
                                         "--check-every", "--full-data", "--compressed", "--quiet", NULL};

/* Every long option of the table `name` in src/cli/options.c (the suite runs from the
 * repository root), so that an option added later without help text is caught too. */
static void expect_table_in_help(const char *cmd, const char *name, const char *help)
{
    FILE *f = fopen("src/cli/options.c", "rb");
    cr_assert_not_null(f, "src/cli/options.c not found: run the suite from the repository root");
    size_t n;
    char *src = slurp(f, &n), pat[64], opt[64];
    snprintf(pat, sizeof pat, "%s[] = {", name);
    char *p = strstr(src, pat), *end = p ? strstr(p, "{0, 0, 0, 0}") : NULL;
    cr_assert(p && end, "option table %s not found in src/cli/options.c", name);
    int count = 0;
    for (p = strstr(p, "{\""); p && p < end; p = strstr(p + 1, "{\"")) {
        cr_assert(sscanf(p, "{\"%60[^\"]\"", opt + 2) == 1);
        opt[0] = opt[1] = '-';
        cr_assert(mentions(help, opt), "dln %s --help does not document %s", cmd, opt);
        count++;
    }
    cr_assert(count >= 10, "only %d options found in %s", count, name);
    free(src);
}

static void expect_help(const char *cmd, const char *table, const char *const *a, const char *const *b)
{
    run_t r = expect_ok(DLN((char *)cmd, "--help"));
    cr_assert_str_empty(r.err, "dln %s --help wrote to stderr: %s", cmd, r.err);
    for (const char *const *s = a; *s; s++) cr_assert(mentions(r.out, *s), "dln %s --help lacks %s", cmd, *s);
    for (const char *const *s = b; *s; s++) cr_assert(mentions(r.out, *s), "dln %s --help lacks %s", cmd, *s);
    expect_table_in_help(cmd, table, r.out);
    run_free(&r);
}

Test(cli, help_documents_every_option)
{
    static const char *const solve_only[] = {"--rank", NULL};
    expect_help("train", "train_opts", common_opts, train_only);
    expect_help("solve", "solve_opts", common_opts, solve_only);
    run_t r = expect_ok(DLN("--help"));
    for (const char *const *c = (const char *const[]){"train", "solve", "info", NULL}; *c; c++)
        cr_assert(mentions(r.out, *c), "dln --help does not mention %s", *c);
    run_free(&r);
    /* --help wins over other (valid) options and does no work */
    run_t h = expect_ok(DLN("train", "--save", P("out"), "--help"));
    cr_assert(!exists(P("out")));
    run_free(&h);
}

Test(cli, info_lists_backends)
{
    run_t r = expect_ok(DLN("info"));
    static const char *const keys[] = {"version", "backends", "devices", NULL};
    expect_keys(r.out, keys);
    jstr_is(r.out, "backends", dln_backends_compiled());
    jstr_is(r.out, "version", DLN_VERSION);
    run_free(&r);
}

/* A diverged run is a result (exit 0, "diverged": true) with one stderr line saying what
 * to change, in the program's flags; its weights are not saved. */
Test(cli, divergence_is_reported_with_advice)
{
    run_t r = expect_ok(DLN("train", SMALL, "--lr", "10", "--steps", "200", "--quiet", "--save", P("w")));
    cr_assert(jbool(r.out, "diverged"), "%s", r.out);
    cr_assert(!jbool(r.out, "converged"), "%s", r.out);
    cr_assert(ts_says(r.err, "--lr") && ts_says(r.err, "--line-search") && ts_says(r.err, "weights not saved"),
              "stderr: %s", r.err);
    cr_assert(strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "one stderr line: %s", r.err);
    cr_assert(!exists(P("w")), "the weights of a diverged run were saved");
    run_free(&r);
}

/* ---- the CUDA backend end to end ------------------------------------------------------------------- */

/* The "devices" value of `dln info` (fresh), or NULL when no CUDA device is listed. */
static char *cuda_devices(void)
{
    run_t r = expect_ok(DLN("info"));
    struct json_t *j = jparse(r.out);
    const char *d = json_string_value(json_object_get(j, "devices"));
    char *dev = d && !strncmp(d, "cuda:", 5) ? strdup(d) : NULL;
    json_decref(j);
    run_free(&r);
    return dev;
}

/* train, solve and info on --backend cuda, against the CPU: a GPU, or the emulated device
 * (then DLN_TEST_EXPECT_DEVICE names what `info` must say). */
Test(cli, cuda_backend_end_to_end)
{
    char *dev = cuda_devices();
    if (!dev) cr_skip_test("no CUDA device: the CUDA backend's end-to-end runs are skipped");
    const char *want = getenv("DLN_TEST_EXPECT_DEVICE");
    cr_assert(!want || ts_says(dev, want), "dln info lists \"%s\", expected a device named with \"%s\"", dev, want);
    free(dev);
    /* train at the auto step size (sign-invariant, so the same on both backends); on CUDA the
     * loss is read every 50 steps, the unmeasured graph replayed between checks */
#define TRAIN(backend, precision)                                                                             \
    DLN("train", "--backend", backend, "--precision", precision, "--dx", "8", "--dy", "6", "--samples", "40", \
        "--depth", "3", "--steps", "400", "--tol", "0", "--quiet")
    run_t g = expect_ok(TRAIN("cuda", "fp64")), c = expect_ok(TRAIN("cpu", "fp64"));
    cr_assert_str_empty(g.err, "dln train --backend cuda wrote to stderr: %s", g.err);
    jstr_is(g.out, "backend", "cuda");
    double lg = jnum(g.out, "loss"), lc = jnum(c.out, "loss");
    /* one fp64 rounding order against another over 400 stable steps: 1e-9 */
    cr_assert(fabs(lg - lc) <= 1e-9 * lc, "loss after 400 steps: cuda %.17g, cpu %.17g", lg, lc);
    cr_assert(fabs(jnum(g.out, "lr") - jnum(c.out, "lr")) <= 1e-12 * jnum(c.out, "lr"), "auto lr differs");
    cr_assert_eq(jnum(g.out, "steps"), 400);
    run_t t = expect_ok(TRAIN("cuda", "tf32")), f = expect_ok(TRAIN("cuda", "fp32"));
    cr_assert(fabs(jnum(t.out, "loss") - lc) <= 2e-2 * lc, "tf32 loss %g vs fp64 %g", jnum(t.out, "loss"), lc);
    cr_assert(fabs(jnum(f.out, "loss") - lc) <= 1e-4 * lc, "fp32 loss %g vs fp64 %g", jnum(f.out, "loss"), lc);
#undef TRAIN
    run_free(&g), run_free(&c), run_free(&t), run_free(&f);
    /* solve from files */
    run_t sg = expect_ok(DLN("solve", "--backend", "cuda", "--x", P("X.npy"), "--y", P("Y.npy"), "--rank", "2"));
    run_t sc = expect_ok(DLN("solve", "--backend", "cpu", "--x", P("X.npy"), "--y", P("Y.npy"), "--rank", "2"));
    cr_assert_str_empty(sg.err, "dln solve --backend cuda wrote to stderr: %s", sg.err);
    double og = jnum(sg.out, "optimum"), oc = jnum(sc.out, "optimum");
    cr_assert(fabs(og - oc) <= 1e-10 * (oc + jnum(sc.out, "zero_loss")), "optimum: cuda %.17g, cpu %.17g", og, oc);
    cr_assert_eq(jnum(sg.out, "rank_x"), jnum(sc.out, "rank_x"));
    cr_assert_eq(jnum(sg.out, "rank_y"), jnum(sc.out, "rank_y"));
    run_free(&sg), run_free(&sc);
}

/* Device memory limited to 64 MiB (CUDAEMU_MEM_BYTES, the emulated device only): a 3000-wide
 * network is refused before any work, in one line that gives the sizes. */
Test(cli, cuda_network_that_does_not_fit)
{
    char *dev = cuda_devices();
    int emulated = dev && ts_says(dev, "emulated");
    free(dev);
    if (!emulated) cr_skip_test("needs the emulated CUDA device, whose memory CUDAEMU_MEM_BYTES limits");
    setenv("CUDAEMU_MEM_BYTES", "64M", 1);
    expect_bad(DLN("train", "--backend", "cuda", "--dx", "8", "--dy", "8", "--samples", "40", "--depth", "3", "--width",
                   "3000", "--save", P("out")),
               "free");
    cr_assert(!exists(P("out")));
    run_t i = expect_ok(DLN("info"));
    struct json_t *j = jparse(i.out);
    cr_assert(ts_says(json_string_value(json_object_get(j, "devices")), "0.1 GiB"), "%s", i.out);
    json_decref(j);
    run_free(&i);
}
