/* test_weights_files.c: weights on disk (suite "weights"): dln_weights_load takes exactly
 * W1.npy..WH.npy and names the missing or extra file; a staged save touches nothing until
 * it is committed and an aborted one leaves no trace; the two-rename fallback (for
 * filesystems without RENAME_EXCHANGE) gives the same result; savers racing on one
 * directory (in separate processes, many times) all succeed and leave one complete set and
 * no debris; a symbolic link to the directory is followed and kept. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_support.h"

static char base[256];

static void setup(void) { ts_tempdir(base, sizeof base, "weights"); }
static void teardown(void) { ts_rmtree(base); }
TestSuite(weights, .init = setup, .fini = teardown, .timeout = 120);

static char *path(const char *name)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", base, name);
    return buf[i];
}

/* A (d, d) layer file W<k>.npy in dir. */
static void layer(const char *dir, const char *name, int d)
{
    double A[64];
    for (int i = 0; i < d * d; i++) A[i] = i + 1;
    char f[600];
    snprintf(f, sizeof f, "%s/%s", path(dir), name);
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_npy_write(f, d, d, A, d, &err), DLN_OK, "%s", err.msg);
}

static void expect_load_refused(const char *dir, const char *want)
{
    dln_shape s;
    double **W = NULL;
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_weights_load(path(dir), 3, 3, &s, &W, &err), DLN_EINPUT, "%s loaded", dir);
    cr_assert(ts_says(err.msg, want), "%s: '%s' should mention '%s'", dir, err.msg, want);
    dln_error_clear(&err);
    cr_assert_eq(dln_weights_shape(path(dir), 3, 3, &s, &err), DLN_EINPUT, "%s: shape read", dir);
    cr_assert(ts_says(err.msg, want), "%s: '%s' should mention '%s'", dir, err.msg, want);
    cr_assert_null(W);
}

Test(weights, load_needs_contiguous_layers)
{
    mkdir(path("gap"), 0777);
    layer("gap", "W1.npy", 3), layer("gap", "W3.npy", 3);
    expect_load_refused("gap", "W2.npy is missing but W3.npy is there");
    mkdir(path("stray"), 0777);
    layer("stray", "W1.npy", 3), layer("stray", "W2.npy", 3), layer("stray", "W3.npy", 3), layer("stray", "W5.npy", 3);
    expect_load_refused("stray", "W4.npy is missing but W5.npy is there");
    mkdir(path("zero"), 0777);
    layer("zero", "W1.npy", 3), layer("zero", "W01.npy", 3);
    expect_load_refused("zero", "'W01.npy' is named like a layer");
    mkdir(path("w0"), 0777);
    layer("w0", "W0.npy", 3), layer("w0", "W1.npy", 3);
    expect_load_refused("w0", "W0.npy");
    mkdir(path("none"), 0777);
    layer("none", "W2.npy", 3);
    expect_load_refused("none", "W1.npy is missing but W2.npy is there");
    /* other names are no layers and are ignored */
    layer("stray", "notes.npy", 3);
    cr_assert_eq(unlink(path("stray/W5.npy")), 0);
    dln_shape s;
    double **W = NULL;
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_weights_load(path("stray"), 3, 3, &s, &W, &err), DLN_OK, "%s", err.msg);
    cr_assert_eq(s.depth, 3);
    dln_weights_free(3, W);
    dln_shape_free(&s);
}

static void weights_of(int depth, double fill, dln_shape *s, double ***W)
{
    int dims[5] = {3, 4, 5, 4, 3};
    dims[depth] = 3;
    ts_shape(s, depth, dims);
    *W = calloc((size_t)depth, sizeof(double *));
    for (int i = 0; i < depth; i++) {
        (*W)[i] = malloc(sizeof(double) * (size_t)dims[i] * dims[i + 1]);
        for (int e = 0; e < dims[i] * dims[i + 1]; e++) (*W)[i][e] = fill + e;
    }
}

/* The names in base, sorted, joined by spaces (one level). */
static void names(const char *dir, char *buf, size_t cap)
{
    struct dirent **e;
    int n = scandir(dir, &e, NULL, alphasort);
    cr_assert(n >= 0);
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (e[i]->d_name[0] != '.' && k < cap) k += (size_t)snprintf(buf + k, cap - k, "%s ", e[i]->d_name);
        free(e[i]);
    }
    free(e);
}

/* dir holds a complete set: it loads, with `depth` layers whose first entry is fill. */
static void expect_set(const char *dir, int depth, double fill)
{
    dln_shape s;
    double **W = NULL;
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_weights_load(dir, 3, 3, &s, &W, &err), DLN_OK, "%s", err.msg);
    cr_assert_eq(s.depth, depth);
    cr_assert_eq(W[0][0], fill);
    dln_weights_free(s.depth, W);
    dln_shape_free(&s);
}

