/* test_npy_reject.c: every failure path of dln_npy_write and dln_npy_read (suite "npy"): write
 * errors, missing/empty/non-.npy files, arrays numpy can save but dln does not support,
 * truncated and overlong data (also through a FIFO, with no file size to check up front, where
 * a header claiming petabytes must not allocate them), a NUL inside the dtype string,
 * malformed headers and huge shapes, each refused with DLN_EINPUT and its one-line message
 * naming the file; and random corruption of a valid file, which must never crash. Tests that
 * need python3 + numpy skip (never pass) when it cannot be imported. Shared helpers are in
 * tests/test_npy_support.c. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dln/dln.h"
#include "test_npy_support.h"
#include "test_support.h"

/* ---- writing failures --------------------------------------------------------------------- */

Test(npy, write_failures_are_reported)
{
    char dir[64], p[160];
    ts_tempdir(dir, sizeof dir, "npy");
    double A[4] = {1, 2, 3, 4};
    dln_error err;
    snprintf(p, sizeof p, "%s/no/such/dir/W.npy", dir);
    dln_error_clear(&err);
    cr_assert_eq(dln_npy_write(p, 2, 2, A, 2, &err), DLN_EINPUT);
    cr_assert(ts_says(err.msg, p) && ts_says(err.msg, "No such file"), "msg: %s", err.msg);
    dln_error_clear(&err);
    snprintf(p, sizeof p, "%s/W.npy", dir);
    cr_assert_eq(dln_npy_write(p, 2, 2, A, 1, &err), DLN_EINPUT, "ld < rows accepted");
    dln_error_clear(&err);
    cr_assert_eq(dln_npy_write(p, 0, 2, A, 2, &err), DLN_EINPUT, "0 rows accepted");
    if (access("/dev/full", W_OK) == 0) {
        dln_error_clear(&err);
        cr_assert_eq(dln_npy_write("/dev/full", 2, 2, A, 2, &err), DLN_EINPUT);
        cr_assert(ts_says(err.msg, "/dev/full") && ts_says(err.msg, "No space"), "msg: %s", err.msg);
    }
    ts_rmtree(dir);
}

/* ---- rejections -------------------------------------------------------------------------- */

Test(npy, rejects_missing_empty_and_non_npy_files)
{
    char dir[64], p[128];
    ts_tempdir(dir, sizeof dir, "npy");
    snprintf(p, sizeof p, "%s/missing.npy", dir);
    npy_expect_reject(p, "cannot open: No such file");
    npy_expect_reject(dir, "is a directory");
    snprintf(p, sizeof p, "%s/empty.npy", dir);
    npy_put(p, "", 0);
    npy_expect_reject(p, "empty");
    npy_put(p, "hello, world\n", 13);
    npy_expect_reject(p, "not a .npy file (bad magic string)");
    npy_put(p, "\x93NUMPZ\x01\x00\x10\x00", 10);
    npy_expect_reject(p, "bad magic");
    npy_put(p, "\x93NU", 3);
    npy_expect_reject(p, "bad magic");
    npy_put(p, "\x93NUMPY\x01", 7);
    npy_expect_reject(p, "truncated .npy header");
    npy_put(p, "\x93NUMPY\x04\x00\x10\x00", 10);
    npy_expect_reject(p, "unsupported .npy format version 4.0");
    npy_put(p, "\x93NUMPY\x01\x01\x10\x00", 10);
    npy_expect_reject(p, "unsupported .npy format version 1.1");
    npy_put(p, "\x93NUMPY\x01\x00\xc8\x00{'descr'", 17); /* header promises 200 bytes */
    npy_expect_reject(p, "truncated .npy header: expected 200 bytes, found 7");
    npy_put(p, "\x93NUMPY\x02\x00\xff\xff\xff\xff", 12);
    npy_expect_reject(p, "too large");
    ts_rmtree(dir);
}

