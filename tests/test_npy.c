/* test_npy.c: dln_npy_read / dln_npy_write against reference files made by numpy
 * (random values drawn fresh each run; the seed is printed in every failure), round
 * trips through numpy, and every rejection path with its message. Tests that need
 * python3 + numpy skip (never pass) when it cannot be imported. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dln.h"

/* ---- helpers (static: every tests/test_*.c links into one binary) ---------------- */

static unsigned long npy_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((unsigned long)ts.tv_sec * 1000003ul ^ (unsigned long)ts.tv_nsec ^
            ((unsigned long)getpid() << 20)) & 0x7fffffffful;
}

static void npy_need_numpy(void)
{
    if (system("python3 -c 'import numpy' >/dev/null 2>&1") != 0)
        cr_skip_test("python3 with numpy is not importable");
}

static void npy_mkdtemp(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/dln_test_npy_XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
}

static void npy_rmdir(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Runs a python script (written to dir/script.py) with args; returns the exit status and
 * leaves its stdout+stderr in out. */
static int npy_python(const char *dir, const char *script, const char *args, char *out, size_t cap)
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

static void npy_put(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* Reads a whole file into a fresh buffer. */
static unsigned char *npy_slurp(const char *path, size_t *n)
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
static void npy_put_v1(const char *path, const char *dict, size_t dict_len, const void *payload,
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
static int npy_same(double a, double b)
{
    if (isnan(a) && isnan(b)) return 1;
    return memcmp(&a, &b, sizeof a) == 0;
}

/* Reads path and checks it equals raw (rows, cols) column-major doubles exactly. */
static void npy_check_read(const char *path, const char *raw_path, int rows, int cols,
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
static void npy_expect_reject(const char *path, const char *want)
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
    cr_assert_not_null(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
    cr_assert_not_null(strstr(err.msg, path), "message '%s' does not name the file", err.msg);
    cr_assert_null(strchr(err.msg, '\n'), "message '%s' is not one line", err.msg);
}

/* Reference generator: for each spec name:rows:cols:dtype:order:version writes
 * name.npy (through numpy) and name.raw (the float64 values, column-major). */
static const char *GEN_PY =
    "import sys, numpy as np\n"
    "d, seed = sys.argv[1], int(sys.argv[2])\n"
    "rng = np.random.default_rng(seed)\n"
    "for spec in sys.argv[3:]:\n"
    "    name, rows, cols, dt, order, ver = spec.split(':')\n"
    "    rows, cols = int(rows), int(cols)\n"
    "    span = 300 if dt == 'f8' else 30\n"
    "    a = rng.standard_normal((rows, cols)) * 10.0 ** rng.uniform(-span, span, (rows, cols))\n"
    "    if a.size >= 3:\n"
    "        a.flat[0] = -0.0\n"
    "        a.flat[1] = 5e-324 if dt == 'f8' else 1e-44\n"
    "    if name.startswith('special'):\n"
    "        a.flat[0], a.flat[1], a.flat[2] = np.nan, np.inf, -np.inf\n"
    "    a = a.astype('<' + dt)\n"
    "    a = np.asfortranarray(a) if order == 'F' else np.ascontiguousarray(a)\n"
    "    with open(f'{d}/{name}.npy', 'wb') as f:\n"
    "        if ver == 'save':\n"
    "            np.save(f, a)\n"
    "        else:\n"
    "            np.lib.format.write_array(f, a, version=tuple(int(v) for v in ver.split('.')))\n"
    "    head = open(f'{d}/{name}.npy', 'rb').read(200)\n"
    "    want = (1, 0) if ver == 'save' else tuple(int(v) for v in ver.split('.'))\n"
    "    assert (head[6], head[7]) == want, (name, head[:8])\n"
    "    if min(rows, cols) > 1:\n"
    "        assert (b\"'fortran_order': True\" in head) == (order == 'F'), (name, head)\n"
    "    with open(f'{d}/{name}.raw', 'wb') as f:\n"
    "        f.write(a.astype(np.float64).tobytes(order='F'))\n";

static void npy_generate(const char *dir, unsigned long seed, const char *specs)
{
    char args[2048], out[4096];
    snprintf(args, sizeof args, "'%s' %lu %s", dir, seed, specs);
    int st = npy_python(dir, GEN_PY, args, out, sizeof out);
    cr_assert_eq(st, 0, "reference generation failed (seed %lu): %s", seed, out);
}

/* ---- reading numpy's files ---------------------------------------------------------- */

Test(npy, reads_every_dtype_order_and_version_exactly)
{
    npy_need_numpy();
    char dir[64];
    npy_mkdtemp(dir, sizeof dir);
    unsigned long seed = npy_seed();
    srand((unsigned)seed);
    const char *dts[] = {"f8", "f4"}, *orders[] = {"C", "F"}, *vers[] = {"save", "2.0", "3.0"};
    char specs[1024] = "";
    int shape[12][2], n = 0;
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++)
            for (int v = 0; v < 3; v++, n++) {
                int rows = 2 + rand() % 40, cols = 2 + rand() % 40;
                if (cols == rows) cols++;
                shape[n][0] = rows;
                shape[n][1] = cols;
                size_t k = strlen(specs);
                snprintf(specs + k, sizeof specs - k, " a%d:%d:%d:%s:%s:%s", n, rows, cols,
                         dts[a], orders[b], vers[v]);
            }
    npy_generate(dir, seed, specs);
    for (int k = 0; k < n; k++) {
        char p[128], raw[128];
        snprintf(p, sizeof p, "%s/a%d.npy", dir, k);
        snprintf(raw, sizeof raw, "%s/a%d.raw", dir, k);
        npy_check_read(p, raw, shape[k][0], shape[k][1], seed);
    }
    npy_rmdir(dir);
}

/* Larger than one read chunk (and not a multiple of it), and vector-shaped matrices. */
Test(npy, reads_large_and_vector_shapes)
{
    npy_need_numpy();
    char dir[64];
    npy_mkdtemp(dir, sizeof dir);
    unsigned long seed = npy_seed();
    npy_generate(dir, seed,
                 "big8c:301:173:f8:C:save big4c:173:301:f4:C:save big8f:301:173:f8:F:2.0 "
                 "row:1:9:f8:C:save col:9:1:f4:C:save one:1:1:f8:F:save");
    const struct { const char *name; int r, c; } cases[] = {
        {"big8c", 301, 173}, {"big4c", 173, 301}, {"big8f", 301, 173},
        {"row", 1, 9},       {"col", 9, 1},       {"one", 1, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char p[128], raw[128];
        snprintf(p, sizeof p, "%s/%s.npy", dir, cases[k].name);
        snprintf(raw, sizeof raw, "%s/%s.raw", dir, cases[k].name);
        npy_check_read(p, raw, cases[k].r, cases[k].c, seed);
    }
    npy_rmdir(dir);
}

/* NaN and Inf pass through (the data loader rejects them, not the reader). */
Test(npy, passes_nan_and_inf_through)
{
    npy_need_numpy();
    char dir[64];
    npy_mkdtemp(dir, sizeof dir);
    unsigned long seed = npy_seed();
    npy_generate(dir, seed, "special8:3:4:f8:C:save special4:4:3:f4:F:save");
    char p[128], raw[128];
    snprintf(p, sizeof p, "%s/special8.npy", dir);
    snprintf(raw, sizeof raw, "%s/special8.raw", dir);
    npy_check_read(p, raw, 3, 4, seed);
    snprintf(p, sizeof p, "%s/special4.npy", dir);
    snprintf(raw, sizeof raw, "%s/special4.raw", dir);
    npy_check_read(p, raw, 4, 3, seed);
    npy_rmdir(dir);
}

/* Header dicts as a hand-written or older writer might produce them. */
Test(npy, parses_header_variants)
{
    char dir[64], p[128];
    npy_mkdtemp(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/v.npy", dir);
    double payload[6] = {1.5, -2.25, 3e-300, 4e300, -0.0, 6.0}; /* file order */
    const struct { const char *dict; int fortran; } cases[] = {
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 0},
        {"{'shape': (2, 3), 'fortran_order': True, 'descr': '<f8'}", 1},
        {"{ \"fortran_order\" :False ,\t'shape':(2,3,),'descr':\"<f8\"  }  \n ", 0},
        {"{'descr':'<f8','fortran_order':True,'shape':(2L, 3L)}", 1},
        {"{\n 'descr': '<f8',\n 'fortran_order': False,\n 'shape': ( 2 , 3 )\n}", 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        npy_put_v1(p, cases[k].dict, strlen(cases[k].dict), payload, sizeof payload);
        dln_error err;
        dln_error_clear(&err);
        int r, c;
        double *A = NULL;
        int rc = dln_npy_read(p, &r, &c, &A, &err);
        cr_assert_eq(rc, DLN_OK, "header %s: %s", cases[k].dict, err.msg);
        cr_assert(r == 2 && c == 3, "header %s: shape %d x %d", cases[k].dict, r, c);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) {
                double e = cases[k].fortran ? payload[i + 2 * j] : payload[3 * i + j];
                cr_assert(npy_same(A[i + 2 * j], e), "header %s: (%d, %d) = %g, expected %g",
                          cases[k].dict, i, j, A[i + 2 * j], e);
            }
        free(A);
    }
    npy_rmdir(dir);
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Random test matrix (rows, cols) with leading dimension ld; padding rows hold NaN. */
static double *npy_random(int rows, int cols, int ld, unsigned long seed)
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

static double *npy_pack(const double *A, int rows, int cols, int ld)
{
    double *P = malloc((size_t)rows * (size_t)cols * sizeof *P);
    for (int j = 0; j < cols; j++)
        for (int i = 0; i < rows; i++) P[i + (size_t)j * rows] = A[i + (size_t)j * ld];
    return P;
}

/* Header layout: magic, version 1.0, total header a multiple of 64 ending in '\n'. */
static void npy_check_written_header(const char *path, int rows, int cols)
{
    size_t n;
    unsigned char *b = npy_slurp(path, &n);
    cr_assert_geq(n, 10);
    cr_assert_eq(memcmp(b, "\x93NUMPY\x01\x00", 8), 0, "bad magic or version");
    size_t hlen = b[8] | (size_t)b[9] << 8, total = 10 + hlen;
    cr_assert_eq(total % 64, 0, "header length %zu is not padded to 64", total);
    cr_assert_eq(b[total - 1], '\n');
    cr_assert_eq(n, total + (size_t)rows * (size_t)cols * 8, "file size %zu", n);
    char want[64];
    snprintf(want, sizeof want, "'shape': (%d, %d)", rows, cols);
    cr_assert(memmem(b, total, want, strlen(want)), "header lacks %s", want);
    cr_assert(memmem(b, total, "'descr': '<f8'", 14), "header lacks '<f8'");
    cr_assert(memmem(b, total, "'fortran_order': True", 21), "header lacks fortran_order");
    free(b);
}

static const char *CHECK_PY =
    "import sys, numpy as np\n"
    "path, raw, rows, cols = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])\n"
    "with open(path, 'rb') as f:\n"
    "    assert np.lib.format.read_magic(f) == (1, 0)\n"
    "a = np.load(path)\n"
    "e = np.fromfile(raw, dtype=np.float64).reshape((cols, rows)).T\n"
    "assert a.dtype == np.float64 and a.shape == (rows, cols), (a.dtype, a.shape)\n"
    "diff = float(np.max(np.abs(a - e)))\n"
    "print('max abs diff', diff)\n"
    "exact = np.array_equal(a.view(np.uint64), e.view(np.uint64))\n"
    "sys.exit(0 if exact else 1)\n";

Test(npy, round_trip_through_numpy)
{
    npy_need_numpy();
    char dir[64];
    npy_mkdtemp(dir, sizeof dir);
    unsigned long seed = npy_seed();
    const int shapes[][3] = {{7, 5, 7}, {5, 7, 9}, {1, 4, 3}, {130, 70, 131}, {4500, 2, 4600}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int rows = shapes[s][0], cols = shapes[s][1], ld = shapes[s][2];
        double *A = npy_random(rows, cols, ld, seed + s), *P = npy_pack(A, rows, cols, ld);
        char p[128], raw[128], args[512], out[4096];
        snprintf(p, sizeof p, "%s/w%zu.npy", dir, s);
        snprintf(raw, sizeof raw, "%s/w%zu.raw", dir, s);
        dln_error err;
        dln_error_clear(&err);
        cr_assert_eq(dln_npy_write(p, rows, cols, A, ld, &err), DLN_OK, "%s", err.msg);
        npy_check_written_header(p, rows, cols);
        npy_put(raw, P, (size_t)rows * (size_t)cols * sizeof *P);
        snprintf(args, sizeof args, "'%s' '%s' %d %d", p, raw, rows, cols);
        int st = npy_python(dir, CHECK_PY, args, out, sizeof out);
        cr_assert_eq(st, 0, "numpy disagrees on %s (%d x %d, ld %d, seed %lu): %s", p, rows,
                     cols, ld, seed, out);
        cr_assert_not_null(strstr(out, "max abs diff 0.0"), "numpy output: %s", out);
        npy_check_read(p, raw, rows, cols, seed);
        free(A);
        free(P);
    }
    npy_rmdir(dir);
}

/* The same without numpy: write (ld > rows) then read back exactly. */
Test(npy, round_trip_without_numpy)
{
    char dir[64], p[128], raw[128];
    npy_mkdtemp(dir, sizeof dir);
    unsigned long seed = npy_seed();
    snprintf(p, sizeof p, "%s/w.npy", dir);
    snprintf(raw, sizeof raw, "%s/w.raw", dir);
    int rows = 37, cols = 11, ld = 40;
    double *A = npy_random(rows, cols, ld, seed), *P = npy_pack(A, rows, cols, ld);
    dln_error err;
    dln_error_clear(&err);
    cr_assert_eq(dln_npy_write(p, rows, cols, A, ld, &err), DLN_OK, "%s", err.msg);
    npy_check_written_header(p, rows, cols);
    npy_put(raw, P, (size_t)rows * (size_t)cols * sizeof *P);
    npy_check_read(p, raw, rows, cols, seed);
    free(A);
    free(P);
    npy_rmdir(dir);
}

Test(npy, write_failures_are_reported)
{
    char dir[64], p[160];
    npy_mkdtemp(dir, sizeof dir);
    double A[4] = {1, 2, 3, 4};
    dln_error err;
    snprintf(p, sizeof p, "%s/no/such/dir/W.npy", dir);
    dln_error_clear(&err);
    cr_assert_eq(dln_npy_write(p, 2, 2, A, 2, &err), DLN_EINPUT);
    cr_assert(strstr(err.msg, p) && strstr(err.msg, "No such file"), "msg: %s", err.msg);
    dln_error_clear(&err);
    snprintf(p, sizeof p, "%s/W.npy", dir);
    cr_assert_eq(dln_npy_write(p, 2, 2, A, 1, &err), DLN_EINPUT, "ld < rows accepted");
    dln_error_clear(&err);
    cr_assert_eq(dln_npy_write(p, 0, 2, A, 2, &err), DLN_EINPUT, "0 rows accepted");
    if (access("/dev/full", W_OK) == 0) {
        dln_error_clear(&err);
        cr_assert_eq(dln_npy_write("/dev/full", 2, 2, A, 2, &err), DLN_EINPUT);
        cr_assert(strstr(err.msg, "/dev/full") && strstr(err.msg, "No space"), "msg: %s", err.msg);
    }
    npy_rmdir(dir);
}

/* ---- rejections -------------------------------------------------------------------------- */

Test(npy, rejects_missing_empty_and_non_npy_files)
{
    char dir[64], p[128];
    npy_mkdtemp(dir, sizeof dir);
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
    npy_rmdir(dir);
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
    npy_mkdtemp(dir, sizeof dir);
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
    npy_rmdir(dir);
}

Test(npy, rejects_truncated_and_overlong_data)
{
    char dir[64], p[128];
    npy_mkdtemp(dir, sizeof dir);
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
    npy_rmdir(dir);
}

Test(npy, rejects_malformed_headers_and_huge_shapes)
{
    char dir[64], p[128];
    npy_mkdtemp(dir, sizeof dir);
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
    npy_rmdir(dir);
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
    npy_mkdtemp(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/t.npy", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo.npy", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int rows = 5000, cols = 3; /* more than one read chunk */
    double *A = npy_random(rows, cols, rows, npy_seed());
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
    free(A);
    free(b);
    npy_rmdir(dir);
}

/* Random byte corruption of a valid file: DLN_OK or DLN_EINPUT, never a crash. */
Test(npy, survives_corrupted_files)
{
    char dir[64], p[128];
    npy_mkdtemp(dir, sizeof dir);
    snprintf(p, sizeof p, "%s/c.npy", dir);
    unsigned long seed = npy_seed();
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
            cr_assert(err.msg[0] != '\0' && strstr(err.msg, p), "msg: %s", err.msg);
        }
        free(D);
    }
    free(orig);
    free(b);
    npy_rmdir(dir);
}
