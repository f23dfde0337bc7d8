/* npy_fuzz.c: libFuzzer harness for the .npy reader (src/data/npy.c), built and run by
 * `make fuzz` (clang with -fsanitize=fuzzer,address,undefined; seed corpus in
 * fuzz/corpus/npy/). Every input is read twice: as a regular file (a memfd, so the reader
 * can check its size before allocating) and, when it fits in a pipe's buffer, through a
 * pipe (no size known: the buffer grows as data arrive). Both must succeed or be refused
 * alike (DLN_EINPUT, never another status), a success must give the same matrix bit for
 * bit, and a refusal must leave the outputs empty; any difference aborts, so the fuzzer
 * reports it with the input. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dln/data.h"

#define PIPE_MAX 60000 /* below the default 64 KiB pipe buffer: written before reading */

typedef struct {
    int rc, rows, cols;
    double *data;
} outcome;

static outcome read_path(const char *path)
{
    outcome o;
    dln_error err;
    dln_error_clear(&err);
    o.rc = dln_npy_read(path, &o.rows, &o.cols, &o.data, &err);
    if (o.rc != DLN_OK && o.rc != DLN_EINPUT) abort(); /* only refusals, never ENOMEM here */
    if (o.rc && (o.data || o.rows || o.cols || !err.msg[0])) abort();
    if (!o.rc && (!o.data || o.rows < 1 || o.cols < 1)) abort();
    return o;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t n)
{
    static int mfd = -1; /* one memfd for the whole session */
    char path[64];
    if (mfd < 0 && (mfd = memfd_create("npy_fuzz", 0)) < 0) abort();
    if (ftruncate(mfd, 0) || pwrite(mfd, bytes, n, 0) != (ssize_t)n) abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
    outcome a = read_path(path);
    if (n <= PIPE_MAX) {
        int p[2];
        if (pipe(p) || write_all(p[1], bytes, n) || close(p[1])) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
        outcome b = read_path(path);
        close(p[0]);
        if (a.rc != b.rc) abort();
        if (!a.rc && (a.rows != b.rows || a.cols != b.cols ||
                      memcmp(a.data, b.data, sizeof(double) * (size_t)a.rows * (size_t)a.cols)))
            abort();
        free(b.data);
    }
    free(a.data);
    return 0;
}
