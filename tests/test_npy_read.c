/* test_npy_read.c: dln_npy_read and dln_npy_write on good files (suite "npy"): reference files
 * made by numpy in every dtype, order and format version (random values drawn fresh each run;
 * the seed is printed in every failure), large and vector shapes, NaN/Inf passed through,
 * hand-written header variants, and write -> read round trips checked by numpy and without
 * it. Tests that need python3 + numpy skip (never pass) when it cannot be imported. Shared
 * helpers are in tests/test_npy_support.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dln/dln.h"
#include "test_npy_support.h"
#include "test_support.h"

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
    ts_tempdir(dir, sizeof dir, "npy");
    unsigned long seed = (unsigned long)ts_seed();
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
        char name[16];
        snprintf(name, sizeof name, "a%d", k);
        npy_check_named(dir, name, shape[k][0], shape[k][1], seed);
    }
    ts_rmtree(dir);
}

/* Larger than one read chunk (and not a multiple of it), and vector-shaped matrices. */
Test(npy, reads_large_and_vector_shapes)
{
    npy_need_numpy();
    char dir[64];
    ts_tempdir(dir, sizeof dir, "npy");
    unsigned long seed = (unsigned long)ts_seed();
    npy_generate(dir, seed,
                 "big8c:301:173:f8:C:save big4c:173:301:f4:C:save big8f:301:173:f8:F:2.0 "
                 "row:1:9:f8:C:save col:9:1:f4:C:save one:1:1:f8:F:save");
    const struct { const char *name; int r, c; } cases[] = {
        {"big8c", 301, 173}, {"big4c", 173, 301}, {"big8f", 301, 173},
        {"row", 1, 9},       {"col", 9, 1},       {"one", 1, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        npy_check_named(dir, cases[k].name, cases[k].r, cases[k].c, seed);
    }
    ts_rmtree(dir);
}

/* NaN and Inf pass through (the data loader rejects them, not the reader). */
Test(npy, passes_nan_and_inf_through)
{
    npy_need_numpy();
    char dir[64];
    ts_tempdir(dir, sizeof dir, "npy");
    unsigned long seed = (unsigned long)ts_seed();
    npy_generate(dir, seed, "special8:3:4:f8:C:save special4:4:3:f4:F:save");
    npy_check_named(dir, "special8", 3, 4, seed);
    npy_check_named(dir, "special4", 4, 3, seed);
    ts_rmtree(dir);
}

/* Header dicts as a hand-written or older writer might produce them. */
Test(npy, parses_header_variants)
{
    char dir[64], p[128];
    ts_tempdir(dir, sizeof dir, "npy");
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
    ts_rmtree(dir);
}

/* ---- writing: round trips ---------------------------------------------------------------- */

/* The (rows, cols) part of A (leading dimension ld), packed (leading dimension rows). */
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
    ts_tempdir(dir, sizeof dir, "npy");
    unsigned long seed = (unsigned long)ts_seed();
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
        cr_assert(ts_says(out, "max abs diff 0.0"), "numpy output: %s", out);
        npy_check_read(p, raw, rows, cols, seed);
        free(A);
        free(P);
    }
    ts_rmtree(dir);
}

/* The same without numpy: write (ld > rows) then read back exactly. */
Test(npy, round_trip_without_numpy)
{
    char dir[64], p[128], raw[128];
    ts_tempdir(dir, sizeof dir, "npy");
    unsigned long seed = (unsigned long)ts_seed();
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
    ts_rmtree(dir);
}
