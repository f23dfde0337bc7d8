/* test_cli_contract.c: small deviations from the bad-input contract found by a hostile audit
 * (issue 13), each one refused with one `dln: ` line and exit 2 (suite "cli"; the runner is in
 * tests/test_cli_runner.c): a bare `dln`, `dln info` with options, numbers that only strtod
 * would take (hex, inf, blanks), and integers at and past 2^63 (a double -> long conversion
 * that must never overflow: the sanitizer build, `make test-sanitize`, catches it if it does). */
#include <criterion/criterion.h>
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
