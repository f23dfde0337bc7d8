/* test_npy_support.c: helpers shared by the .npy tests (tests/test_npy_read.c,
 * tests/test_npy_reject.c); see tests/test_npy_support.h. It holds no tests: its name starts
 * with test_ only so that the Makefile links it into the one test binary. */
#include "test_npy_support.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dln/dln.h"

void npy_need_numpy(void)
{
    if (system("python3 -c 'import numpy' >/dev/null 2>&1") != 0)
        cr_skip_test("python3 with numpy is not importable");
}

/* Runs a python script (written to dir/script.py) with args; returns the exit status and
 * leaves its stdout+stderr in out. */
int npy_python(const char *dir, const char *script, const char *args, char *out, size_t cap)
{
    char path[256], cmd[4096];
    snprintf(path, sizeof path, "%s/script.py", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(script, f);
    cr_assert_eq(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "python3 '%s' %s 2>&1", path, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void npy_put(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* Reads a whole file into a fresh buffer. */
unsigned char *npy_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    unsigned char *buf = NULL;
    size_t cap = 0, len = 0, got;
    do {
        if (len == cap) buf = realloc(buf, cap = cap ? 2 * cap : 4096);
        got = fread(buf + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    *n = len;
    return buf;
}

/* A version 1.0 file with the given header dict (padded to 64 bytes) and payload. */
void npy_put_v1(const char *path, const char *dict, size_t dict_len, const void *payload,
                       size_t payload_len)
{
    size_t total = (10 + dict_len + 1 + 63) / 64 * 64, hlen = total - 10;
    unsigned char *buf = malloc(total + payload_len);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, dict_len);
    memset(buf + 10 + dict_len, ' ', hlen - dict_len - 1);
    buf[total - 1] = '\n';
    if (payload_len) memcpy(buf + total, payload, payload_len);
    npy_put(path, buf, total + payload_len);
    free(buf);
}

/* Same bits, or both NaN. */
int npy_same(double a, double b)
{
    if (isnan(a) && isnan(b)) return 1;
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Reads path and checks it equals raw (rows, cols) column-major doubles exactly. */
void npy_check_read(const char *path, const char *raw_path, int rows, int cols,
                           unsigned long seed)
{
    dln_error err;
    dln_error_clear(&err);
    int r = -1, c = -1;
    double *data = NULL;
    int rc = dln_npy_read(path, &r, &c, &data, &err);
    cr_assert_eq(rc, DLN_OK, "%s: rc %d: %s (seed %lu)", path, rc, err.msg, seed);
    cr_assert_eq(r, rows, "%s: rows %d, expected %d (seed %lu)", path, r, rows, seed);
    cr_assert_eq(c, cols, "%s: cols %d, expected %d (seed %lu)", path, c, cols, seed);
    size_t n;
    unsigned char *raw = npy_slurp(raw_path, &n);
    cr_assert_eq(n, (size_t)rows * (size_t)cols * sizeof(double), "%s: reference size", raw_path);
    for (size_t k = 0; k < (size_t)rows * (size_t)cols; k++) {
        double e;
        memcpy(&e, raw + k * sizeof e, sizeof e);
        cr_assert(npy_same(data[k], e),
                  "%s: element (%zu, %zu) is %.17g, expected %.17g (seed %lu)", path,
                  k % (size_t)rows, k / (size_t)rows, data[k], e, seed);
    }
    free(raw);
    free(data);
}

/* Expects DLN_EINPUT with msg containing want and the path; outputs reset. */
void npy_expect_reject(const char *path, const char *want)
{
    dln_error err;
    dln_error_clear(&err);
    double sentinel = 0;
    double *data = &sentinel;
    int r = -1, c = -1;
    int rc = dln_npy_read(path, &r, &c, &data, &err);
    cr_assert_eq(rc, DLN_EINPUT, "%s: rc %d, expected DLN_EINPUT (msg: %s)", path, rc, err.msg);
    cr_assert_eq(err.code, DLN_EINPUT);
    cr_assert_null(data, "%s: *data not reset on failure", path);
    cr_assert(r == 0 && c == 0, "%s: rows/cols not reset on failure", path);
    cr_assert(ts_says(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
    cr_assert(ts_says(err.msg, path), "message '%s' does not name the file", err.msg);
    cr_assert_null(strchr(err.msg, '\n'), "message '%s' is not one line", err.msg);
}

/* Random test matrix (rows, cols) with leading dimension ld; padding rows hold NaN. */
double *npy_random(int rows, int cols, int ld, unsigned long seed)
{
    double *A = malloc((size_t)ld * (size_t)cols * sizeof *A);
    srand((unsigned)seed);
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < ld; i++) {
            double m = (double)rand() / RAND_MAX - 0.5;
            int e = rand() % 1200 - 600;
            A[i + (size_t)j * ld] = i < rows ? ldexp(m, e) : NAN;
        }
    A[0] = -0.0;
    A[ld] = DBL_MIN / 8; /* subnormal */
    A[ld + 1] = -DBL_MAX;
    return A;
}

void npy_check_named(const char *dir, const char *name, int rows, int cols, unsigned long seed)
{
    char p[256], raw[256];
    snprintf(p, sizeof p, "%s/%s.npy", dir, name);
    snprintf(raw, sizeof raw, "%s/%s.raw", dir, name);
    npy_check_read(p, raw, rows, cols, seed);
}
