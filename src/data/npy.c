/* npy.c: reading NumPy .npy files (format versions 1.0, 2.0 and 3.0; writing is in
 * npy_write.c). Reading accepts 2-D little-endian float64 or float32 arrays in C or
 * Fortran order and returns a fresh column-major fp64 buffer (ld = rows), or the shape
 * alone. Any unreadable, malformed, truncated or unsupported file is DLN_EINPUT with a
 * one-line message naming the path. Bytes are decoded explicitly as little-endian, so the
 * host byte order does not matter; memory is never allocated beyond what the file holds. */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dln/data.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER (1u << 20) /* numpy itself refuses headers over 10000 bytes */
#define NPY_MAX_NDIM 64
#define NPY_CHUNK 4096 /* elements decoded or encoded per fread/fwrite */

typedef struct {
    char descr[24]; /* copy of the dtype string, truncated for messages */
    size_t descr_len;
    int fortran, ndim;
    uint64_t shape[NPY_MAX_NDIM]; /* saturated at UINT64_MAX */
    int have_descr, have_fortran, have_shape;
} npy_header;

/* A cursor over the header text; parse errors write a short reason into why. */
typedef struct {
    const char *s;
    size_t n, pos;
    char why[96];
} cursor;

static int peek(const cursor *c) { return c->pos < c->n ? (unsigned char)c->s[c->pos] : -1; }

static void skip_ws(cursor *c)
{
    for (int ch; (ch = peek(c)) == ' ' || ch == '\t' || ch == '\r' || ch == '\n';) c->pos++;
}

static int bad(cursor *c, const char *why)
{
    snprintf(c->why, sizeof c->why, "%s at offset %zu", why, c->pos);
    return -1;
}

static int expect(cursor *c, char ch, const char *why)
{
    skip_ws(c);
    return peek(c) == (unsigned char)ch ? (c->pos++, 0) : bad(c, why);
}

/* A quoted Python string literal; out gets a NUL-terminated (possibly truncated) copy. */
static int parse_string(cursor *c, char *out, size_t cap, size_t *len)
{
    skip_ws(c);
    int q = peek(c);
    if (q != '\'' && q != '"') return bad(c, "expected a quoted string");
    c->pos++;
    size_t k = 0;
    for (;;) {
        int ch = peek(c);
        if (ch < 0 || ch == '\n') return bad(c, "unterminated string");
        c->pos++;
        if (ch == q) break;
        if (ch == '\\') {
            ch = peek(c);
            if (ch < 0) return bad(c, "unterminated string");
            c->pos++;
        }
        if (k + 1 < cap) out[k] = (char)ch;
        k++;
    }
    out[k + 1 < cap ? k : cap - 1] = '\0';
    *len = k;
    return 0;
}

static int parse_bool(cursor *c, int *out)
{
    skip_ws(c);
    const char *p = c->s + c->pos;
    size_t left = c->n - c->pos, w;
    if (left >= 4 && memcmp(p, "True", 4) == 0) w = 4, *out = 1;
    else if (left >= 5 && memcmp(p, "False", 5) == 0) w = 5, *out = 0;
    else return bad(c, "'fortran_order' must be True or False");
    c->pos += w;
    int ch = peek(c); /* no identifier may continue the word (Truex, False_) */
    if (ch == '_' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
        (ch >= 'A' && ch <= 'Z'))
        return bad(c, "'fortran_order' must be True or False");
    return 0;
}

/* A tuple of non-negative integers: (), (3,), (2, 3), (2, 3, ); sizes saturate. */
static int parse_shape(cursor *c, npy_header *h)
{
    if (expect(c, '(', "'shape' must be a tuple")) return -1;
    h->ndim = 0;
    skip_ws(c);
    if (peek(c) == ')') return c->pos++, 0;
    for (;;) {
        skip_ws(c);
        int ch = peek(c);
        if (ch < '0' || ch > '9') return bad(c, "'shape' must hold non-negative integers");
        uint64_t v = 0;
        while ((ch = peek(c)) >= '0' && ch <= '9') {
            unsigned d = (unsigned)(ch - '0');
            v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
            c->pos++;
        }
        if (ch == 'L' || ch == 'l') c->pos++; /* Python 2 long literal */
        if (h->ndim == NPY_MAX_NDIM) return bad(c, "too many dimensions in 'shape'");
        h->shape[h->ndim++] = v;
        skip_ws(c);
        ch = peek(c);
        if (ch == ')') return c->pos++, 0;
        if (ch != ',') return bad(c, "expected ',' or ')' in 'shape'");
        c->pos++;
        skip_ws(c);
        if (peek(c) == ')') return c->pos++, 0;
    }
}