static const char *BAD_PY =
    "import sys, numpy as np\n"
    "d = sys.argv[1]\n"
    "np.save(d + '/i8.npy', np.arange(6, dtype='<i8').reshape(2, 3))\n"
    "np.save(d + '/be.npy', np.ones((2, 3), dtype='>f8'))\n"
    "np.save(d + '/be4.npy', np.ones((2, 3), dtype='>f4'))\n"
    "np.save(d + '/c16.npy', np.ones((2, 3), dtype='<c16'))\n"
    "np.save(d + '/rec.npy', np.zeros((2, 3), dtype=[('a', '<f8'), ('b', '<f8')]))\n"
    "np.save(d + '/d1.npy', np.ones(3))\n"
    "np.save(d + '/d3.npy', np.ones((2, 3, 4)))\n"
    "np.save(d + '/d0.npy', np.float64(1.0))\n"
    "np.save(d + '/z0.npy', np.ones((0, 3)))\n"
    "np.save(d + '/z1.npy', np.ones((3, 0), dtype='<f4'))\n"
    "np.save(d + '/f4.npy', np.ones((5, 3), dtype='<f4'))\n";

Test(npy, rejects_unsupported_arrays_from_numpy)
{
    npy_need_numpy();
    char dir[64], out[4096];
    ts_tempdir(dir, sizeof dir, "npy");
    char args[128];
    snprintf(args, sizeof args, "'%s'", dir);
    cr_assert_eq(npy_python(dir, BAD_PY, args, out, sizeof out), 0, "%s", out);
    const struct { const char *file, *want; } cases[] = {
        {"i8", "dtype '<i8' is not supported (use float64 or float32)"},
        {"be", "big-endian byte order is not supported"},
        {"be4", "big-endian byte order is not supported"},
        {"c16", "dtype '<c16' is not supported"},
        {"rec", "structured dtypes are not supported"},
        {"d1", "has 1 dimension(s) (3,); expected a 2-D array"},
        {"d3", "has 3 dimension(s) (2, 3, 4); expected a 2-D array"},
        {"d0", "has 0 dimension(s) (); expected a 2-D array"},
        {"z0", "shape (0, 3) has a dimension of size 0"},
        {"z1", "shape (3, 0) has a dimension of size 0"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s.npy", dir, cases[k].file);
        npy_expect_reject(p, cases[k].want);
    }
    /* float32 file (5, 3): 60 bytes of data; cut 3 bytes, then add 5. */
    char p[128];
    snprintf(p, sizeof p, "%s/f4.npy", dir);
    size_t n;
    unsigned char *b = npy_slurp(p, &n);
    cr_assert_eq(truncate(p, (off_t)n - 3), 0);
    npy_expect_reject(p, "truncated: expected 60 bytes of data, found 57");
    b = realloc(b, n + 5);
    memset(b + n, 0, 5);
    npy_put(p, b, n + 5);
    npy_expect_reject(p, "unexpected trailing data: expected 60 bytes of data, found 65");
    free(b);
    ts_rmtree(dir);
}

Test(npy, rejects_truncated_and_overlong_data)
{
    char dir[64], p[128];
    ts_tempdir(dir, sizeof dir, "npy");
    snprintf(p, sizeof p, "%s/t.npy", dir);
    double A[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_npy_write(p, 4, 3, A, 4, &err), DLN_OK, "%s", err.msg);
    size_t n;
    unsigned char *b = npy_slurp(p, &n);
    cr_assert_eq(truncate(p, (off_t)n - 8), 0);
    npy_expect_reject(p, "truncated: expected 96 bytes of data, found 88");
    cr_assert_eq(truncate(p, (off_t)n - 96), 0);
    npy_expect_reject(p, "truncated: expected 96 bytes of data, found 0");
    b = realloc(b, n + 1);
    b[n] = 'x';
    npy_put(p, b, n + 1);
    npy_expect_reject(p, "unexpected trailing data: expected 96 bytes of data, found 97");
    /* Every proper prefix of a valid file is rejected. */
    for (size_t len = 0; len < n; len++) {
        npy_put(p, b, len);
        npy_expect_reject(p, len == 0 ? "empty" : len < 6 ? "bad magic" : "truncated");
    }
    free(b);
    ts_rmtree(dir);
}

Test(npy, rejects_malformed_headers_and_huge_shapes)
{
    char dir[64], p[128];
    ts_tempdir(dir, sizeof dir, "npy");
    snprintf(p, sizeof p, "%s/h.npy", dir);
    double payload[6] = {0};
    const char *bad[] = {
        "not a dict at all",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
        "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (2, 3)}",
        "{'descr': '<f8', 'fortran_order': Truely, 'shape': (2, 3)}",
        "{'descr': '<f8', 'fortran_order': False}",
        "{'descr': '<f8', 'shape': (2, 3)}",
        "{'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, -3)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2 3)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': 6}",
        "{'descr': '<f8' 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '<f8, 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)} junk",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3),,}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)",
        "{descr: '<f8', fortran_order: False, shape: (2, 3)}",
        "",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        npy_put_v1(p, bad[k], strlen(bad[k]), payload, sizeof payload);
        npy_expect_reject(p, "malformed .npy header");
    }
    /* A NUL byte inside the dict. */
    const char nul[] = "{'descr': '<f8',\0 'fortran_order': False, 'shape': (2, 3)}";
    npy_put_v1(p, nul, sizeof nul - 1, payload, sizeof payload);
    npy_expect_reject(p, "malformed .npy header");
    /* Over the per-dimension limit, overflowing integers, and a huge (in-limit) shape whose
     * data is missing: rejected from the file size, without allocating it. */
    const char *big1 = "{'descr': '<f8', 'fortran_order': False, 'shape': (16777217, 1)}";
    npy_put_v1(p, big1, strlen(big1), payload, sizeof payload);
    npy_expect_reject(p, "dimension 16777217 exceeds the limit of 16777216");
    const char *big2 =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 99999999999999999999999999)}";
    npy_put_v1(p, big2, strlen(big2), payload, sizeof payload);
    npy_expect_reject(p, "exceeds the limit");
    const char *big3 = "{'descr': '<f8', 'fortran_order': False, 'shape': (16777216, 16777216)}";
    npy_put_v1(p, big3, strlen(big3), payload, sizeof payload);
    npy_expect_reject(p, "truncated: expected 2251799813685248 bytes of data, found 48");
    const char *odd = "{'descr': '<f8\x01', 'fortran_order': False, 'shape': (2, 3)}";
    npy_put_v1(p, odd, strlen(odd), payload, sizeof payload);
    npy_expect_reject(p, "dtype '<f8?' is not supported");
    /* a NUL inside the dtype string: not '<f8' followed by junk read as '<f8' */
    const char nuld[] = "{'descr': '<f8\0junk', 'fortran_order': False, 'shape': (2, 3)}";
    npy_put_v1(p, nuld, sizeof nuld - 1, payload, sizeof payload);
    npy_expect_reject(p, "dtype '<f8?junk' is not supported");
    const char nulf[] = "{'descr': '<f4\0', 'fortran_order': False, 'shape': (2, 3)}";
    npy_put_v1(p, nulf, sizeof nulf - 1, payload, sizeof payload);
    npy_expect_reject(p, "dtype '<f4?' is not supported");
    ts_rmtree(dir);
}

