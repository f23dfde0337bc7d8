/* test_cli_contract.c: small deviations from the bad-input contract found by a hostile audit,
 * each one refused with one `dln: ` line and exit 2 (suite "cli"; the runner is in
 * tests/test_cli_runner.c): a bare `dln`, `dln info` with options, numbers that only strtod
 * would take (hex, inf, blanks), and integers at and past 2^63 (a double -> long conversion
 * that must never overflow: the sanitizer build, `make test-sanitize`, catches it if it does),
 * and data too large or too small for fp64's squares (X or Y times 1e+-200). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli_runner.h"

Test(cli, no_command_is_one_line)
{
    expect_bad(run_argv((char *const[]){NULL}), "no command");
}

Test(cli, info_takes_no_options)
{
    expect_bad(DLN("info", "--bogus"), "--bogus");
    expect_bad(DLN("--version", "extra"), "extra");
    run_t r = expect_ok(DLN("info"));
    run_free(&r);
}

/* Only decimal syntax: [+-]digits[.digits][e[+-]digits]. */
Test(cli, numbers_are_decimal_only)
{
    static const char *cases[][3] = {
        {"train", "--depth", "0x10"},  {"train", "--width", "0X4"},    {"train", "--steps", " 5"},
        {"train", "--lr", "0x1p-3"},   {"train", "--tol", "infinity"}, {"train", "--noise", "nan"},
        {"solve", "--rank", "0x2"},    {"train", "--steps", "5 "},     {"train", "--momentum", ".e1"},
        {"train", "--seed", "1e"},     {"train", "--depth", "+"},      {"train", "--lr", "1e-400"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_bad(DLN((char *)cases[i][0], (char *)cases[i][1], (char *)cases[i][2]), cases[i][1]);
    /* what the grammar does accept */
    run_t r = expect_ok(DLN("train", "--dx", "6", "--dy", "5", "--samples", "2e1", "--depth", "+2", "--lr", ".5e-1",
                            "--steps", "1.0e1", "--quiet"));
    run_free(&r);
}

/* 2^63 is a double that (double)LONG_MAX rounds to: it must be refused, not cast. */
Test(cli, seed_at_two_to_the_63)
{
    static const char *bad[] = {"9223372036854775808", "9.223372036854775808e18", "1e19", "1e300",
                                "-9223372036854775809", "-1e19"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_bad(DLN("train", "--seed", (char *)bad[i], "--steps", "0"), "--seed");
        expect_bad(DLN("train", "--data-seed", (char *)bad[i], "--steps", "0"), "--data-seed");
    }
    /* the largest seeds still work, written either way */
    run_t a = expect_ok(DLN("train", "--seed", "9223372036854775807", "--steps", "0", "--quiet"));
    run_t b = expect_ok(DLN("train", "--seed", "9.2e18", "--steps", "0", "--quiet"));
    cr_assert_eq(jnum(b.out, "seed"), 9.2e18, "%s", b.out);
    run_free(&a), run_free(&b);
}

/* name: a (rows, cols) Fortran-order float64 matrix of generic values times f. */
static void scaled(const char *name, int rows, int cols, double f)
{
    double b[64];
    cr_assert(rows * cols <= 64);
    for (int i = 0; i < rows * cols; i++) b[i] = f * sin(1.3 * i * i + 0.7 * rows * (i + 1));
    char shape[32];
    snprintf(shape, sizeof shape, "(%d, %d)", rows, cols);
    npy_raw(P(name), "<f8", 1, shape, b, sizeof(double) * (size_t)rows * cols);
}

/* Data whose squared norms overflow or underflow in fp64 are refused, not turned into nulls,
 * a false divergence or a failed step size; within the range the results are finite. */
Test(cli, badly_scaled_data_is_refused)
{
    static const struct {
        const char *x, *y, *want;
    } cases[] = {{"X.npy", "Yb.npy", "Y is badly scaled"}, {"X.npy", "Yt.npy", "Y is badly scaled"},
                 {"Xb.npy", "Y.npy", "X is badly scaled"}, {"Xt.npy", "Y.npy", "X is badly scaled"}};
    scaled("Yb.npy", 3, 6, 1e200), scaled("Yt.npy", 3, 6, 1e-200);
    scaled("Xb.npy", 4, 6, 1e200), scaled("Xt.npy", 4, 6, 1e-200);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_bad(DLN("solve", "--x", P(cases[i].x), "--y", P(cases[i].y)), cases[i].want);
        expect_bad(DLN("train", "--x", P(cases[i].x), "--y", P(cases[i].y), "--save", P("w")), cases[i].want);
    }
    cr_assert(!exists(P("w")));
    /* 1e70 and 1e-70 are inside the range: every number comes out finite */
    scaled("Yb.npy", 3, 6, 1e70), scaled("Xt.npy", 4, 6, 1e-70);
    run_t r = expect_ok(DLN("train", "--x", P("Xt.npy"), "--y", P("Yb.npy"), "--steps", "50", "--quiet"));
    static const char *const keys[] = {"loss", "optimum", "rel_gap", "zero_loss", "grad_norm", "lr"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        cr_assert(isfinite(jnum(r.out, keys[k])), "%s is not finite: %s", keys[k], r.out);
    cr_assert(!jbool(r.out, "diverged"), "%s", r.out);
    run_free(&r);
}
