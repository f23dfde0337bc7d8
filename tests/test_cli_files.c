/* test_cli_files.c: `dln train` never destroys a user's file and never leaves a half-state
 * (suite "cli", runner in tests/test_cli_runner.c). --log: a failed run leaves an
 * existing file, a symbolic link and its target, and a FIFO as they were, and removes only a
 * file it created; a successful run replaces an existing file whole (its permissions kept)
 * and writes through a link without replacing it; a killed run leaves whole lines, and its
 * temporary is removed by the next run. --save:
 * ".", ".." and "/" and a directory holding a non-file W9.npy are refused before training; a
 * symbolic link is followed and kept; a run that cannot print its summary (stdout on
 * /dev/full) replaces neither the weights nor the log; siblings left by killed runs are
 * cleaned; concurrent savers all succeed and leave one complete set and no debris. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_runner.h"
#include "test_support.h"

static void expect_text(const char *path, const char *want)
{
    size_t n;
    char *s = read_all(path, &n);
    cr_assert_str_eq(s, want, "%s changed", path);
    free(s);
}

/* Every line of the trace is one whole JSON object ending in a newline (a killed run's last
 * line may lack its newline: outfile.c writes it with the next line). */
static int trace_lines(const char *path, int killed)
{
    size_t n;
    char *t = read_all(path, &n);
    cr_assert(n == 0 || t[n - 1] == '\n' || killed, "%s: no newline at the end: ...%s", path, n > 60 ? t + n - 60 : t);
    int lines = 0;
    for (char *save = NULL, *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save), lines++)
        json_decref(jparse(line));
    free(t);
    return lines;
}

static int whole_lines(const char *path) { return trace_lines(path, 0); }