/* The header dict {'descr': ..., 'fortran_order': ..., 'shape': ...}, keys in any order. */
static int parse_header(cursor *c, npy_header *h)
{
    memset(h, 0, sizeof *h);
    if (expect(c, '{', "expected '{'")) return -1;
    for (;;) {
        skip_ws(c);
        if (peek(c) == '}') break;
        char key[16];
        size_t klen;
        if (parse_string(c, key, sizeof key, &klen)) return -1;
        if (expect(c, ':', "expected ':' after a key")) return -1;
        int *seen, rc;
        if (klen == 5 && strcmp(key, "descr") == 0) {
            seen = &h->have_descr;
            rc = parse_string(c, h->descr, sizeof h->descr, &h->descr_len);
            if (rc) bad(c, "'descr' must be a dtype string (structured dtypes are not supported)");
        } else if (klen == 13 && strcmp(key, "fortran_order") == 0) {
            seen = &h->have_fortran;
            rc = parse_bool(c, &h->fortran);
        } else if (klen == 5 && strcmp(key, "shape") == 0) {
            seen = &h->have_shape;
            rc = parse_shape(c, h);
        } else {
            return bad(c, "unexpected key");
        }
        if (rc) return -1;
        if (*seen) return bad(c, "duplicate key");
        *seen = 1;
        skip_ws(c);
        if (peek(c) == ',') c->pos++;
        else if (peek(c) != '}') return bad(c, "expected ',' or '}'");
    }
    c->pos++;
    skip_ws(c);
    if (c->pos != c->n) return bad(c, "unexpected text after '}'");
    if (h->have_descr && h->have_fortran && h->have_shape) return 0;
    return bad(c, !h->have_descr     ? "missing key 'descr'"
                  : !h->have_fortran ? "missing key 'fortran_order'"
                                     : "missing key 'shape'");
}

/* Python-style rendering of a shape for messages: (3,), (2, 3), (). */
static void format_shape(const npy_header *h, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < h->ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%" PRIu64, d ? ", " : "", h->shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "%s)", h->ndim == 1 ? "," : "");
}

