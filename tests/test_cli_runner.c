/* test_cli_runner.c: the shared part of the `dln` end-to-end tests (suite "cli"), declared in
 * tests/cli_runner.h and used by tests/test_cli_input.c (bad input is refused) and
 * tests/test_cli_runs.c (good paths, --save/--load/--log, help). It holds no tests: the
 * process runner (fork and exec of $DLN_BIN, default build/dln, no shell; with stdout redirected,
 * an address-space limit, or in the background), the checks of the
 * bad-input and success contracts, JSON look-ups, file helpers in the per-test mkdtemp
 * directory, the .npy fixture writers, and the suite's set-up and tear-down. Its name starts
 * with test_ only so that the Makefile links it into the one test binary. */
#include "cli_runner.h"
#include "test_support.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- running the program ------------------------------------------------------------ */

char tdir[PATH_MAX];

static const char *dln_bin(void)
{
    const char *b = getenv("DLN_BIN");
    return b && *b ? b : "build/dln";
}

char *slurp(FILE *f, size_t *len) /* the whole of f from its start */
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

/* argv[0] = the binary, then args (at most 62), NULL-terminated; the command line into cmd. */
static void make_argv(char *const *args, char **argv, char *cmd, size_t cap)
{
    int n = 0;
    argv[n++] = (char *)dln_bin();
    size_t k = (size_t)snprintf(cmd, cap, "dln");
    for (; args[n - 1] && n < 63; n++) {
        argv[n] = args[n - 1];
        if (k < cap) k += (size_t)snprintf(cmd + k, cap - k, " %s", argv[n]);
    }
    argv[n] = NULL;
}

run_t run_with(const run_opts *ro, char *const *args)
{
    run_t r;
    memset(&r, 0, sizeof r);
    char *argv[64];
    make_argv(args, argv, r.cmd, sizeof r.cmd);
    FILE *fo = tmpfile(), *fe = tmpfile();
    cr_assert(fo && fe, "tmpfile failed");
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork failed");
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY), out = ro->out_path ? open(ro->out_path, O_WRONLY) : fileno(fo);
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(fileno(fe), 2) < 0) _exit(126);
        struct rlimit rl = {(rlim_t)ro->as_limit, (rlim_t)ro->as_limit};
        if (ro->as_limit > 0 && setrlimit(RLIMIT_AS, &rl) != 0) _exit(126);
        struct rlimit st = {(rlim_t)ro->stack_limit, (rlim_t)ro->stack_limit};
        if (ro->stack_limit > 0 && (setrlimit(RLIMIT_STACK, &st) != 0 || setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0))
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid, "waitpid failed");
    r.signaled = WIFSIGNALED(ws) ? WTERMSIG(ws) : 0;
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    size_t n1, n2;
    r.out = slurp(fo, &n1);
    r.err = slurp(fe, &n2);
    return r;
}

pid_t run_start(char *const *args)
{
    char *argv[64], cmd[1024];
    make_argv(args, argv, cmd, sizeof cmd);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot run %s: %s", cmd, strerror(rc));
    return pid;
}

int run_reap(pid_t pid)
{
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid, "waitpid failed");
    return WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws);
}

/* Runs dln with argv (NULL-terminated, without argv[0]); stdin is /dev/null. */
run_t run_argv(char *const *args)
{
    static const run_opts plain = {.out_path = NULL};
    return run_with(&plain, args);
}

int under_sanitizer(void)
{
    const char *s = getenv("DLN_SANITIZE");
    return s && *s && strcmp(s, "0");
}

void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

/* Contract for bad input: exit 2, stdout empty, exactly one stderr line "dln: ..."
 * that contains `want`, no signal. */
void expect_bad(run_t r, const char *want)
{
    cr_assert_eq(r.signaled, 0, "%s: killed by signal %d (%s)", r.cmd, r.signaled, strsignal(r.signaled));
    cr_assert_eq(r.status, 2, "%s: exit %d, expected 2; stderr: %s", r.cmd, r.status, r.err);
    cr_assert_str_empty(r.out, "%s: stdout must be empty, got: %s", r.cmd, r.out);
    size_t n = strlen(r.err);
    cr_assert(n > 5 && !strncmp(r.err, "dln: ", 5), "%s: stderr must start with 'dln: ', got: '%s'", r.cmd, r.err);
    cr_assert(r.err[n - 1] == '\n' && strchr(r.err, '\n') == r.err + n - 1,
              "%s: stderr must be exactly one line, got: '%s'", r.cmd, r.err);
    cr_assert(ts_says(r.err, want), "%s: stderr '%s' should mention '%s'", r.cmd, r.err, want);
    run_free(&r);
}

