/* test_cli.c: the `dln` program end to end (suite "cli"). Runs the binary named by
 * $DLN_BIN (default build/dln) with posix_spawn, no shell, and checks the contract:
 * bad input -> exit 2, nothing on stdout, exactly one stderr line "dln: ...", no crash,
 * no --save directory created or changed and no --log file left behind; and the good
 * paths: JSON summaries with their keys, convergence of the default experiment, atomic
 * --save / --load round trips, the JSONL trace and complete --help texts. Fixture .npy
 * files (every dtype, order and defect needed) are written here in C into a fresh
 * mkdtemp directory per test. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- running the program ------------------------------------------------------------ */

typedef struct {
    int status;   /* exit status, or -1 when it died on a signal */
    int signaled; /* the signal that killed it, 0 if none */
    char *out, *err;
    char cmd[1024]; /* the command line, for messages */
} run_t;

static char tdir[PATH_MAX];

static const char *dln_bin(void)
{
    const char *b = getenv("DLN_BIN");
    return b && *b ? b : "build/dln";
}

static char *slurp(FILE *f, size_t *len) /* the whole of f from its start */
{
    fflush(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    cr_assert(n >= 0, "ftell failed");
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    rewind(f);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Runs dln with argv (NULL-terminated, without argv[0]); stdin is /dev/null. */
static run_t run_argv(char *const *args)
{
    run_t r;
    memset(&r, 0, sizeof r);
    char *argv[64];
    int n = 0;
    argv[n++] = (char *)dln_bin();
    size_t k = (size_t)snprintf(r.cmd, sizeof r.cmd, "dln");
    for (; args[n - 1] && n < 63; n++) {
        argv[n] = args[n - 1];
        if (k < sizeof r.cmd) k += (size_t)snprintf(r.cmd + k, sizeof r.cmd - k, " %s", argv[n]);
    }
    argv[n] = NULL;
    FILE *fo = tmpfile(), *fe = tmpfile();
    cr_assert(fo && fe, "tmpfile failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fileno(fo), 1);
    posix_spawn_file_actions_adddup2(&fa, fileno(fe), 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot run %s: %s (set DLN_BIN)", argv[0], strerror(rc));
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid, "waitpid failed");
    r.signaled = WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    size_t n1, n2;
    r.out = slurp(fo, &n1);
    r.err = slurp(fe, &n2);
    return r;
}

#define DLN(...) run_argv((char *const[]){__VA_ARGS__, NULL})
#define SMALL "--dx", "6", "--dy", "5", "--samples", "20" /* a tiny synthetic problem */

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

/* Contract for bad input: exit 2, stdout empty, exactly one stderr line "dln: ..."
 * that contains `want`, no signal. */
static void expect_bad(run_t r, const char *want)
{
    cr_assert_eq(r.signaled, 0, "%s: killed by signal %d (%s)", r.cmd, r.signaled, strsignal(r.signaled));
    cr_assert_eq(r.status, 2, "%s: exit %d, expected 2; stderr: %s", r.cmd, r.status, r.err);
    cr_assert_str_empty(r.out, "%s: stdout must be empty, got: %s", r.cmd, r.out);
    size_t n = strlen(r.err);
    cr_assert(n > 5 && !strncmp(r.err, "dln: ", 5), "%s: stderr must start with 'dln: ', got: '%s'", r.cmd, r.err);
    cr_assert(r.err[n - 1] == '\n' && strchr(r.err, '\n') == r.err + n - 1,
              "%s: stderr must be exactly one line, got: '%s'", r.cmd, r.err);
    cr_assert_not_null(strstr(r.err, want), "%s: stderr '%s' should mention '%s'", r.cmd, r.err, want);
    run_free(&r);
}

/* Success: exit 0, no signal; returns the run (caller frees). */
static run_t expect_ok(run_t r)
{
    cr_assert_eq(r.signaled, 0, "%s: killed by signal %d", r.cmd, r.signaled);
    cr_assert_eq(r.status, 0, "%s: exit %d; stderr: %s", r.cmd, r.status, r.err);
    return r;
}

/* The number after "key": in a JSON text; fails the test when absent. */
static double jnum(const char *json, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    cr_assert_not_null(p, "key %s missing in %s", key, json);
    char *end;
    double v = strtod(p + strlen(pat), &end);
    cr_assert(end != p + strlen(pat), "key %s is not a number in %s", key, json);
    return v;
}

static void expect_keys(const char *json, const char *const *keys)
{
    cr_assert(json[0] == '{', "not a JSON object: %s", json);
    for (; *keys; keys++) {
        char pat[128];
        snprintf(pat, sizeof pat, "\"%s\":", *keys);
        cr_assert_not_null(strstr(json, pat), "key %s missing in %s", *keys, json);
    }
}

/* ---- files ---------------------------------------------------------------------------- */

static char *P(const char *name) /* tdir/name, 8 rotating buffers */
{
    static char buf[8][PATH_MAX + 64];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", tdir, name);
    return buf[i];
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    return slurp(f, len);
}

static void write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(s, f);
    fclose(f);
}

/* Sorted names in dir (recursively one level: "d/", "d/f"), joined by spaces. */
static void listing(const char *dir, char *buf, size_t cap)
{
    struct dirent **e;
    int n = scandir(dir, &e, NULL, alphasort);
    cr_assert(n >= 0, "scandir %s", dir);
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(e[i]->d_name, ".") && strcmp(e[i]->d_name, "..") && k < cap) {
            k += (size_t)snprintf(buf + k, cap - k, "%s ", e[i]->d_name);
            char sub[PATH_MAX + 300];
            snprintf(sub, sizeof sub, "%s/%s", dir, e[i]->d_name);
            struct stat st;
            if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && k < cap) {
                k += (size_t)snprintf(buf + k, cap - k, "[");
                listing(sub, buf + k, cap - k);
                k += strlen(buf + k);
                if (k < cap) k += (size_t)snprintf(buf + k, cap - k, "] ");
            }
        }
        free(e[i]);
    }
    free(e);
}

