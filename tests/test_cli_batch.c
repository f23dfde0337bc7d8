/* test_cli_batch.c: `dln train` with lists (suite "cli"; the runner is in
 * tests/test_cli_runner.c): a mixed batch (seeds, inits, init scales, step sizes given and
 * automatic, momenta; members converging, still decreasing and diverging) trained in
 * batches of --batch-size, each member's summary line and --log trace equal to the single
 * run with its configuration (every field but the timings, the memory estimate, which is
 * the batch's, and the added `member`), on the CPU backend; --save DIR/<member>; the bad
 * input of lists (one `dln: ` line, exit 2, nothing on stdout); the memory check refusing
 * a batch not one member of which fits. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_runner.h"
#include "test_support.h"

#define PROBLEM "--backend", "cpu", "--dx", "6", "--dy", "5", "--samples", "20", "--depth", "3", "--steps", "400"

/* Fields that may differ between a member and its single run. */
static int varies(const char *key)
{
    static const char *const keys[] = {"seconds", "solve_seconds", "memory_estimate", "memory_backend",
                                       "memory_phase", "member", NULL};
    for (const char *const *k = keys; *k; k++)
        if (!strcmp(key, *k)) return 1;
    return 0;
}

/* a (a member's object) has exactly b's keys plus `member` (when want_member), each equal
 * to b's but for the varying ones. */
static void expect_same(json_t *a, json_t *b, int want_member, const char *what)
{
    const char *key;
    json_t *v;
    json_object_foreach(b, key, v) {
        json_t *w = json_object_get(a, key);
        cr_assert(w, "%s: no '%s' in the batch's line", what, key);
        if (varies(key)) continue;
        char *x = json_dumps(w, JSON_ENCODE_ANY), *y = json_dumps(v, JSON_ENCODE_ANY);
        cr_assert(json_equal(w, v), "%s: '%s' is %s in the batch, %s alone", what, key, x, y);
        free(x), free(y);
    }
    cr_assert_eq(json_object_size(a), json_object_size(b) + (want_member ? 1 : 0), "%s: extra fields", what);
}

/* The lines of text, parsed (n set); the caller json_decref's them. */
static json_t **lines(const char *text, int *n)
{
    json_t **out = NULL;
    *n = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        cr_assert(e, "an unterminated line");
        json_error_t je;
        json_t *j = json_loadb(p, (size_t)(e - p), 0, &je);
        cr_assert(j, "not JSON: %.*s (%s)", (int)(e - p), p, je.text);
        out = realloc(out, sizeof *out * (size_t)(*n + 1));
        out[(*n)++] = j;
        p = e + 1;
    }
    return out;
}

static void free_lines(json_t **l, int n)
{
    for (int i = 0; i < n; i++) json_decref(l[i]);
    free(l);
}

static const char *const inits[] = {"orthogonal", "gaussian"}, *const scales[] = {"1", "0.5"},
                         *const lrs[] = {"auto", "0.004", "1e4"}, *const moms[] = {"0", "0.5"}, *const seeds[] = {"3", "4"};

