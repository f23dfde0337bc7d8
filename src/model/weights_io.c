/* weights_io.c: weights on disk as W1.npy..WH.npy in a directory, W_i of shape
 * (d_i, d_{i-1}), float64. Saving is atomic: the files are written into a sibling
 * temporary directory that is renamed into place, so a reader sees all or none. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dln/data.h"
#include "dln/model.h"

/* Copies dir without trailing slashes into buf. */
static int clean_dir(const char *dir, char *buf, size_t n, dln_error *err)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    if (len == 0 || len + 32 >= n) return dln_fail(err, DLN_EINPUT, "'%s': invalid directory name", dir);
    memcpy(buf, dir, len);
    buf[len] = '\0';
    return DLN_OK;
}

/* 1 when name is W<digits>.npy */
static int is_weight_file(const char *name)
{
    if (name[0] != 'W' || name[1] < '1' || name[1] > '9') return 0;
    const char *p = name + 1;
    while (*p >= '0' && *p <= '9') p++;
    return !strcmp(p, ".npy");
}

int dln_weights_check_dir(const char *dir, dln_error *err)
{
    char path[PATH_MAX];
    DLN_TRY(clean_dir(dir, path, sizeof path, err));
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return dln_fail(err, DLN_EINPUT, "%s: exists and is not a directory", dir);
        DIR *dp = opendir(path);
        if (!dp) return dln_fail(err, DLN_EINPUT, "%s: %s", dir, strerror(errno));
        struct dirent *e;
        const char *bad = NULL;
        while ((e = readdir(dp)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !is_weight_file(e->d_name)) {
                bad = e->d_name;
                break;
            }
        int rc = bad ? dln_fail(err, DLN_EINPUT,
                                "%s: the directory holds '%s', which is not a saved weight; "
                                "choose a new or empty directory", dir, bad)
                     : DLN_OK;
        closedir(dp);
        DLN_TRY(rc);
    }
    char parent[PATH_MAX];
    strcpy(parent, path);
    char *pd = dirname(parent);
    if (access(pd, W_OK | X_OK) != 0)
        return dln_fail(err, DLN_EINPUT, "%s: cannot write in %s: %s", dir, pd, strerror(errno));
    return DLN_OK;
}

static void remove_dir(const char *path)
{
    DIR *dp = opendir(path);
    if (!dp) return;
    struct dirent *e;
    char f[PATH_MAX + 300];
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(f, sizeof f, "%s/%s", path, e->d_name);
            unlink(f);
        }
    closedir(dp);
    rmdir(path);
}

int dln_weights_save(const char *dir, const dln_shape *s, double *const *W, dln_error *err)
{
    DLN_TRY(dln_weights_check_dir(dir, err));
    char path[PATH_MAX], tmp[PATH_MAX + 32], old[PATH_MAX + 32], f[PATH_MAX + 64];
    DLN_TRY(clean_dir(dir, path, sizeof path, err));
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    snprintf(old, sizeof old, "%s.old-%ld", path, (long)getpid());
    remove_dir(tmp);
    if (mkdir(tmp, 0777) != 0) return dln_fail(err, DLN_EINPUT, "%s: cannot create %s: %s", dir, tmp, strerror(errno));
    for (int i = 0; i < s->depth; i++) {
        snprintf(f, sizeof f, "%s/W%d.npy", tmp, i + 1);
        int rc = dln_npy_write(f, s->dims[i + 1], s->dims[i], W[i], s->dims[i + 1], err);
        if (rc) {
            remove_dir(tmp);
            return rc;
        }
    }
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && rename(path, old) != 0) {
        int e = errno;
        remove_dir(tmp);
        return dln_fail(err, DLN_EINPUT, "%s: cannot replace it: %s", dir, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        if (exists) rename(old, path);
        remove_dir(tmp);
        return dln_fail(err, DLN_EINPUT, "%s: cannot rename into place: %s", dir, strerror(e));
    }
    if (exists) remove_dir(old);
    return DLN_OK;
}

int dln_weights_load(const char *dir, int dx, int dy, dln_shape *s, double ***Wout, dln_error *err)
{
    char f[PATH_MAX + 64];
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dln_fail(err, DLN_EINPUT, "%s: not a directory", dir);
    int H = 0;
    while (H < DLN_MAX_DEPTH + 1) {
        snprintf(f, sizeof f, "%s/W%d.npy", dir, H + 1);
        if (access(f, F_OK) != 0) break;
        H++;
    }
    if (H == 0) return dln_fail(err, DLN_EINPUT, "%s: no W1.npy in the directory", dir);
    if (H > DLN_MAX_DEPTH) return dln_fail(err, DLN_EINPUT, "%s: more than %d layers", dir, DLN_MAX_DEPTH);
    double **W = calloc((size_t)H, sizeof(double *));
    int *rows = calloc((size_t)H, sizeof(int)), *cols = calloc((size_t)H, sizeof(int));
    int rc = (!W || !rows || !cols) ? dln_fail(err, DLN_ENOMEM, "out of host memory loading weights") : DLN_OK;
    for (int i = 0; i < H && !rc; i++) {
        snprintf(f, sizeof f, "%s/W%d.npy", dir, i + 1);
        rc = dln_npy_read(f, &rows[i], &cols[i], &W[i], err);
        for (size_t e = 0; !rc && e < (size_t)rows[i] * cols[i]; e++)
            if (!isfinite(W[i][e])) rc = dln_fail(err, DLN_EINPUT, "%s contains NaN or Inf", f);
        int want = i == 0 ? dx : rows[i - 1];
        if (!rc && cols[i] != want)
            rc = dln_fail(err, DLN_EINPUT,
                          "%s: W%d is %d x %d but must have %d columns (%s); W_i is (d_i, d_{i-1})",
                          dir, i + 1, rows[i], cols[i], want, i == 0 ? "the input dimension dx" : "the rows of the layer below");
    }
    if (!rc && rows[H - 1] != dy)
        rc = dln_fail(err, DLN_EINPUT, "%s: W%d has %d rows but the output dimension dy is %d", dir, H,
                      rows[H - 1], dy);
    if (!rc) {
        rc = dln_shape_make(H, dx, dy, rows, H - 1, s, err);
    }
    free(rows), free(cols);
    if (rc) {
        dln_weights_free(H, W);
        return rc;
    }
    *Wout = W;
    return DLN_OK;
}