/* ---- .npy fixtures ---------------------------------------------------------------------- */

/* v1.0 .npy: the header dict for descr/fortran/shape padded to 64 bytes, then raw bytes. */
static void npy_raw(const char *path, const char *descr, int fortran, const char *shape, const void *data,
                    size_t nbytes)
{
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr,
                       fortran ? "True" : "False", shape);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    unsigned hl = (unsigned)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc((int)(hl & 0xff), f);
    fputc((int)(hl >> 8), f);
    fwrite(dict, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    if (nbytes) fwrite(data, 1, nbytes, f);
    fclose(f);
}

/* Encodes v as descr (<f8 >f8 <f4 <i8) into dst; returns the bytes per element. */
static size_t encode(const char *descr, double v, unsigned char *dst)
{
    uint64_t u;
    size_t w = 8;
    int big = descr[0] == '>';
    if (!strcmp(descr + 1, "f4")) {
        float x = (float)v;
        uint32_t u4;
        memcpy(&u4, &x, 4);
        u = u4, w = 4;
    } else if (!strcmp(descr + 1, "i8")) {
        int64_t i = (int64_t)v;
        memcpy(&u, &i, 8);
    } else {
        memcpy(&u, &v, 8);
    }
    for (size_t b = 0; b < w; b++) dst[big ? w - 1 - b : b] = (unsigned char)(u >> (8 * b));
    return w;
}

/* name: a (rows, cols) matrix of generic values (fixed per shape) as descr in C or Fortran
 * order, entry (rows*cols/2) set to `special` unless it is 0, only `keep` data bytes kept. */
static void npy_mat(const char *name, const char *descr, int fortran, int rows, int cols, double special, size_t keep)
{
    unsigned char *b = malloc((size_t)rows * cols * 8 + 1);
    cr_assert_not_null(b);
    size_t k = 0;
    for (int a = 0; a < (fortran ? cols : rows); a++)
        for (int c = 0; c < (fortran ? rows : cols); c++) {
            int i = fortran ? c + a * rows : a + c * rows; /* column-major index */
            double v = i == rows * cols / 2 && special != 0 ? special : sin(1.3 * i * i + 0.7 * rows * (i + 1));
            k += encode(descr, v, b + k);
        }
    char shape[64];
    snprintf(shape, sizeof shape, "(%d, %d)", rows, cols);
    npy_raw(P(name), descr, fortran, shape, b, keep < k ? keep : k);
    free(b);
}

#define MAT(name, descr, rows, cols, special) npy_mat(name, descr, 0, rows, cols, special, SIZE_MAX)