/* Reads bytes through a FIFO (no file size to check up front): a child writes them. */
static void npy_via_fifo(const char *fifo, const unsigned char *b, size_t n, const char *want,
                         const double *expect, int rows, int cols)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        FILE *f = fopen(fifo, "wb");
        if (f) {
            fwrite(b, 1, n, f);
            fclose(f);
        }
        _exit(0);
    }
    if (want) {
        npy_expect_reject(fifo, want);
    } else {
        dln_error err;
        dln_error_clear(&err);
        int r, c;
        double *D = NULL;
        cr_assert_eq(dln_npy_read(fifo, &r, &c, &D, &err), DLN_OK, "%s", err.msg);
        cr_assert(r == rows && c == cols, "fifo: %d x %d", r, c);
        for (int k = 0; k < rows * cols; k++)
            cr_assert(npy_same(D[k], expect[k]), "fifo: element %d", k);
        free(D);
    }
    waitpid(pid, NULL, 0);
}

Test(npy, reads_and_rejects_through_a_pipe)
{
    char dir[64], p[128], fifo[128];
    ts_tempdir(dir, sizeof dir, "npy");
    snprintf(p, sizeof p, "%s/t.npy", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo.npy", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int rows = 5000, cols = 3; /* more than one read chunk */
    double *A = npy_random(rows, cols, rows, (unsigned long)ts_seed());
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_npy_write(p, rows, cols, A, rows, &err), DLN_OK, "%s", err.msg);
    size_t n;
    unsigned char *b = npy_slurp(p, &n);
    b = realloc(b, n + 5);
    memset(b + n, 7, 5);
    npy_via_fifo(fifo, b, n, NULL, A, rows, cols);
    npy_via_fifo(fifo, b, n - 8, "truncated: expected 120000 bytes of data, found 119992", NULL,
                 0, 0);
    npy_via_fifo(fifo, b, n - 80000, "truncated: expected 120000 bytes of data, found 40000",
                 NULL, 0, 0);
    npy_via_fifo(fifo, b, n + 5,
                 "unexpected trailing data: expected 120000 bytes of data, found 120005", NULL, 0,
                 0);
    /* C order through the pipe: reordered after reading, the same matrix */
    double *T = npy_random(cols, rows, cols, 7), *Tc = malloc(sizeof(double) * (size_t)rows * cols);
    cr_assert_not_null(Tc);
    for (int i = 0; i < cols; i++)
        for (int j = 0; j < rows; j++) Tc[i * rows + j] = T[i + j * cols]; /* row-major bytes of T */
    char dict[96];
    snprintf(dict, sizeof dict, "{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }", cols, rows);
    npy_put_v1(p, dict, strlen(dict), Tc, sizeof(double) * (size_t)rows * cols);
    free(b);
    b = npy_slurp(p, &n);
    npy_via_fifo(fifo, b, n, NULL, T, cols, rows);
    free(T), free(Tc);
    /* A header claiming 2^48 elements with 6 behind it: refused as truncated after the 6
     * arrived, never an allocation of the 2 PB the header claims (that would be "out of
     * memory", or an abort under the address sanitizer). */
    double six[6] = {1, 2, 3, 4, 5, 6};
    const char *huge = "{'descr': '<f8', 'fortran_order': True, 'shape': (16777216, 16777216)}";
    npy_put_v1(p, huge, strlen(huge), six, sizeof six);
    free(b);
    b = npy_slurp(p, &n);
    npy_via_fifo(fifo, b, n, "truncated: expected 2251799813685248 bytes of data, found 48", NULL, 0, 0);
    free(A);
    free(b);
    ts_rmtree(dir);
}