Test(cli, batch_members_are_their_single_runs, .timeout = 240)
{
    run_t r = expect_ok(DLN("train", PROBLEM, "--seeds", "3-4", "--init", "orthogonal,gaussian", "--init-scale", "1,0.5",
                            "--lr", "auto,0.004,1e4", "--momentum", "0,0.5", "--batch-size", "7", "--quiet", "--log",
                            P("batch.jsonl")));
    int n, nt;
    size_t tlen;
    json_t **got = lines(r.out, &n);
    cr_assert_eq(n, 48, "%d summary lines for 2 x 2 x 3 x 2 x 2 members", n);
    char *trace = read_all(P("batch.jsonl"), &tlen);
    json_t **tr = lines(trace, &nt);
    int verdicts[3] = {0, 0, 0}; /* global, still decreasing, diverged */
    for (int b = 0; b < n; b++) {
        /* member b: the seed varies fastest, then momentum, lr, init scale, init */
        int k = b;
        const char *seed = seeds[k % 2], *mom = moms[(k /= 2) % 2], *lr = lrs[(k /= 2) % 3];
        const char *scale = scales[(k /= 3) % 2], *init = inits[(k / 2) % 2];
        char what[160];
        snprintf(what, sizeof what, "member %d (seed %s, %s x %s, lr %s, momentum %s)", b, seed, init, scale, lr, mom);
        cr_assert_eq(json_integer_value(json_object_get(got[b], "member")), b, "%s: out of order", what);
        run_t one = expect_ok(DLN("train", PROBLEM, "--seed", (char *)seed, "--data-seed", "3", "--init", (char *)init,
                                  "--init-scale", (char *)scale, "--lr", (char *)lr, "--momentum", (char *)mom, "--quiet",
                                  "--log", P("one.jsonl")));
        json_t *alone = jparse(one.out);
        expect_same(got[b], alone, 1, what);
        const char *v = json_string_value(json_object_get(alone, "verdict"));
        verdicts[0] += !strcmp(v, "global"), verdicts[1] += !strcmp(v, "still decreasing");
        verdicts[2] += !strcmp(v, "diverged");
        /* the member's trace lines: the single run's, with `member` */
        size_t len1;
        char *t1 = read_all(P("one.jsonl"), &len1);
        int n1, at = 0;
        json_t **l1 = lines(t1, &n1);
        for (int i = 0; i < nt; i++) {
            if (json_integer_value(json_object_get(tr[i], "member")) != b) continue;
            cr_assert(at < n1, "%s: more trace lines than alone (%d)", what, n1);
            char line[200];
            snprintf(line, sizeof line, "%s, trace line %d", what, at);
            expect_same(tr[i], l1[at++], 1, line);
        }
        cr_assert_eq(at, n1, "%s: %d trace lines, alone %d", what, at, n1);
        free_lines(l1, n1), free(t1);
        json_decref(alone);
        run_free(&one);
    }
    cr_log_info("members: %d global, %d still decreasing, %d diverged", verdicts[0], verdicts[1], verdicts[2]);
    cr_assert(verdicts[0] >= 4 && verdicts[1] >= 4 && verdicts[2] >= 4, "a mix of outcomes: %d %d %d", verdicts[0],
              verdicts[1], verdicts[2]);
    ts_says(r.err, "member 4: diverged");
    free_lines(got, n), free_lines(tr, nt), free(trace);
    run_free(&r);
}

/* A list of one value is the single run itself: the same line, no `member`. */
Test(cli, one_member_is_a_single_run)
{
    run_t a = expect_ok(DLN("train", PROBLEM, "--seeds", "5", "--lr", "auto", "--quiet"));
    run_t b = expect_ok(DLN("train", PROBLEM, "--seed", "5", "--quiet"));
    json_t *ja = jparse(a.out), *jb = jparse(b.out);
    expect_same(ja, jb, 0, "--seeds 5");
    json_decref(ja), json_decref(jb);
    run_free(&a), run_free(&b);
}

Test(cli, batch_save_writes_member_directories)
{
    run_t r = expect_ok(DLN("train", PROBLEM, "--seeds", "1-2", "--lr", "auto,1e4", "--quiet", "--save", P("w")));
    char l[4096];
    listing(P("w"), l, sizeof l);
    /* members 2 and 3 diverge (lr 1e4): nothing saved for them */
    cr_assert_str_eq(l, "0 [W1.npy W2.npy W3.npy ] 1 [W1.npy W2.npy W3.npy ] ", "%s", l);
    int n;
    json_t **got = lines(r.out, &n);
    run_t b = expect_ok(DLN("train", "--backend", "cpu", "--dx", "6", "--dy", "5", "--samples", "20", "--data-seed", "1",
                            "--load", P("w/1"), "--steps", "0", "--tol", "0", "--quiet"));
    double saved = json_number_value(json_object_get(got[1], "loss"));
    cr_assert(jnum(b.out, "loss") == saved, "member 1 saved with loss %.17g, loaded %.17g", saved, jnum(b.out, "loss"));
    /* again: each member's directory replaced; no temporary siblings left */
    run_t c = expect_ok(DLN("train", PROBLEM, "--seeds", "1-2", "--lr", "auto,1e4", "--quiet", "--save", P("w")));
    listing(P("w"), l, sizeof l);
    cr_assert_str_eq(l, "0 [W1.npy W2.npy W3.npy ] 1 [W1.npy W2.npy W3.npy ] ", "%s", l);
    /* a member's directory that holds something else is refused before any work */
    write_text(P("w/1/notes.txt"), "mine");
    expect_bad(DLN("train", PROBLEM, "--seeds", "1-2", "--quiet", "--save", P("w")), "notes.txt");
    free_lines(got, n);
    run_free(&r), run_free(&b), run_free(&c);
}

