/* cli_runner.h: what the end-to-end tests of the `dln` program (suite "cli": tests/test_cli_input.c,
 * tests/test_cli_runs.c) share, defined in tests/test_cli_runner.c: running the binary named by
 * $DLN_BIN (default build/dln) with posix_spawn, no shell; the bad-input contract (exit 2,
 * nothing on stdout, exactly one stderr line "dln: ..."); reading the JSON summaries; files in
 * the per-test mkdtemp directory `tdir`; and .npy fixtures written here in C (every dtype,
 * order and defect the tests need). The suite's set-up (fresh tdir holding X.npy (4, 6) in C
 * order and Y.npy (3, 6) in Fortran order) and tear-down live in tests/test_cli_runner.c too. */
#ifndef DLN_TEST_CLI_RUNNER_H
#define DLN_TEST_CLI_RUNNER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* ---- running the program ------------------------------------------------------------ */

typedef struct {
    int status;   /* exit status, or -1 when it died on a signal */
    int signaled; /* the signal that killed it, 0 if none */
    char *out, *err;
    char cmd[1024]; /* the command line, for messages */
} run_t;

/* The test's temporary directory, made by the suite's set-up and removed by its tear-down. */
extern char tdir[PATH_MAX];

/* The whole of f from its start (f is closed); fails the test on error. */
char *slurp(FILE *f, size_t *len);

/* Runs dln with argv (NULL-terminated, without argv[0]); stdin is /dev/null. */
run_t run_argv(char *const *args);

#define DLN(...) run_argv((char *const[]){__VA_ARGS__, NULL})
#define SMALL "--dx", "6", "--dy", "5", "--samples", "20" /* a tiny synthetic problem */

void run_free(run_t *r);

/* run_argv with stdout sent to out_path (NULL: captured) and, when as_limit > 0, the
 * address space limited to as_limit bytes (setrlimit RLIMIT_AS in the child); when
 * stack_limit > 0, RLIMIT_STACK set to it (glibc sizes a new thread's stack by it, so with
 * as_limit no larger no thread can start) and OpenBLAS kept to the calling thread (its own
 * threads would fail to start and end the process). */
typedef struct {
    const char *out_path;
    double as_limit;
    double stack_limit;
} run_opts;
run_t run_with(const run_opts *ro, char *const *args);
#define DLN_WITH(ro, ...) run_with(ro, (char *const[]){__VA_ARGS__, NULL})

/* Starts dln in the background (stdin, stdout and stderr on /dev/null); run_reap waits for
 * it and returns its exit status, or 128 + the signal that ended it. */
pid_t run_start(char *const *args);
int run_reap(pid_t pid);
#define DLN_START(...) run_start((char *const[]){__VA_ARGS__, NULL})

/* 1 in the sanitizer build (make test-sanitize sets DLN_SANITIZE): no address-space limits. */
int under_sanitizer(void);

/* Contract for bad input: exit 2, stdout empty, exactly one stderr line "dln: ..."
 * that contains `want`, no signal. Frees the run. */
void expect_bad(run_t r, const char *want);

/* Success: exit 0, no signal; returns the run (caller frees). */
run_t expect_ok(run_t r);
/* expect_ok, and the run freed. */
void run_ok(run_t r);

/* ---- dln's output, parsed with a JSON parser (Jansson) ----------------------------------- */

/* text is exactly one JSON object (whitespace around it only); the object, owned by the
 * caller (json_decref). Fails the test otherwise. */
struct json_t *jparse(const char *text);
/* The number (integer or real) at key of the object in text; fails when absent. */
double jnum(const char *text, const char *key);
/* The boolean at key; fails when absent or not a boolean. */
int jbool(const char *text, const char *key);
/* The string at key equals want. */
void jstr_is(const char *text, const char *key, const char *want);
/* The integer array at key equals want[0..n). */
void jints_are(const char *text, const char *key, const int *want, int n);
/* text is one object with every key of the NULL-terminated list. */
void expect_keys(const char *text, const char *const *keys);

/* Human-readable text (messages, help) is checked with ts_says (tests/test_support.h). */

/* ---- files ---------------------------------------------------------------------------- */

/* tdir/name, in one of 8 rotating buffers. */
char *P(const char *name);
int exists(const char *path);
char *read_all(const char *path, size_t *len);
void write_text(const char *path, const char *s);

/* Sorted names in dir (recursively one level: "d/", "d/f"), joined by spaces. */
void listing(const char *dir, char *buf, size_t cap);

/* ---- .npy fixtures ---------------------------------------------------------------------- */

/* v1.0 .npy: the header dict for descr/fortran/shape padded to 64 bytes, then raw bytes. */
void npy_raw(const char *path, const char *descr, int fortran, const char *shape, const void *data, size_t nbytes);

/* name: a (rows, cols) matrix of generic values (fixed per shape) as descr (<f8 >f8 <f4 <i8)
 * in C or Fortran order, entry (rows*cols/2) set to `special` unless it is 0, only `keep`
 * data bytes kept. */
void npy_mat(const char *name, const char *descr, int fortran, int rows, int cols, double special, size_t keep);

#define MAT(name, descr, rows, cols, special) npy_mat(name, descr, 0, rows, cols, special, SIZE_MAX)

#endif