/* One little-endian float64 or float32 element at p, as a double. */
static double get_elem(const unsigned char *p, size_t esize)
{
    uint64_t u = 0;
    for (size_t b = esize; b-- > 0;) u = u << 8 | p[b];
    if (esize == 8) {
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    uint32_t u4 = (uint32_t)u;
    float x;
    memcpy(&x, &u4, sizeof x);
    return (double)x;
}

static int read_error(FILE *f, const char *path, dln_error *err)
{
    return dln_fail(err, DLN_EINPUT, "%s: read error: %s", path,
                    ferror(f) && errno ? strerror(errno) : "I/O error");
}

/* Parses the preamble and header; on return the file is positioned at the data. */
static int read_header(FILE *f, const char *path, npy_header *h, uint64_t *offset, dln_error *err)
{
    unsigned char pre[12];
    size_t got = fread(pre, 1, 8, f);
    if (ferror(f)) return read_error(f, path, err);
    if (got == 0) return dln_fail(err, DLN_EINPUT, "%s: not a .npy file (the file is empty)", path);
    if (got < NPY_MAGIC_LEN || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return dln_fail(err, DLN_EINPUT, "%s: not a .npy file (bad magic string)", path);
    if (got < 8) return dln_fail(err, DLN_EINPUT, "%s: truncated .npy header", path);
    unsigned major = pre[6], minor = pre[7];
    if (major < 1 || major > 3 || minor != 0)
        return dln_fail(err, DLN_EINPUT,
                        "%s: unsupported .npy format version %u.%u (expected 1.0, 2.0 or 3.0)",
                        path, major, minor);
    size_t lbytes = major == 1 ? 2 : 4;
    if (fread(pre + 8, 1, lbytes, f) != lbytes) {
        if (ferror(f)) return read_error(f, path, err);
        return dln_fail(err, DLN_EINPUT, "%s: truncated .npy header", path);
    }
    uint32_t hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    if (lbytes == 4) hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    if (hlen > NPY_MAX_HEADER)
        return dln_fail(err, DLN_EINPUT, "%s: .npy header length %" PRIu32 " is too large", path,
                        hlen);
    char *text = malloc(hlen ? hlen : 1);
    if (!text) return dln_fail(err, DLN_ENOMEM, "%s: out of memory for the .npy header", path);
    got = fread(text, 1, hlen, f);
    if (got != hlen) {
        free(text);
        if (ferror(f)) return read_error(f, path, err);
        return dln_fail(err, DLN_EINPUT,
                        "%s: truncated .npy header: expected %" PRIu32 " bytes, found %zu", path,
                        hlen, got);
    }
    cursor c = {.s = text, .n = hlen, .pos = 0, .why = ""};
    int rc = parse_header(&c, h);
    free(text);
    if (rc) return dln_fail(err, DLN_EINPUT, "%s: malformed .npy header: %s", path, c.why);
    *offset = 8 + lbytes + hlen;
    return DLN_OK;
}

/* Checks dtype and shape; on success rows x cols of esize-byte elements. */
static int check_header(const npy_header *h, const char *path, int vector, int *rows, int *cols,
                        size_t *esize, dln_error *err)
{
    /* printable copy for messages: a NUL or control byte inside the string shows as '?' */
    char d[sizeof h->descr];
    size_t shown = h->descr_len < sizeof d - 1 ? h->descr_len : sizeof d - 1;
    for (size_t k = 0; k < shown; k++) {
        char ch = h->descr[k];
        d[k] = (ch < 32 || ch > 126) ? '?' : ch;
    }
    d[shown] = '\0';
    const char *more = h->descr_len >= sizeof h->descr ? "..." : "";
    /* compared with its length: '<f8\0junk' is not '<f8' */
    int len3 = h->descr_len == 3;
    if (len3 && memcmp(h->descr, "<f8", 3) == 0) *esize = 8;
    else if (len3 && memcmp(h->descr, "<f4", 3) == 0) *esize = 4;
    else if (len3 && (memcmp(h->descr, ">f8", 3) == 0 || memcmp(h->descr, ">f4", 3) == 0))
        return dln_fail(err, DLN_EINPUT,
                        "%s: dtype '%s' is big-endian; big-endian byte order is not supported "
                        "(save as little-endian '<f8' or '<f4')", path, d);
    else
        return dln_fail(err, DLN_EINPUT,
                        "%s: dtype '%s%s' is not supported (use float64 or float32)", path, d,
                        more);
    char shp[128];
    format_shape(h, shp, sizeof shp);
    npy_header one = *h; /* a vector (n,) read as the column (n, 1) */
    if (vector && h->ndim == 1) one.ndim = 2, one.shape[1] = 1, h = &one;
    if (h->ndim != 2)
        return dln_fail(err, DLN_EINPUT, "%s: has %d dimension(s) %s; expected a %s array", path,
                        h->ndim, shp, vector ? "1-D or 2-D" : "2-D");
    if (h->shape[0] == 0 || h->shape[1] == 0)
        return dln_fail(err, DLN_EINPUT, "%s: shape %s has a dimension of size 0; expected a "
                        "non-empty 2-D array", path, shp);
    for (int k = 0; k < 2; k++)
        if (h->shape[k] > (uint64_t)DLN_MAX_DIM)
            return dln_fail(err, DLN_EINPUT, "%s: shape %s: dimension %" PRIu64
                            " exceeds the limit of %d", path, shp, h->shape[k], DLN_MAX_DIM);
    if (h->shape[0] > SIZE_MAX / sizeof(double) / h->shape[1])
        return dln_fail(err, DLN_EINPUT, "%s: shape %s is too large for this machine", path, shp);
    *rows = (int)h->shape[0];
    *cols = (int)h->shape[1];
    return DLN_OK;
}

/* Puts a (rows, cols) matrix read in C order (row by row: element k is (k / cols, k % cols))
 * into column-major order in place, by following the cycles of the permutation
 * k -> (k % cols) rows + k / cols; `done` (one bit per element) marks what has moved. */
static int c_to_column_major(double *a, size_t rows, size_t cols, const char *path, dln_error *err)
{
    size_t n = rows * cols;
    if (rows == 1 || cols == 1) return DLN_OK;
    unsigned char *done = calloc(n / 8 + 1, 1);
    if (!done) return dln_fail(err, DLN_ENOMEM, "%s: out of memory reordering a C-order array", path);
    for (size_t s = 0; s < n; s++) {
        if (done[s / 8] >> (s % 8) & 1) continue;
        double v = a[s];
        size_t k = s;
        do {
            size_t t = (k % cols) * rows + k / cols;
            double w = a[t];
            a[t] = v;
            v = w;
            done[t / 8] |= (unsigned char)(1u << (t % 8));
            k = t;
        } while (k != s);
    }
    free(done);
    return DLN_OK;
}

/* Elements first allocated for a file of unknown size (a pipe): the buffer then doubles as
 * data arrive, so it never holds more than twice what the stream has delivered. */
#define NPY_GROW_START (1u << 16)

/* Reads rows x cols elements in file order into a fresh buffer (*out) that grows as data
 * arrive, up to `cap` elements at first (all of them when the file size vouched for the
 * data); then requires end of file. */
static int read_data(FILE *f, const char *path, size_t n, size_t esize, size_t cap, double **out,
                     dln_error *err)
{
    unsigned char buf[NPY_CHUNK * 8];
    size_t k = 0;
    double *a = malloc((cap ? cap : 1) * sizeof(double));
    *out = a;
    if (!a) return dln_fail(err, DLN_ENOMEM, "%s: out of memory for %zu elements", path, cap);
    while (k < n) {
        size_t want = n - k < NPY_CHUNK ? n - k : NPY_CHUNK;
        size_t got = fread(buf, 1, want * esize, f);
        if (got != want * esize) {
            if (ferror(f)) return read_error(f, path, err);
            return dln_fail(err, DLN_EINPUT,
                            "%s: truncated: expected %zu bytes of data, found %zu", path,
                            n * esize, k * esize + got);
        }
        if (k + want > cap) {
            size_t grown = cap * 2 < k + want ? k + want : cap * 2;
            if (grown > n) grown = n;
            a = realloc(*out, grown * sizeof(double));
            if (!a) return dln_fail(err, DLN_ENOMEM, "%s: out of memory for %zu elements", path, grown);
            *out = a, cap = grown;
        }
        for (size_t e = 0; e < want; e++, k++) a[k] = get_elem(buf + e * esize, esize);
    }
    size_t extra = 0, got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) extra += got;
    if (ferror(f)) return read_error(f, path, err);
    if (extra)
        return dln_fail(err, DLN_EINPUT, "%s: unexpected trailing data: expected %zu bytes of "
                        "data, found %zu (%zu extra bytes)", path, n * esize, n * esize + extra,
                        extra);
    return DLN_OK;
}

/* The memory allocated never exceeds what the file can hold: a regular file's size is
 * checked against the header before allocating; anything else (a pipe, a FIFO, a
 * character device) is read into a buffer that grows as the data arrive. */
static int read_file(FILE *f, const char *path, int shape_only, int vector, int *rows, int *cols, double **data,
                     dln_error *err)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0)
        return dln_fail(err, DLN_EINPUT, "%s: cannot stat: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return dln_fail(err, DLN_EINPUT, "%s: cannot read: is a directory", path);
    int regular = S_ISREG(st.st_mode);
    npy_header h;
    uint64_t offset = 0;
    size_t esize = 8;
    int r = 0, c = 0;
    DLN_TRY(read_header(f, path, &h, &offset, err));
    DLN_TRY(check_header(&h, path, vector, &r, &c, &esize, err));
    size_t n = (size_t)r * (size_t)c;
    if (regular) {
        uint64_t size = (uint64_t)st.st_size, have = size > offset ? size - offset : 0,
                 need = (uint64_t)n * esize;
        if (have < need)
            return dln_fail(err, DLN_EINPUT, "%s: truncated: expected %" PRIu64 " bytes of "
                            "data, found %" PRIu64, path, need, have);
        if (have > need)
            return dln_fail(err, DLN_EINPUT, "%s: unexpected trailing data: expected %" PRIu64
                            " bytes of data, found %" PRIu64 " (%" PRIu64 " extra bytes)",
                            path, need, have, have - need);
    }
    if (shape_only) {
        *rows = r;
        *cols = c;
        return DLN_OK;
    }
    DLN_TRY(read_data(f, path, n, esize, regular || n < NPY_GROW_START ? n : NPY_GROW_START, data, err));
    if (!h.fortran) DLN_TRY(c_to_column_major(*data, (size_t)r, (size_t)c, path, err));
    *rows = r;
    *cols = c;
    return DLN_OK;
}