Test(cli, batch_bad_input)
{
    expect_bad(DLN("train", "--seeds", "1-2", "--line-search"), "--line-search");
    expect_bad(DLN("train", "--lr", "0.1,0.2", "--line-search"), "--line-search");
    expect_bad(DLN("train", "--seed", "1", "--seeds", "1-2"), "--seeds");
    expect_bad(DLN("train", "--seeds", "4-2"), "--seeds");
    expect_bad(DLN("train", "--seeds", "1-"), "--seeds");
    expect_bad(DLN("train", "--seeds", "1,,3"), "--seeds");
    expect_bad(DLN("train", "--seeds", "0-2000000"), "--seeds");
    expect_bad(DLN("train", "--lr", "0.1,"), "--lr");
    expect_bad(DLN("train", "--lr", "0.1,-1"), "--lr");
    expect_bad(DLN("train", "--init", "orthogonal,bogus"), "--init");
    expect_bad(DLN("train", "--init-scale", "1,nan"), "--init-scale");
    expect_bad(DLN("train", "--momentum", "0,1"), "--momentum");
    expect_bad(DLN("train", "--batch-size", "0"), "--batch-size");
    expect_bad(DLN("train", "--seeds", "1-2", "--threads", "-1"), "--threads");
    expect_bad(DLN("train", "--seeds", "1-2", "--threads", "1025"), "--threads");
    expect_bad(DLN("train", "--seeds", "1-2", "--threads", "2x"), "--threads");
    expect_bad(DLN("train", "--seeds", "1-11000", "--lr", "1,2,3,4,5,6,7,8,9,10", "--momentum", "0,0.1,0.2,0.3,0.4,0.5,"
                   "0.6,0.7,0.8,0.9"), "members");
    run_t w = expect_ok(DLN("train", SMALL, "--depth", "2", "--steps", "2", "--quiet", "--save", P("w")));
    run_free(&w);
    expect_bad(DLN("train", SMALL, "--load", P("w"), "--seeds", "1-2"), "--load");
    write_text(P("file"), "x");
    expect_bad(DLN("train", SMALL, "--seeds", "1-2", "--save", P("file")), "not a directory");
}

/* In 3 GB of address space: members of width 2 x 10^5 (about 0.36 GB each) train a few at a
 * time, all 8 of them; not one of width 2 x 10^6 fits. */
Test(cli, batch_memory_picks_or_refuses_a_batch_size, .timeout = 120)
{
    if (under_sanitizer()) cr_skip_test("the sanitizers reserve terabytes of address space");
    run_opts lim = {.as_limit = 3e9};
    run_t r = expect_ok(DLN_WITH(&lim, "train", "--backend", "cpu", "--depth", "2", "--width", "200000", "--seeds",
                                 "1-8", "--init", "gaussian", "--lr", "1e-6", "--steps", "0"));
    int n;
    json_t **got = lines(r.out, &n);
    cr_assert_eq(n, 8);
    cr_assert(strstr(r.err, "dln: note: "), "no note on the batch size: %s", r.err);
    int at_once = atoi(strstr(r.err, "dln: note: ") + 11);
    cr_assert(at_once >= 2 && at_once < 8, "%d at a time: %s", at_once, r.err);
    cr_log_info("%s", r.err);
    free_lines(got, n);
    run_free(&r);
    expect_bad(DLN_WITH(&lim, "train", "--backend", "cpu", "--depth", "2", "--width", "2000000", "--seeds", "1-4",
                        "--steps", "3", "--quiet"),
               "one member at a time");
}

/* Threads that cannot start (glibc sizes each new thread's stack by RLIMIT_STACK, here as
 * large as RLIMIT_AS, so none fits beside the binary, whatever it maps) leave a batch on one thread: a note says so, the run succeeds, and every
 * member's line is the one a one-thread batch prints. */
Test(cli, batch_runs_on_one_thread_where_threads_cannot_start, .timeout = 120)
{
    if (under_sanitizer()) cr_skip_test("the sanitizers reserve terabytes of address space");
    run_opts lim = {.as_limit = 3e9, .stack_limit = 3e9}; /* no thread stack fits beside the binary */
    run_t r = expect_ok(DLN_WITH(&lim, "train", PROBLEM, "--seeds", "1-6", "--lr", "auto,3e-3", "--threads", "2"));
    cr_expect(strstr(r.err, "dln: note: could not start") && strstr(r.err, "the members run on one thread"),
              "no note on the threads: %s", r.err);
    run_t one = expect_ok(DLN("train", PROBLEM, "--seeds", "1-6", "--lr", "auto,3e-3", "--threads", "1", "--quiet"));
    int n, n1;
    json_t **got = lines(r.out, &n), **want = lines(one.out, &n1);
    cr_assert_eq(n, 12);
    cr_assert_eq(n1, 12);
    for (int b = 0; b < n; b++) {
        char what[32];
        snprintf(what, sizeof what, "member %d", b);
        expect_same(got[b], want[b], 0, what);
    }
    free_lines(got, n), free_lines(want, n1);
    run_free(&r), run_free(&one);
}
