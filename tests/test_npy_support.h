/* test_npy_support.h: helpers shared by the .npy tests (suite "npy": tests/test_npy_read.c,
 * tests/test_npy_reject.c), defined in tests/test_npy_support.c (the seed and temporary
 * directories are test_support.h's): python3 +
 * numpy detection (tests that need it skip, never pass, without it), temporary directories,
 * running a python script, writing and reading whole files, hand-made version 1.0 files,
 * random test matrices, and the two central checks: a read that must equal reference values
 * bit for bit, and a read that must be refused with a given message. Every name starts with
 * npy_ so it cannot clash with other test files. */
#ifndef DLN_TEST_NPY_SUPPORT_H
#define DLN_TEST_NPY_SUPPORT_H

#include "test_support.h" /* ts_seed, ts_tempdir */

#include <stddef.h>

/* Skips the test when python3 with numpy cannot be imported. */
void npy_need_numpy(void);

/* mkdtemp of /tmp/dln_test_npy_XXXXXX into dir, and its recursive removal. */

/* Runs a python script (written to dir/script.py) with args; returns the exit status and
 * leaves its stdout+stderr in out. */
int npy_python(const char *dir, const char *script, const char *args, char *out, size_t cap);

/* Writes n bytes to path (created or truncated). */
void npy_put(const char *path, const void *bytes, size_t n);

/* Reads a whole file into a fresh buffer. */
unsigned char *npy_slurp(const char *path, size_t *n);

/* A version 1.0 file with the given header dict (padded to 64 bytes) and payload. */
void npy_put_v1(const char *path, const char *dict, size_t dict_len, const void *payload, size_t payload_len);

/* Same bits, or both NaN. */
int npy_same(double a, double b);

/* Reads path and checks it equals raw (rows, cols) column-major doubles exactly. */
void npy_check_read(const char *path, const char *raw_path, int rows, int cols, unsigned long seed);
/* npy_check_read of dir/name.npy against dir/name.raw. */
void npy_check_named(const char *dir, const char *name, int rows, int cols, unsigned long seed);

/* Expects DLN_EINPUT with msg containing want and the path; outputs reset. */
void npy_expect_reject(const char *path, const char *want);

/* Random test matrix (rows, cols) with leading dimension ld; padding rows hold NaN. Includes
 * -0.0, a subnormal and -DBL_MAX. */
double *npy_random(int rows, int cols, int ld, unsigned long seed);

#endif