/* ---- suite set-up --------------------------------------------------------------------------- */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void setup(void)
{
    cr_assert(access(dln_bin(), X_OK) == 0, "%s is not an executable: build it or set DLN_BIN", dln_bin());
    snprintf(tdir, sizeof tdir, "%s/dln_test_cli_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(tdir), "mkdtemp failed");
    npy_mat("X.npy", "<f8", 0, 4, 6, 0, SIZE_MAX); /* C order */
    npy_mat("Y.npy", "<f8", 1, 3, 6, 0, SIZE_MAX); /* Fortran order */
}

static void teardown(void) { nftw(tdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 120);

/* Runs `dln solve` and `dln train` on --x X --y Y and expects the bad-input contract. */
static void bad_data(const char *x, const char *y, const char *want)
{
    char before[4096], after[4096];
    listing(tdir, before, sizeof before);
    expect_bad(DLN("solve", "--x", P(x), "--y", P(y)), want);
    expect_bad(DLN("train", "--x", P(x), "--y", P(y), "--save", P("out"), "--log", P("log.jsonl")), want);
    listing(tdir, after, sizeof after);
    cr_assert_str_eq(after, before, "files changed by a failed run");
}

/* ---- bad data files ------------------------------------------------------------------------ */

Test(cli, missing_x_file) { bad_data("nope.npy", "Y.npy", "nope.npy"); }

Test(cli, truncated_data)
{
    npy_mat("T.npy", "<f8", 0, 4, 6, 0, 8 * 10);
    bad_data("T.npy", "Y.npy", "truncated");
    npy_raw(P("T2.npy"), "<f8", 0, "(4, 6)", NULL, 0);
    bad_data("Y.npy", "T2.npy", "truncated");
    write_text(P("T3.npy"), "\x93NUMPY\x01");
    bad_data("T3.npy", "Y.npy", "T3.npy");
}

Test(cli, malformed_header_and_not_npy)
{
    double z[24] = {0};
    npy_raw(P("M.npy"), "<f8", 0, "(4, 6", z, sizeof z);
    bad_data("M.npy", "Y.npy", "malformed");
    write_text(P("text.npy"), "x,y\n1,2\n");
    bad_data("text.npy", "Y.npy", "not a .npy");
    write_text(P("empty.npy"), "");
    bad_data("X.npy", "empty.npy", "empty");
}

Test(cli, wrong_dtype_int64) { MAT("I.npy", "<i8", 4, 6, 0); bad_data("I.npy", "Y.npy", "<i8"); }

Test(cli, big_endian) { MAT("B.npy", ">f8", 4, 6, 0); bad_data("B.npy", "Y.npy", "big-endian"); }

Test(cli, one_and_three_dimensional)
{
    double z[24];
    for (int i = 0; i < 24; i++) z[i] = i + 1;
    npy_raw(P("V.npy"), "<f8", 0, "(6,)", z, 6 * 8);
    bad_data("V.npy", "Y.npy", "2-D");
    npy_raw(P("C.npy"), "<f8", 0, "(2, 2, 6)", z, 24 * 8);
    bad_data("X.npy", "C.npy", "2-D");
}

Test(cli, columns_differ) { MAT("Y5.npy", "<f8", 3, 5, 0); bad_data("X.npy", "Y5.npy", "columns"); }

Test(cli, nan_in_x) { MAT("XN.npy", "<f8", 4, 6, NAN); bad_data("XN.npy", "Y.npy", "NaN"); }

Test(cli, inf_in_y) { MAT("YI.npy", "<f4", 3, 6, -INFINITY); bad_data("X.npy", "YI.npy", "Inf"); }

Test(cli, y_all_zero)
{
    double z[18] = {0};
    npy_raw(P("Z.npy"), "<f8", 1, "(3, 6)", z, sizeof z);
    bad_data("X.npy", "Z.npy", "zero");
}

Test(cli, zero_size_dims)
{
    npy_raw(P("E.npy"), "<f8", 0, "(0, 6)", NULL, 0);
    bad_data("E.npy", "Y.npy", "size 0");
    npy_raw(P("E2.npy"), "<f8", 1, "(3, 0)", NULL, 0);
    bad_data("X.npy", "E2.npy", "size 0");
}

/* ---- bad option values and combinations ---------------------------------------------------- */

Test(cli, zero_and_absurd_sizes)
{
    expect_bad(DLN("train", "--dx", "0"), "--dx");
    expect_bad(DLN("solve", "--samples", "0"), "--samples");
    expect_bad(DLN("train", "--dx", "100000000", "--samples", "100000000"), "--dx");
    expect_bad(DLN("train", "--width", "2000000000"), "--width");
    expect_bad(DLN("solve", "--dy", "99999999999999999999"), "--dy");
    /* within the per-dimension limit but far beyond any memory */
    expect_bad(DLN("solve", "--dx", "16777216", "--samples", "16777216"), "memory");
    expect_bad(DLN("train", "--width", "16777216", "--save", P("out")), "memory");
    cr_assert(!exists(P("out")));
}

Test(cli, invalid_option_values)
{
    static const char *cases[][3] = {
        {"train", "--lr", "-1"},        {"train", "--lr", "abc"},         {"train", "--lr", "0"},
        {"train", "--steps", "-5"},     {"train", "--tol", "nan"},        {"train", "--momentum", "1.5"},
        {"train", "--momentum", "1"},   {"train", "--init", "foo"},       {"train", "--backend", "tpu"},
        {"solve", "--backend", "tpu"},  {"train", "--precision", "fp16"}, {"solve", "--precision", "fp16"},
        {"train", "--widths", "4,,4"},  {"train", "--widths", "4,x"},     {"train", "--widths", "4,"},
        {"train", "--widths", "0"},     {"train", "--depth", "0"},        {"train", "--init-scale", "-1"},
        {"train", "--noise", "inf"},    {"train", "--seed", "-3"},        {"train", "--check-every", "0"},
        {"train", "--log-every", "0"},  {"solve", "--rank", "0"},         {"solve", "--rank-tol", "-1"},
        {"train", "--steps", "abc"},    {"train", "--teacher-rank", "0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_bad(DLN((char *)cases[i][0], (char *)cases[i][1], (char *)cases[i][2], "--save", P("out")), cases[i][1]);
    cr_assert(!exists(P("out")), "--save directory created by a refused run");
}

Test(cli, unknown_option_missing_value_and_stray_arguments)
{
    expect_bad(DLN("train", "--bogus"), "--bogus");
    expect_bad(DLN("solve", "--save", "x"), "--save"); /* train-only option */
    expect_bad(DLN("train", "--lr"), "--lr");
    expect_bad(DLN("solve", "--x"), "--x");
    expect_bad(DLN("train", "stray"), "stray");
    expect_bad(DLN("frobnicate"), "frobnicate");
}

Test(cli, conflicting_options)
{
    expect_bad(DLN("solve", "--x", P("X.npy")), "--y");
    expect_bad(DLN("train", "--y", P("Y.npy")), "--x");
    expect_bad(DLN("train", "--x", P("X.npy"), "--y", P("Y.npy"), "--dx", "3"), "--dx");
    expect_bad(DLN("train", "--width", "3", "--widths", "3,3"), "--widths");
    expect_bad(DLN("train", "--depth", "4", "--widths", "3,3"), "--depth");
    expect_bad(DLN("train", "--load", P("w"), "--depth", "2"), "--load");
    expect_bad(DLN("solve", "--rank", "2", "--depth", "3"), "--rank");
}

/* ---- --load --------------------------------------------------------------------------------- */

static void weights_dir(const char *dir, int r1, int c1, int r2, int c2)
{
    mkdir(P(dir), 0777);
    char n[64];
    snprintf(n, sizeof n, "%s/W1.npy", dir);
    MAT(n, "<f8", r1, c1, 0);
    snprintf(n, sizeof n, "%s/W2.npy", dir);
    MAT(n, "<f8", r2, c2, 0);
}

Test(cli, load_rejects_bad_weights)
{
    char x[PATH_MAX + 64], y[PATH_MAX + 64]; /* dx = 4, dy = 3 */
    snprintf(x, sizeof x, "%s", P("X.npy"));
    snprintf(y, sizeof y, "%s", P("Y.npy"));
    weights_dir("nochain", 4, 4, 3, 5);
    expect_bad(DLN("train", "--x", x, "--y", y, "--load", P("nochain")), "W2");
    weights_dir("wrongdy", 4, 4, 5, 4);
    expect_bad(DLN("train", "--x", x, "--y", y, "--load", P("wrongdy")), "dy");
    weights_dir("wrongdx", 4, 7, 3, 4);
    expect_bad(DLN("train", "--x", x, "--y", y, "--load", P("wrongdx")), "W1");
    mkdir(P("nanw"), 0777);
    MAT("nanw/W1.npy", "<f8", 3, 4, NAN);
    expect_bad(DLN("train", "--x", x, "--y", y, "--load", P("nanw")), "NaN");
    mkdir(P("emptyw"), 0777);
    expect_bad(DLN("train", "--x", x, "--y", y, "--load", P("emptyw")), "W1");
    expect_bad(DLN("train", "--x", x, "--y", y, "--load", P("missing")), "missing");
    expect_bad(DLN("train", "--x", x, "--y", y, "--load", x), "X.npy");
}

/* ---- --save / --log: unwritable paths, no partial output ------------------------------------- */

Test(cli, save_unwritable)
{
    write_text(P("afile"), "keep");
    char before[4096], after[4096];
    listing(tdir, before, sizeof before);
    expect_bad(DLN("train", SMALL, "--save", "/proc/nonexistent/dir"), "--save");
    expect_bad(DLN("train", SMALL, "--save", P("afile/sub")), "--save");
    expect_bad(DLN("train", SMALL, "--save", P("afile")), "--save");
    expect_bad(DLN("train", SMALL, "--save", P("no/such/dir"), "--log", P("log.jsonl")), "--save");
    listing(tdir, after, sizeof after);
    cr_assert_str_eq(after, before, "a failed --save left files behind");
    size_t n;
    char *s = read_all(P("afile"), &n);
    cr_assert_str_eq(s, "keep");
    free(s);
}

Test(cli, log_unwritable)
{
    write_text(P("afile"), "keep");
    char before[4096], after[4096];
    listing(tdir, before, sizeof before);
    expect_bad(DLN("train", SMALL, "--log", "/proc/nonexistent/l.jsonl", "--save", P("out")), "--log");
    expect_bad(DLN("train", SMALL, "--log", P("afile/l.jsonl")), "--log");
    expect_bad(DLN("train", SMALL, "--log", tdir), "--log");
    listing(tdir, after, sizeof after);
    cr_assert_str_eq(after, before, "a failed --log left files behind");
}

Test(cli, failed_run_keeps_previous_save)
{
    expect_ok(DLN("train", SMALL, "--depth", "2", "--steps", "5", "--quiet", "--save", P("w")));
    size_t n1, n2;
    char *w1 = read_all(P("w/W1.npy"), &n1);
    MAT("XN.npy", "<f8", 4, 6, NAN);
    char before[4096], after[4096];
    listing(tdir, before, sizeof before);
    expect_bad(DLN("train", "--x", P("XN.npy"), "--y", P("Y.npy"), "--save", P("w")), "NaN");
    expect_bad(DLN("train", SMALL, "--depth", "2", "--lr", "-1", "--save", P("w")), "--lr");
    listing(tdir, after, sizeof after);
    cr_assert_str_eq(after, before);
    char *w1b = read_all(P("w/W1.npy"), &n2);
    cr_assert(n1 == n2 && !memcmp(w1, w1b, n1), "W1.npy changed by a failed run");
    free(w1), free(w1b);
}

Test(cli, save_refuses_directory_with_other_files)
{
    mkdir(P("d"), 0777);
    write_text(P("d/notes.txt"), "precious");
    expect_bad(DLN("train", SMALL, "--save", P("d")), "notes.txt");
    char l[4096];
    listing(P("d"), l, sizeof l);
    cr_assert_str_eq(l, "notes.txt ");
    size_t n;
    char *s = read_all(P("d/notes.txt"), &n);
    cr_assert_str_eq(s, "precious");
    free(s);
}

/* ---- backends and precision ------------------------------------------------------------------ */

Test(cli, backend_cuda_without_device)
{
    run_t r = DLN("info");
    expect_ok(r);
    int have_cuda = strstr(r.out, "cuda") && !strstr(r.out, "\"devices\":\"none");
    run_free(&r);
    if (have_cuda) cr_skip_test("a CUDA device is present: --backend cuda is expected to work here");
    expect_bad(DLN("train", "--backend", "cuda", "--save", P("out")), "cuda");
    expect_bad(DLN("solve", "--backend", "cuda"), "cuda");
    cr_assert(!exists(P("out")));
}

Test(cli, tf32_needs_cuda)
{
    expect_bad(DLN("train", "--precision", "tf32", "--backend", "cpu", "--dx", "6", "--dy", "5", "--samples",
                   "20", "--save", P("out"), "--log", P("l.jsonl")), "tf32");
    expect_bad(DLN("solve", "--precision", "tf32", "--backend", "cpu"), "tf32");
    cr_assert(!exists(P("out")) && !exists(P("l.jsonl")));
}

/* ---- good paths --------------------------------------------------------------------------------- */

static const char *const train_keys[] = {"loss", "optimum", "gap", "rel_gap", "steps", "converged", "seconds", NULL};
static const char *const solve_keys[] = {"optimum", "lstsq", "rank_x", "rank_y", "rank", NULL};

Test(cli, default_train_converges)
{
    run_t r = expect_ok(DLN("train"));
    expect_keys(r.out, train_keys);
    cr_assert_not_null(strstr(r.out, "\"converged\":true"), "default experiment did not converge: %s", r.out);
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
    cr_assert_not_null(strstr(s.out, "\"synthetic\""), "%s", s.out);
    cr_assert_eq(jnum(s.out, "rank_x"), 5);
    run_free(&s);
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
    cr_assert_not_null(strstr(b.out, "\"widths\":[3,3]"), "%s", b.out);
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
        size_t len = strlen(line);
        cr_assert(line[0] == '{' && line[len - 1] == '}', "not a JSON object: %s", line);
        expect_keys(line, keys);
        cr_assert_eq(jnum(line, "step"), 10 * lines, "line %d: %s", lines, line);
        lines++;
    }
    cr_assert(lines >= 5, "expected a line every 10 of 50 steps, got %d", lines);
    free(t);
    run_free(&r);
}

/* ---- help and info ------------------------------------------------------------------------------- */

/* opt occurs in text as a whole option name (not a prefix of a longer one). */
static int mentions(const char *text, const char *opt)
{
    size_t n = strlen(opt);
    for (const char *p = strstr(text, opt); p; p = strstr(p + 1, opt)) {
        char c = p[n];
        if (!(c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return 1;
    }
    return 0;
}

static const char *const common_opts[] = {"--x", "--y", "--dx", "--dy", "--samples", "--teacher-rank",
                                          "--noise", "--seed", "--data-seed", "--depth", "--width",
                                          "--widths", "--rank-tol", "--backend", "--precision", "--help", NULL};
static const char *const train_only[] = {"--load", "--save", "--init", "--init-scale", "--lr", "--momentum",
                                         "--line-search", "--steps", "--tol", "--log", "--log-every",
                                         "--check-every", "--full-data", "--compressed", "--quiet", NULL};

/* Every long option of the table `name` in src/cli_options.c (read when run from the repository
 * root), so that an option added later without help text is caught too. */
static void expect_table_in_help(const char *cmd, const char *name, const char *help)
{
    FILE *f = fopen("src/cli_options.c", "rb");
    if (!f) return; /* not run from the repository root: the fixed lists still apply */
    size_t n;
    char *src = slurp(f, &n), pat[64], opt[64];
    snprintf(pat, sizeof pat, "%s[] = {", name);
    char *p = strstr(src, pat), *end = p ? strstr(p, "{0, 0, 0, 0}") : NULL;
    cr_assert(p && end, "option table %s not found in src/cli_options.c", name);
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
        cr_assert_not_null(strstr(r.out, *c), "dln --help does not mention %s", *c);
    run_free(&r);
    /* --help wins over other (valid) options and does no work */
    run_t h = expect_ok(DLN("train", "--save", P("out"), "--help"));
    cr_assert(!exists(P("out")));
    run_free(&h);
}

Test(cli, info_lists_backends)
{
    run_t r = expect_ok(DLN("info"));
    cr_assert(r.out[0] == '{', "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\"backends\":"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "cpu"), "%s", r.out);
    run_free(&r);
}

Test(cli, no_command_is_usage_error)
{
    run_t r = run_argv((char *const[]){NULL});
    cr_assert_eq(r.signaled, 0);
    cr_assert_eq(r.status, 2, "dln with no command: exit %d", r.status);
    cr_assert_str_empty(r.out);
    cr_assert_not_null(strstr(r.err, "usage"));
    run_free(&r);
}
