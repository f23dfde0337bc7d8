/* test_cli_input.c: the `dln` program refuses bad input (suite "cli"; the runner, fixtures and
 * suite set-up are in tests/test_cli_runner.c). Every refusal keeps the contract checked by
 * expect_bad: exit 2, nothing on stdout, exactly one stderr line "dln: ..." naming the culprit,
 * no crash, no --save directory created or changed and no --log file left behind. Covers bad
 * data files (missing, truncated, malformed, wrong dtype, byte order or rank, mismatched
 * columns, NaN/Inf, all-zero Y, size-0 dimensions), bad option values and combinations,
 * weights that do not fit for --load, unwritable --save/--log paths, and backends or
 * precisions this machine cannot run. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_runner.h"
#include "dln/dln.h"
#include "test_support.h"

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
        {"train", "--steps", "abc"},    {"train", "--teacher-rank", "0"},  {"solve", "--solver", "lu"},
        {"train", "--solver", "QR"},
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
    run_ok(DLN("train", SMALL, "--depth", "2", "--steps", "5", "--quiet", "--save", P("w")));
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
    if (dln_backend_available(DLN_BACKEND_CUDA)) cr_skip_test("a CUDA device is present: --backend cuda is expected to work here");
    expect_bad(DLN("train", "--backend", "cuda", "--save", P("out")), "cuda");
    expect_bad(DLN("solve", "--backend", "cuda"), "cuda");
    cr_assert(!exists(P("out")));
    /* auto falls back to the CPU and says so once the run has succeeded */
    run_t a = expect_ok(DLN("train", SMALL, "--steps", "5"));
    jstr_is(a.out, "backend", "cpu");
    cr_assert(ts_says(a.err, "running on the CPU backend"), "stderr: %s", a.err);
    run_free(&a);
}

Test(cli, tf32_needs_cuda)
{
    expect_bad(DLN("train", "--precision", "tf32", "--backend", "cpu", "--dx", "6", "--dy", "5", "--samples",
                   "20", "--save", P("out"), "--log", P("l.jsonl")), "tf32");
    expect_bad(DLN("solve", "--precision", "tf32", "--backend", "cpu"), "tf32");
    cr_assert(!exists(P("out")) && !exists(P("l.jsonl")));
}