static pid_t dead_pid(void)
{
    pid_t p = fork();
    cr_assert_neq(p, -1);
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

/* A failing run: tf32 is refused on the CPU backend, after the outputs are checked. */
#define FAILING "train", "--precision", "tf32", "--backend", "cpu", SMALL

Test(cli, log_failure_keeps_an_existing_file)
{
    write_text(P("keep.txt"), "important\n");
    expect_bad(DLN(FAILING, "--log", P("keep.txt")), "tf32");
    expect_text(P("keep.txt"), "important\n");
    /* bad data, found after the log was opened */
    MAT("XN.npy", "<f8", 4, 6, NAN);
    expect_bad(DLN("train", "--x", P("XN.npy"), "--y", P("Y.npy"), "--log", P("keep.txt")), "NaN");
    expect_text(P("keep.txt"), "important\n");
    char l[4096];
    listing(tdir, l, sizeof l);
    cr_assert_str_eq(l, "X.npy XN.npy Y.npy keep.txt ", "debris: %s", l);
}

Test(cli, log_success_replaces_an_existing_file_whole)
{
    write_text(P("trace.jsonl"), "old content that is longer than one trace line, and then some more text\n");
    cr_assert_eq(chmod(P("trace.jsonl"), 0640), 0);
    char stale[64]; /* the temporary of a run killed while replacing it: removed by this one */
    snprintf(stale, sizeof stale, "trace.jsonl.tmp-%ld", (long)dead_pid());
    write_text(P(stale), "{\"step\":0}\n");
    run_ok(DLN("train", SMALL, "--steps", "20", "--tol", "0", "--log-every", "5", "--quiet", "--log", P("trace.jsonl")));
    cr_assert_eq(whole_lines(P("trace.jsonl")), 5, "steps 0, 5, 10, 15, 20");
    struct stat st;
    cr_assert_eq(stat(P("trace.jsonl"), &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0640, "permissions not kept: %o", st.st_mode & 07777);
    char l[4096];
    listing(tdir, l, sizeof l);
    cr_assert_str_eq(l, "X.npy Y.npy trace.jsonl ", "debris: %s", l);
}

Test(cli, log_follows_a_symlink_and_keeps_it)
{
    write_text(P("target.txt"), "precious\n");
    cr_assert_eq(symlink(P("target.txt"), P("link.jsonl")), 0);
    expect_bad(DLN(FAILING, "--log", P("link.jsonl")), "tf32");
    expect_text(P("target.txt"), "precious\n");
    struct stat st;
    cr_assert(lstat(P("link.jsonl"), &st) == 0 && S_ISLNK(st.st_mode), "the link was removed or replaced");
    run_ok(DLN("train", SMALL, "--steps", "10", "--quiet", "--log", P("link.jsonl")));
    cr_assert(lstat(P("link.jsonl"), &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced by a file");
    cr_assert(whole_lines(P("target.txt")) >= 1, "the trace did not go to the link's target");
    /* a dangling link: the file it names is created, and removed again by a failed run */
    cr_assert_eq(symlink(P("made.jsonl"), P("dangling")), 0);
    expect_bad(DLN(FAILING, "--log", P("dangling")), "tf32");
    cr_assert(!exists(P("made.jsonl")) && lstat(P("dangling"), &st) == 0 && S_ISLNK(st.st_mode));
    run_ok(DLN("train", SMALL, "--steps", "10", "--quiet", "--log", P("dangling")));
    cr_assert(whole_lines(P("made.jsonl")) >= 1);
}

Test(cli, log_into_a_fifo_is_never_removed)
{
    if (access("/dev/full", W_OK) != 0) cr_skip_test("no /dev/full");
    cr_assert_eq(mkfifo(P("fifo"), 0600), 0);
    pid_t reader = fork();
    cr_assert_neq(reader, -1);
    if (reader == 0) { /* reads whatever comes, once per run; gives up after 60 s */
        alarm(60);
        char buf[4096];
        for (int k = 0; k < 2; k++) {
            FILE *f = fopen(P("fifo"), "rb");
            if (!f) _exit(1);
            while (fread(buf, 1, sizeof buf, f) > 0) continue;
            fclose(f);
        }
        _exit(0);
    }
    /* fails after training (the summary cannot be written), with the trace written */
    run_opts full = {.out_path = "/dev/full"};
    run_t r = DLN_WITH(&full, "train", SMALL, "--steps", "10", "--quiet", "--log", P("fifo"));
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    run_free(&r);
    struct stat st;
    cr_assert(lstat(P("fifo"), &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was removed");
    run_ok(DLN("train", SMALL, "--steps", "10", "--quiet", "--log", P("fifo")));
    cr_assert(lstat(P("fifo"), &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was replaced");
    int ws;
    cr_assert_eq(waitpid(reader, &ws, 0), reader);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the reader did not see two runs");
}

Test(cli, log_of_a_killed_run_has_whole_lines)
{
    struct timespec ts = {0, 0};
    for (int k = 0; k < 6; k++) {
        char name[32];
        snprintf(name, sizeof name, "k%d.jsonl", k);
        pid_t pid = DLN_START("train", "--dx", "40", "--dy", "40", "--samples", "200", "--steps", "100000000", "--tol",
                              "0", "--log-every", "1", "--quiet", "--log", P(name));
        ts.tv_nsec = 50000000L + 40000000L * k; /* 50 .. 250 ms: well into the run */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        cr_assert_eq(run_reap(pid), 128 + SIGKILL);
        if (exists(P(name))) trace_lines(P(name), 1);
    }
}

/* SIGKILL can cut a write(2) only where it crosses a page of the file (outfile.c), so no
 * line may: each line's bytes from the newline before it (written with it) to its end lie
 * in one 4 KiB page; a line that would cross is moved to the next page by blanks ending the
 * previous one. Lines of ~260 bytes over 40 KiB cross a boundary ten times unless moved. */
Test(cli, log_lines_never_cross_a_page_of_the_file)
{
    run_ok(DLN("train", "--dx", "40", "--dy", "40", "--samples", "200", "--steps", "300", "--tol", "0",
               "--log-every", "1", "--quiet", "--log", P("t.jsonl")));
    size_t n;
    char *t = read_all(P("t.jsonl"), &n);
    size_t start = 0, lines = 0, padded = 0;
    for (size_t e = 0; e < n; e++) {
        if (t[e] != '\n') continue;
        cr_assert_eq(start / 4096, (e - 1) / 4096, "line %zu (bytes %zu..%zu) crosses a page", lines, start, e);
        padded += e > 0 && t[e - 1] == ' ';
        /* the next line's write begins with this newline, unless it ends a page (then the
         * blanks before it, or it alone, were written to fill the page) */
        start = (e + 1) % 4096 == 0 ? e + 1 : e, lines++;
    }
    cr_assert_eq(t[n - 1], '\n');
    free(t);
    cr_assert_eq(whole_lines(P("t.jsonl")), 301, "steps 0..300");
    cr_assert(padded >= n / 4096 / 2, "%zu of %zu page boundaries needed blanks: the lines are not that short", padded,
              n / 4096);
}

Test(cli, log_inside_the_save_directory_or_on_the_data_is_refused)
{
    mkdir(P("w"), 0777);
    expect_bad(DLN("train", SMALL, "--save", P("w"), "--log", P("w/trace.jsonl")), "--log");
    expect_bad(DLN("train", SMALL, "--save", P("new"), "--log", P("new")), "--save directory");
    cr_assert(!exists(P("new")));
    char l[4096];
    listing(P("w"), l, sizeof l);
    cr_assert_str_eq(l, "");
    /* nor is a data file of the run (the trace would replace it) */
    expect_bad(DLN("train", "--x", P("X.npy"), "--y", P("Y.npy"), "--log", P("Y.npy")), "--y data file");
}

/* ---- --save --------------------------------------------------------------------------------- */

Test(cli, save_refuses_dot_dotdot_and_root_before_training)
{
    mkdir(P("empty"), 0777);
    char dot[PATH_MAX + 16], dotdot[PATH_MAX + 16];
    snprintf(dot, sizeof dot, "%s/.", P("empty"));
    snprintf(dotdot, sizeof dotdot, "%s/sub/..", P("empty"));
    mkdir(P("empty/sub"), 0777);
    const char *bad[] = {dot, dotdot, "/", ".", "..", "//"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad(DLN("train", SMALL, "--steps", "100000", "--tol", "0", "--save", (char *)bad[i]), "cannot be replaced");
    char l[4096];
    listing(tdir, l, sizeof l);
    cr_assert_str_eq(l, "X.npy Y.npy empty [sub [] ] ", "debris: %s", l);
}

Test(cli, save_refuses_a_weight_name_that_is_not_a_file)
{
    run_ok(DLN("train", SMALL, "--steps", "2", "--quiet", "--save", P("w")));
    cr_assert_eq(mkdir(P("w/W9.npy"), 0777), 0);
    char before[4096], after[4096];
    listing(tdir, before, sizeof before);
    expect_bad(DLN("train", SMALL, "--steps", "100000", "--tol", "0", "--save", P("w")), "W9.npy");
    cr_assert_eq(symlink(P("X.npy"), P("w/W8.npy")), 0);
    cr_assert_eq(rmdir(P("w/W9.npy")), 0);
    expect_bad(DLN("train", SMALL, "--save", P("w")), "W8.npy");
    cr_assert_eq(unlink(P("w/W8.npy")), 0);
    cr_assert_eq(mkdir(P("w/W9.npy"), 0777), 0);
    listing(tdir, after, sizeof after);
    cr_assert_str_eq(after, before, "files changed: %s", after);
}

Test(cli, save_follows_a_symlink_and_keeps_it)
{
    run_ok(DLN("train", SMALL, "--depth", "3", "--steps", "2", "--quiet", "--save", P("real")));
    cr_assert_eq(symlink("real", P("link")), 0); /* relative, as users make them */
    run_ok(DLN("train", SMALL, "--depth", "2", "--steps", "2", "--quiet", "--save", P("link")));
    struct stat st;
    cr_assert(lstat(P("link"), &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced");
    char l[4096];
    listing(tdir, l, sizeof l);
    cr_assert_str_eq(l, "X.npy Y.npy link [W1.npy W2.npy ] real [W1.npy W2.npy ] ", "after saving through the link: %s", l);
    /* a link to a missing directory is refused */
    cr_assert_eq(symlink("nowhere", P("dangling")), 0);
    expect_bad(DLN("train", SMALL, "--save", P("dangling")), "symbolic link");
}

Test(cli, stdout_full_replaces_neither_weights_nor_log)
{
    if (access("/dev/full", W_OK) != 0) cr_skip_test("no /dev/full");
    run_ok(DLN("train", SMALL, "--depth", "3", "--steps", "2", "--quiet", "--save", P("w")));
    write_text(P("trace.jsonl"), "old trace\n");
    size_t n1, n2;
    char *w1 = read_all(P("w/W1.npy"), &n1), before[4096], after[4096];
    listing(tdir, before, sizeof before);
    run_opts full = {.out_path = "/dev/full"};
    run_t r = DLN_WITH(&full, "train", SMALL, "--depth", "2", "--steps", "2", "--quiet", "--save", P("w"), "--log",
                       P("trace.jsonl"));
    cr_assert_eq(r.status, 1, "exit %d; stderr: %s", r.status, r.err);
    cr_assert(ts_says(r.err, "standard output"), "stderr: %s", r.err);
    run_free(&r);
    listing(tdir, after, sizeof after);
    cr_assert_str_eq(after, before, "files changed: %s", after);
    char *w1b = read_all(P("w/W1.npy"), &n2);
    cr_assert(n1 == n2 && !memcmp(w1, w1b, n1), "W1.npy replaced by a run that failed");
    expect_text(P("trace.jsonl"), "old trace\n");
    free(w1), free(w1b);
}

/* A directory left by a run killed mid-save, with a process id that is no longer running. */
static void stale_sibling(const char *name, pid_t dead)
{
    char d[64], f[96];
    snprintf(d, sizeof d, "%s-%ld", name, (long)dead);
    cr_assert_eq(mkdir(P(d), 0777), 0);
    snprintf(f, sizeof f, "%s/W1.npy", d);
    MAT(f, "<f8", 2, 2, 0);
}

Test(cli, save_cleans_siblings_of_killed_runs)
{
    run_ok(DLN("train", SMALL, "--steps", "2", "--quiet", "--save", P("w")));
    pid_t dead = dead_pid();
    stale_sibling("w.tmp", dead);
    stale_sibling("w.old", dead);
    write_text(P("w.tmp-notapid"), "a user's file with a similar name\n");
    run_ok(DLN("train", SMALL, "--steps", "2", "--quiet", "--save", P("w")));
    char l[4096];
    listing(tdir, l, sizeof l);
    cr_assert_str_eq(l, "X.npy Y.npy w [W1.npy W2.npy W3.npy W4.npy ] w.tmp-notapid ", "debris: %s", l);
    /* the old scheme's state after a kill between its two renames: DIR gone, the old set in
     * DIR.old-<pid>; the next save starts by putting it back, and succeeds */
    cr_assert_eq(rename(P("w"), P("w.old-1")), 0);
    char old[64];
    snprintf(old, sizeof old, "w.old-%ld", (long)dead);
    cr_assert_eq(rename(P("w.old-1"), P(old)), 0);
    run_ok(DLN("train", SMALL, "--steps", "2", "--quiet", "--save", P("w")));
    listing(tdir, l, sizeof l);
    cr_assert_str_eq(l, "X.npy Y.npy w [W1.npy W2.npy W3.npy W4.npy ] w.tmp-notapid ", "debris: %s", l);
}

Test(cli, concurrent_savers_all_succeed)
{
    for (int round = 0; round < 3; round++) {
        pid_t a = DLN_START("train", SMALL, "--depth", "2", "--steps", "3", "--quiet", "--save", P("w"));
        pid_t b = DLN_START("train", SMALL, "--depth", "3", "--steps", "3", "--quiet", "--save", P("w"));
        pid_t c = DLN_START("train", SMALL, "--depth", "4", "--steps", "3", "--quiet", "--save", P("w"));
        int sa = run_reap(a), sb = run_reap(b), sc = run_reap(c);
        cr_assert(sa == 0 && sb == 0 && sc == 0, "round %d: exit %d %d %d", round, sa, sb, sc);
        char l[4096];
        listing(tdir, l, sizeof l);
        cr_assert(!strcmp(l, "X.npy Y.npy w [W1.npy W2.npy ] ") || !strcmp(l, "X.npy Y.npy w [W1.npy W2.npy W3.npy ] ") ||
                      !strcmp(l, "X.npy Y.npy w [W1.npy W2.npy W3.npy W4.npy ] "),
                  "round %d: %s", round, l);
        run_ok(DLN("train", SMALL, "--load", P("w"), "--steps", "0", "--quiet"));
    }
}