Test(weights, staged_save_commits_or_leaves_nothing)
{
    dln_shape s3, s2;
    double **A, **B;
    weights_of(3, 1.0, &s3, &A);
    weights_of(2, 7.0, &s2, &B);
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_weights_save(path("w"), &s3, A, &err), DLN_OK, "%s", err.msg);
    /* staged, then aborted: the old set stays, nothing else is left */
    dln_staged_weights *st;
    cr_assert_eq(dln_weights_stage(path("w"), &s2, B, &st, &err), DLN_OK, "%s", err.msg);
    expect_set(path("w"), 3, 1.0);
    dln_weights_abort(st);
    char l[512];
    names(base, l, sizeof l);
    cr_assert_str_eq(l, "w ");
    expect_set(path("w"), 3, 1.0);
    /* staged and committed, by the exchange and by the two-rename fallback */
    for (unsigned flags = 0; flags <= DLN_SAVE_NO_EXCHANGE; flags++) {
        cr_assert_eq(dln_weights_stage(path("w"), flags ? &s3 : &s2, flags ? A : B, &st, &err), DLN_OK, "%s", err.msg);
        cr_assert_eq(dln_weights_commit(st, flags, &err), DLN_OK, "%s", err.msg);
        expect_set(path("w"), flags ? 3 : 2, flags ? 1.0 : 7.0);
        names(base, l, sizeof l);
        cr_assert_str_eq(l, "w ", "flags %u: %s", flags, l);
        names(path("w"), l, sizeof l);
        cr_assert_str_eq(l, flags ? "W1.npy W2.npy W3.npy " : "W1.npy W2.npy ", "flags %u: %s", flags, l);
    }
    /* a new directory, by the fallback too */
    cr_assert_eq(dln_weights_stage(path("new"), &s2, B, &st, &err), DLN_OK, "%s", err.msg);
    cr_assert_eq(dln_weights_commit(st, DLN_SAVE_NO_EXCHANGE, &err), DLN_OK, "%s", err.msg);
    expect_set(path("new"), 2, 7.0);
    /* a foreign file put into the directory after the stage: the commit refuses, as a runtime
     * failure (not bad input), and changes nothing */
    cr_assert_eq(dln_weights_stage(path("w"), &s2, B, &st, &err), DLN_OK, "%s", err.msg);
    FILE *f = fopen(path("w/notes.txt"), "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(dln_weights_commit(st, 0, &err), DLN_ERUNTIME);
    cr_assert(ts_says(err.msg, "notes.txt"), "%s", err.msg);
    names(path("w"), l, sizeof l);
    cr_assert_str_eq(l, "W1.npy W2.npy W3.npy notes.txt ");
    names(base, l, sizeof l);
    cr_assert_str_eq(l, "new w ");
    dln_weights_free(3, A), dln_weights_free(2, B);
    dln_shape_free(&s3), dln_shape_free(&s2);
}

Test(weights, save_through_a_symlink_keeps_it)
{
    dln_shape s;
    double **A;
    weights_of(2, 3.0, &s, &A);
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_weights_save(path("real"), &s, A, &err), DLN_OK, "%s", err.msg);
    cr_assert_eq(symlink(path("real"), path("link")), 0);
    A[0][0] = 5.0;
    cr_assert_eq(dln_weights_save(path("link"), &s, A, &err), DLN_OK, "%s", err.msg);
    struct stat st;
    cr_assert(lstat(path("link"), &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced");
    expect_set(path("real"), 2, 5.0);
    char l[512];
    names(base, l, sizeof l);
    cr_assert_str_eq(l, "link real ");
    dln_weights_free(2, A);
    dln_shape_free(&s);
}

#define RACERS 4
#define ROUNDS 25

/* RACERS processes save ROUNDS times each into one directory, with both methods, while
 * another loads it over and over: every save succeeds, every load sees a complete set (the
 * fallback's brief absence of the directory aside), and one set is left, with no debris. */
Test(weights, racing_savers_all_succeed)
{
    pid_t pid[RACERS];
    for (int k = 0; k < RACERS; k++) {
        pid[k] = fork();
        cr_assert_neq(pid[k], -1);
        if (pid[k] == 0) {
            dln_shape s;
            double **A;
            weights_of(1 + k % 4, 10.0 * k, &s, &A);
            for (int r = 0; r < ROUNDS; r++) {
                dln_error err;
                dln_error_clear(&err);
                dln_staged_weights *st;
                if (dln_weights_stage(path("w"), &s, A, &st, &err) ||
                    dln_weights_commit(st, (r + k) % 3 == 0 ? DLN_SAVE_NO_EXCHANGE : 0, &err)) {
                    fprintf(stderr, "racer %d round %d: %s\n", k, r, err.msg);
                    _exit(1);
                }
            }
            _exit(0);
        }
    }
    pid_t reader = fork();
    cr_assert_neq(reader, -1);
    if (reader == 0) {
        int bad = 0;
        for (int r = 0; r < 4 * ROUNDS; r++) {
            dln_shape s;
            double **W = NULL;
            dln_error err;
            dln_error_clear(&err);
            if (dln_weights_load(path("w"), 3, 3, &s, &W, &err) == DLN_OK) {
                dln_weights_free(s.depth, W);
                dln_shape_free(&s);
            } else if (!ts_says(err.msg, "not a directory")) { /* absent for an instant: the fallback */
                fprintf(stderr, "reader: %s\n", err.msg);
                bad = 1;
            }
        }
        _exit(bad);
    }
    int failed = 0, ws;
    cr_assert_eq(waitpid(reader, &ws, 0), reader);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "a reader saw a broken set (see stderr)");
    for (int k = 0; k < RACERS; k++) {
        cr_assert_eq(waitpid(pid[k], &ws, 0), pid[k]);
        failed += !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    cr_assert_eq(failed, 0, "%d of %d savers failed (see stderr)", failed, RACERS);
    char l[512];
    names(base, l, sizeof l);
    cr_assert_str_eq(l, "w ", "debris: %s", l);
    dln_shape s;
    double **W = NULL;
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_weights_load(path("w"), 3, 3, &s, &W, &err), DLN_OK, "%s", err.msg);
    dln_weights_free(s.depth, W);
    dln_shape_free(&s);
}
