/* weights_io.c: loading weights saved as W1.npy..WH.npy in a directory, W_i of shape
 * (d_i, d_{i-1}), float64 (saving is weights_save.c). The files must be exactly W1..WH:
 * a gap (W1, W3) or a stray later layer (W1..W3 and W5) is refused, naming the file, as
 * is a name that only looks like a layer (W0.npy, W01.npy). The set is read through one
 * open directory, so a save that replaces the directory meanwhile cannot mix two sets;
 * a set removed under the reader by such a save is read again from the new one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dln/data.h"
#include "dln/model.h"
#include "model/weights_internal.h"

int dln_weight_index(const char *name)
{
    if (name[0] != 'W' || name[1] < '0' || name[1] > '9') return 0;
    const char *p = name + 1;
    long k = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++)
        if (k <= DLN_MAX_DEPTH + 1) k = 10 * k + (*p - '0');
    if (strcmp(p, ".npy")) return 0;
    if (name[1] == '0' || digits > 6 || k > DLN_MAX_DEPTH + 1) return -1;
    return (int)k;
}

/* The depth H from the names in the open directory dfd: W1.npy..WH.npy, nothing else
 * named like a layer. */
static int layer_count(int dfd, const char *dir, int *H, dln_error *err)
{
    int d2 = dup(dfd);
    DIR *dp = d2 < 0 ? NULL : fdopendir(d2);
    if (!dp) {
        int e = errno;
        if (d2 >= 0) close(d2);
        return dln_fail(err, DLN_EINPUT, "%s: cannot list: %s", dir, strerror(e));
    }
    unsigned char *seen = calloc(DLN_MAX_DEPTH + 2, 1);
    int rc = seen ? DLN_OK : dln_fail(err, DLN_ENOMEM, "out of host memory"), top = 0;
    struct dirent *e;
    errno = 0;
    while (!rc && (e = readdir(dp))) {
        int k = dln_weight_index(e->d_name);
        if (k < 0)
            rc = dln_fail(err, DLN_EINPUT, "%s: '%s' is named like a layer but is not W1.npy, W2.npy, ...", dir,
                          e->d_name);
        else if (k > DLN_MAX_DEPTH)
            rc = dln_fail(err, DLN_EINPUT, "%s: '%s': more than %d layers", dir, e->d_name, DLN_MAX_DEPTH);
        else if (k > 0) {
            seen[k] = 1;
            if (k > top) top = k;
        }
    }
    if (!rc && errno) rc = dln_fail(err, DLN_EINPUT, "%s: cannot list: %s", dir, strerror(errno));
    closedir(dp);
    int c = 0; /* W1..Wc are all there */
    while (!rc && c < top && seen[c + 1]) c++;
    if (!rc && top == 0) rc = dln_fail(err, DLN_EINPUT, "%s: no W1.npy in the directory", dir);
    else if (!rc && c < top) {
        int extra = c + 2;
        while (!seen[extra]) extra++;
        rc = dln_fail(err, DLN_EINPUT, "%s: W%d.npy is missing but W%d.npy is there: the layers must be "
                      "W1.npy..WH.npy with no gap", dir, c + 1, extra);
    }
    free(seen);
    *H = top;
    return rc;
}

/* Shapes must chain: W1 has dx columns, W_i has the rows of W_{i-1}, W_H has dy rows. */
static int check_chain(const char *dir, int H, const int *rows, const int *cols, int dx, int dy, dln_error *err)
{
    for (int i = 0; i < H; i++) {
        int want = i == 0 ? dx : rows[i - 1];
        if (cols[i] != want)
            return dln_fail(err, DLN_EINPUT, "%s: W%d is %d x %d but must have %d columns (%s); W_i is (d_i, d_{i-1})",
                            dir, i + 1, rows[i], cols[i], want,
                            i == 0 ? "the input dimension dx" : "the rows of the layer below");
    }
    if (rows[H - 1] != dy)
        return dln_fail(err, DLN_EINPUT, "%s: W%d has %d rows but the output dimension dy is %d", dir, H,
                        rows[H - 1], dy);
    return DLN_OK;
}

/* Loads (W != NULL) or only reads the shapes (W == NULL) of the set in dir; *vanished is
 * set when dir names another directory by the end (a save replaced the set meanwhile). */
static int load_once(const char *dir, int dx, int dy, dln_shape *s, double ***Wout, int *vanished, dln_error *err)
{
    memset(s, 0, sizeof *s);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return dln_fail(err, DLN_EINPUT, "%s: not a directory (%s)", dir, strerror(errno));
    int H = 0, rc = layer_count(dfd, dir, &H, err);
    double **W = NULL;
    int *rows = NULL, *cols = NULL;
    if (!rc) {
        W = calloc((size_t)H, sizeof(double *));
        rows = calloc((size_t)H, sizeof(int)), cols = calloc((size_t)H, sizeof(int));
        if (!W || !rows || !cols) rc = dln_fail(err, DLN_ENOMEM, "out of host memory loading weights");
    }
    char name[32], shown[PATH_MAX + 64];
    for (int i = 0; i < H && !rc; i++) {
        snprintf(name, sizeof name, "W%d.npy", i + 1);
        snprintf(shown, sizeof shown, "%s/%s", dir, name);
        if (!Wout) {
            rc = dln_npy_shape(shown, &rows[i], &cols[i], err);
            if (!rc && rows[i] == 0) rc = dln_fail(err, DLN_EINPUT, "%s: not a regular file", shown);
            continue;
        }
        rc = dln_npy_read_at(dfd, name, shown, &rows[i], &cols[i], &W[i], err);
        for (size_t e = 0; !rc && e < (size_t)rows[i] * cols[i]; e++)
            if (!isfinite(W[i][e])) rc = dln_fail(err, DLN_EINPUT, "%s contains NaN or Inf", shown);
    }
    /* A set in dir is never changed while it is there (a save writes a sibling and swaps it
     * in): if dir still names the directory read, the read was of one whole set. */
    struct stat now, was;
    *vanished = stat(dir, &now) != 0 || fstat(dfd, &was) != 0 || now.st_dev != was.st_dev || now.st_ino != was.st_ino;
    close(dfd);
    if (!rc) rc = check_chain(dir, H, rows, cols, dx, dy, err);
    if (!rc) rc = dln_shape_make(H, dx, dy, rows, H - 1, s, err);
    free(rows), free(cols);
    if (rc || !Wout) {
        dln_weights_free(H, W);
        if (rc) dln_shape_free(s);
        return rc;
    }
    *Wout = W;
    return DLN_OK;
}

#define LOAD_TRIES 8 /* a set replaced while being read is read again */

static int load(const char *dir, int dx, int dy, dln_shape *s, double ***Wout, dln_error *err)
{
    dln_error e;
    int rc = DLN_OK, vanished = 1;
    for (int t = 0; t < LOAD_TRIES && vanished; t++) {
        if (t && !rc) { /* read whole, but perhaps a set on its way out: read again */
            if (Wout) dln_weights_free(s->depth, *Wout);
            dln_shape_free(s);
        }
        dln_error_clear(&e);
        vanished = 0;
        rc = load_once(dir, dx, dy, s, Wout, &vanished, &e);
    }
    return rc ? dln_fail(err, e.code, "%s", e.msg) : DLN_OK;
}

int dln_weights_shape(const char *dir, int dx, int dy, dln_shape *s, dln_error *err)
{
    return load(dir, dx, dy, s, NULL, err);
}

int dln_weights_load(const char *dir, int dx, int dy, dln_shape *s, double ***Wout, dln_error *err)
{
    return load(dir, dx, dy, s, Wout, err);
}