/* The whole read of an open stream; outputs reset on failure. */
static int read_stream(FILE *f, const char *path, int vector, int *rows, int *cols, double **data, dln_error *err)
{
    int rc = read_file(f, path, 0, vector, rows, cols, data, err);
    fclose(f);
    if (rc) {
        free(*data);
        *data = NULL;
        *rows = *cols = 0;
    }
    return rc;
}

int dln_npy_read(const char *path, int *rows, int *cols, double **data, dln_error *err)
{
    if (!rows || !cols || !data)
        return dln_fail(err, DLN_EINPUT, "dln_npy_read: null output argument");
    *rows = *cols = 0;
    *data = NULL;
    if (!path) return dln_fail(err, DLN_EINPUT, "dln_npy_read: null path");
    FILE *f = fopen(path, "rbe");
    if (!f) return dln_fail(err, DLN_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    return read_stream(f, path, 0, rows, cols, data, err);
}

int dln_npy_read_vector(const char *path, int *n, double **data, dln_error *err)
{
    *n = 0;
    *data = NULL;
    if (!path) return dln_fail(err, DLN_EINPUT, "dln_npy_read_vector: null path");
    FILE *f = fopen(path, "rbe");
    if (!f) return dln_fail(err, DLN_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    int rows = 0, cols = 0;
    DLN_TRY(read_stream(f, path, 1, &rows, &cols, data, err));
    if (rows != 1 && cols != 1) {
        free(*data);
        *data = NULL;
        return dln_fail(err, DLN_EINPUT, "%s: shape (%d, %d); expected a vector: (n,), (n, 1) or (1, n)", path, rows,
                        cols);
    }
    *n = rows * cols;
    return DLN_OK;
}

int dln_npy_read_at(int dirfd, const char *name, const char *shown, int *rows, int *cols, double **data,
                    dln_error *err)
{
    *rows = *cols = 0;
    *data = NULL;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        if (fd >= 0) close(fd);
        return dln_fail(err, DLN_EINPUT, "%s: cannot open: %s", shown, strerror(e));
    }
    return read_stream(f, shown, 0, rows, cols, data, err);
}

double dln_npy_scratch_bytes(int rows, int cols)
{
    double bitmap = (double)rows * cols / 8 + 1;
    return bitmap > NPY_MAX_HEADER ? bitmap : NPY_MAX_HEADER;
}

int dln_npy_shape(const char *path, int *rows, int *cols, dln_error *err)
{
    *rows = *cols = 0;
    struct stat st;
    if (!path) return dln_fail(err, DLN_EINPUT, "dln_npy_shape: null path");
    if (stat(path, &st) != 0) return dln_fail(err, DLN_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return DLN_OK; /* a pipe would lose what is read: unknown */
    FILE *f = fopen(path, "rbe");
    if (!f) return dln_fail(err, DLN_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    double *none = NULL;
    int rc = read_file(f, path, 1, 0, rows, cols, &none, err);
    fclose(f);
    if (rc) *rows = *cols = 0;
    return rc;
}