/* Success: exit 0, no signal; returns the run (caller frees). */
run_t expect_ok(run_t r)
{
    cr_assert_eq(r.signaled, 0, "%s: killed by signal %d", r.cmd, r.signaled);
    cr_assert_eq(r.status, 0, "%s: exit %d; stderr: %s", r.cmd, r.status, r.err);
    return r;
}

void run_ok(run_t r)
{
    r = expect_ok(r);
    run_free(&r);
}

json_t *jparse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    cr_assert_not_null(j, "not one JSON value (%s at line %d column %d): %s", e.text, e.line, e.column, text);
    cr_assert(json_is_object(j), "not a JSON object: %s", text);
    return j;
}

/* The member at key (borrowed from j); fails when absent. */
static json_t *member(json_t *j, const char *key, const char *text)
{
    json_t *v = json_object_get(j, key);
    cr_assert_not_null(v, "key %s missing in %s", key, text);
    return v;
}

double jnum(const char *text, const char *key)
{
    json_t *j = jparse(text), *v = member(j, key, text);
    cr_assert(json_is_number(v), "key %s is not a number in %s", key, text);
    double x = json_number_value(v);
    json_decref(j);
    return x;
}

int jbool(const char *text, const char *key)
{
    json_t *j = jparse(text), *v = member(j, key, text);
    cr_assert(json_is_boolean(v), "key %s is not a boolean in %s", key, text);
    int b = json_is_true(v);
    json_decref(j);
    return b;
}

void jstr_is(const char *text, const char *key, const char *want)
{
    json_t *j = jparse(text), *v = member(j, key, text);
    cr_assert(json_is_string(v) && !strcmp(json_string_value(v), want), "key %s is not \"%s\" in %s", key, want,
              text);
    json_decref(j);
}

void jints_are(const char *text, const char *key, const int *want, int n)
{
    json_t *j = jparse(text), *v = member(j, key, text);
    cr_assert(json_is_array(v) && (int)json_array_size(v) == n, "key %s is not an array of %d in %s", key, n, text);
    for (int i = 0; i < n; i++) {
        json_t *x = json_array_get(v, (size_t)i);
        cr_assert(json_is_integer(x) && json_integer_value(x) == want[i], "%s[%d] is not %d in %s", key, i, want[i],
                  text);
    }
    json_decref(j);
}

void expect_keys(const char *text, const char *const *keys)
{
    json_t *j = jparse(text);
    for (; *keys; keys++) member(j, *keys, text);
    json_decref(j);
}

/* ---- files ---------------------------------------------------------------------------- */

char *P(const char *name) /* tdir/name, 8 rotating buffers */
{
    static char buf[8][PATH_MAX + 64];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s", tdir, name);
    return buf[i];
}

int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    return slurp(f, len);
}

void write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(s, f);
    fclose(f);
}

/* Sorted names in dir (recursively one level: "d/", "d/f"), joined by spaces. */
void listing(const char *dir, char *buf, size_t cap)
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
void npy_raw(const char *path, const char *descr, int fortran, const char *shape, const void *data,
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
void npy_mat(const char *name, const char *descr, int fortran, int rows, int cols, double special, size_t keep)
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

/* ---- suite set-up --------------------------------------------------------------------------- */

static void setup(void)
{
    cr_assert(access(dln_bin(), X_OK) == 0, "%s is not an executable: build it or set DLN_BIN", dln_bin());
    ts_tempdir(tdir, sizeof tdir, "cli");
    npy_mat("X.npy", "<f8", 0, 4, 6, 0, SIZE_MAX); /* C order */
    npy_mat("Y.npy", "<f8", 1, 3, 6, 0, SIZE_MAX); /* Fortran order */
}

static void teardown(void) { ts_rmtree(tdir); }

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 120);