/* Random byte corruption of a valid file: DLN_OK or DLN_EINPUT, never a crash. */
Test(npy, survives_corrupted_files)
{
    char dir[64], p[128];
    ts_tempdir(dir, sizeof dir, "npy");
    snprintf(p, sizeof p, "%s/c.npy", dir);
    unsigned long seed = (unsigned long)ts_seed();
    srand((unsigned)seed);
    double A[6] = {1, 2, 3, 4, 5, 6};
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_npy_write(p, 2, 3, A, 2, &err), DLN_OK, "%s", err.msg);
    size_t n;
    unsigned char *orig = npy_slurp(p, &n), *b = malloc(n);
    for (int it = 0; it < 2000; it++) {
        memcpy(b, orig, n);
        int flips = 1 + rand() % 3;
        for (int f = 0; f < flips; f++) b[rand() % 80] = (unsigned char)rand();
        npy_put(p, b, n);
        dln_error_clear(&err);
        int r, c;
        double *D = NULL;
        int rc = dln_npy_read(p, &r, &c, &D, &err);
        cr_assert(rc == DLN_OK || rc == DLN_EINPUT, "rc %d (seed %lu): %s", rc, seed, err.msg);
        if (rc == DLN_OK) {
            cr_assert_not_null(D);
            cr_assert(r * c == 6 || r * c == 12, "read %d x %d from 48 bytes (seed %lu)", r, c,
                      seed);
        } else {
            cr_assert_null(D);
            cr_assert(err.msg[0] != '\0' && ts_says(err.msg, p), "msg: %s", err.msg);
        }
        free(D);
    }
    free(orig);
    free(b);
    ts_rmtree(dir);
}
