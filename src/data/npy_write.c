/* npy_write.c: writing NumPy .npy files: float64, Fortran order, format version 1.0, the
 * bytes encoded explicitly as little-endian (the reader is npy.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dln/data.h"

#define NPY_CHUNK 4096 /* elements encoded per fwrite */

static int write_failed(const char *path, const char *what, int e, dln_error *err)
{
    return dln_fail(err, DLN_EINPUT, "%s: %s: %s", path, what, e ? strerror(e) : "I/O error");
}

/* A (rows, cols, ld) column-major -> float64 Fortran-order .npy, version 1.0. */
int dln_npy_write(const char *path, int rows, int cols, const double *A, int ld, dln_error *err)
{
    if (!path) return dln_fail(err, DLN_EINPUT, "dln_npy_write: null path");
    if (!A || rows < 1 || cols < 1 || rows > DLN_MAX_DIM || cols > DLN_MAX_DIM || ld < rows)
        return dln_fail(err, DLN_EINPUT, "%s: cannot write a %d x %d array with ld %d", path,
                        rows, cols, ld);
    /* Preamble (10 bytes) + dict + space padding + '\n' is a multiple of 64 bytes. */
    unsigned char head[192];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    int len = snprintf((char *)head + 10, sizeof head - 10,
                       "{'descr': '<f8', 'fortran_order': True, 'shape': (%d, %d), }", rows, cols);
    size_t total = (10 + (size_t)len + 1 + 63) / 64 * 64, hlen = total - 10;
    memset(head + 10 + len, ' ', hlen - (size_t)len - 1);
    head[total - 1] = '\n';
    head[8] = (unsigned char)(hlen & 0xff);
    head[9] = (unsigned char)(hlen >> 8);

    FILE *f = fopen(path, "wb");
    if (!f) return write_failed(path, "cannot open for writing", errno, err);
    errno = 0;
    int ok = fwrite(head, 1, total, f) == total;
    unsigned char buf[NPY_CHUNK * 8];
    for (int j = 0; ok && j < cols; j++) {
        const double *col = A + (size_t)j * (size_t)ld;
        for (int i0 = 0; ok && i0 < rows; i0 += NPY_CHUNK) {
            int m = rows - i0 < NPY_CHUNK ? rows - i0 : NPY_CHUNK;
            for (int i = 0; i < m; i++) {
                uint64_t u;
                memcpy(&u, &col[i0 + i], sizeof u);
                for (int b = 0; b < 8; b++) buf[8 * i + b] = (unsigned char)(u >> (8 * b));
            }
            ok = fwrite(buf, 8, (size_t)m, f) == (size_t)m;
        }
    }
    int e = errno;
    if (fclose(f) != 0 && ok) ok = 0, e = errno;
    return ok ? DLN_OK : write_failed(path, "write failed", e, err);
}
