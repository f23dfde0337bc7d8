/* outputs.c: an experiment's output directories, each checked before any work and written
 * only at the commit, after the front end has its summaries: the final weights (save_dir, a
 * batch's members as save_dir/<member>), the eigenvector of lambda_min (direction_dir) by
 * the weights' atomic save (src/model/weights_save.c: staged, then swapped in whole), and
 * the .npy sets of the shallow solution (solution_dir/R.npy) and the data (data_dir/X.npy,
 * Y.npy; a matrix problem's entries or measurements, held-out entries and target): written into a staging sibling (<dir>.tmp-<pid>), synced, and then either the
 * staging directory is renamed to dir (dir absent: the set appears at once) or each file is
 * renamed over its namesake in dir (each file replaced atomically; others left alone).
 * Messages name the directory; the failure's part names the option. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/experiment_internal.h"

/* dir without trailing slashes into b. */
static void strip(const char *dir, char b[4096])
{
    snprintf(b, 4096, "%s", dir);
    size_t n = strlen(b);
    while (n > 1 && b[n - 1] == '/') b[--n] = '\0';
}

/* DIR/<b> in buf. */
static void member_dir(const char *dir, long b, char *buf, size_t n)
{
    char s[4096];
    strip(dir, s);
    snprintf(buf, n, "%s/%ld", s, b);
}

/* An output directory of .npy files: absent (its parent a writable directory) or a
 * writable directory. */
static int check_dir(dln_experiment *e, dln_experiment_part part, const char *dir)
{
    if (!dir) return DLN_OK;
    dln_error *err = e->err;
    char b[4096];
    strip(dir, b);
    int rc = DLN_OK;
    struct stat st;
    if (!b[0] || !strcmp(b, "/") || !strcmp(b, ".") || !strcmp(b, ".."))
        rc = dln_fail(err, DLN_EINPUT, "%s: give a directory of its own", dir);
    else if (stat(b, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) rc = dln_fail(err, DLN_EINPUT, "%s: exists and is not a directory", dir);
        else if (access(b, W_OK | X_OK)) rc = dln_fail(err, DLN_EINPUT, "%s: %s", dir, strerror(errno));
    } else if (errno != ENOENT) {
        rc = dln_fail(err, DLN_EINPUT, "%s: %s", dir, strerror(errno));
    } else {
        char *slash = strrchr(b, '/');
        if (slash == b) b[1] = '\0';
        else if (slash) *slash = '\0';
        else snprintf(b, sizeof b, ".");
        if (stat(b, &st) || !S_ISDIR(st.st_mode))
            rc = dln_fail(err, DLN_EINPUT, "%s: its parent %s is not a directory", dir, b);
        else if (access(b, W_OK | X_OK))
            rc = dln_fail(err, DLN_EINPUT, "%s: cannot create it in %s: %s", dir, b, strerror(errno));
    }
    return dln_exp_at(e, part, rc);
}

/* save_dir for a batch: absent (its parent writable) or a directory, every DIR/<b> absent or
 * a set of weights that can be replaced. */
static int check_batch_save(dln_experiment *e)
{
    const char *dir = e->o.save_dir;
    struct stat sb;
    int rc = DLN_OK;
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT) return dln_exp_at(e, DLN_PART_SAVE, dln_fail(e->err, DLN_EINPUT, "%s: %s", dir, strerror(errno)));
        rc = dln_weights_check_dir(dir, e->err);
    } else if (!S_ISDIR(sb.st_mode)) {
        rc = dln_fail(e->err, DLN_EINPUT, "%s: exists and is not a directory", dir);
    }
    char path[4096];
    for (long b = 0; !rc && S_ISDIR(sb.st_mode) && b < e->members; b++) {
        member_dir(dir, b, path, sizeof path);
        rc = dln_weights_check_dir(path, e->err);
    }
    return dln_exp_at(e, DLN_PART_SAVE, rc);
}

int dln_exp_check_outputs(dln_experiment *e)
{
    const dln_experiment_opts *o = &e->o;
    if (o->save_dir && o->command == DLN_EXPERIMENT_TRAIN) {
        if (e->members > 1) DLN_TRY(check_batch_save(e));
        else DLN_TRY(dln_exp_at(e, DLN_PART_SAVE, dln_weights_check_dir(o->save_dir, e->err)));
    }
    DLN_TRY(check_dir(e, DLN_PART_DATA_OUT, o->data_dir));
    DLN_TRY(check_dir(e, DLN_PART_SOLUTION, o->solution_dir));
    if (o->direction_dir) DLN_TRY(dln_exp_at(e, DLN_PART_DIRECTION, dln_weights_check_dir(o->direction_dir, e->err)));
    return DLN_OK;
}

int dln_exp_stage_weights(dln_experiment *e, long b, double *const *W)
{
    char path[4096];
    if (e->members > 1) member_dir(e->o.save_dir, b, path, sizeof path);
    else snprintf(path, sizeof path, "%s", e->o.save_dir);
    return dln_exp_at(e, DLN_PART_SAVE, dln_weights_stage(path, &e->s, W, &e->staged[b], e->err));
}

int dln_exp_make_save_dir(dln_experiment *e)
{
    if (mkdir(e->o.save_dir, 0777) == 0) e->made_save_dir = 1;
    else if (errno != EEXIST)
        return dln_exp_at(e, DLN_PART_SAVE, dln_fail(e->err, DLN_ERUNTIME, "%s: cannot create the directory: %s",
                                                     e->o.save_dir, strerror(errno)));
    return DLN_OK;
}

/* ---- .npy sets ------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    int rows, cols;
    const double *A;
} npy_item;

static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The items into a staging sibling of dir, then moved in (see the top). */
static int save_items(dln_experiment *e, dln_experiment_part part, const char *dir, const npy_item *it, int n)
{
    dln_error *err = e->err;
    char b[4096], stage[4200], path[4400], dest[4400];
    strip(dir, b);
    snprintf(stage, sizeof stage, "%s.tmp-%ld", b, (long)getpid());
    if (mkdir(stage, 0777))
        return dln_exp_at(e, part, dln_fail(err, DLN_ERUNTIME, "%s: cannot create %s: %s", dir, stage, strerror(errno)));
    int rc = DLN_OK, written = 0;
    for (; !rc && written < n; written++) {
        snprintf(path, sizeof path, "%s/%s", stage, it[written].name);
        rc = dln_npy_write(path, it[written].rows, it[written].cols, it[written].A, it[written].rows, err);
        if (!rc && sync_path(path)) rc = dln_fail(err, DLN_ERUNTIME, "%s: cannot sync: %s", path, strerror(errno));
    }
    if (!rc && sync_path(stage)) rc = dln_fail(err, DLN_ERUNTIME, "%s: cannot sync: %s", stage, strerror(errno));
    if (!rc && rename(stage, b) == 0) return DLN_OK; /* dir was absent: the set appears at once */
    int moved = 0;
    for (int i = 0; !rc && i < n; i++, moved++) {
        snprintf(path, sizeof path, "%s/%s", stage, it[i].name);
        snprintf(dest, sizeof dest, "%s/%s", b, it[i].name);
        if (rename(path, dest))
            rc = dln_fail(err, DLN_ERUNTIME, "%s: cannot move %s in: %s", dir, it[i].name, strerror(errno));
    }
    for (int i = moved; i < written; i++) { /* what was not moved in */
        snprintf(path, sizeof path, "%s/%s", stage, it[i].name);
        unlink(path);
    }
    rmdir(stage);
    return dln_exp_at(e, part, rc);
}

static int save_solution(dln_experiment *e)
{
    const dln_shallow *sh = &e->sh;
    double *R = calloc((size_t)sh->dy * (size_t)sh->dx, sizeof(double));
    if (!R) return dln_fail(e->err, DLN_ENOMEM, "out of memory for R*");
    /* rank 0 (never asked for: k >= 1) would be R* = 0 */
    int rc = dln_shallow_solution(sh, sh->k, R, e->err);
    npy_item it[1] = {{"R.npy", sh->dy, sh->dx, R}};
    if (!rc) rc = save_items(e, DLN_PART_SOLUTION, e->o.solution_dir, it, 1);
    free(R);
    return rc;
}

/* A matrix problem's data as the files its options read: entries.npy (k, 3), or A.npy (k,
 * rows cols) and b.npy (k, 1); test_entries.npy; target.npy (the synthetic R*). */
static int save_matrix(dln_experiment *e)
{
    const dln_matrix_data *m = &e->mx;
    double *D = NULL, *T = NULL;
    int completion = m->kind == DLN_MATRIX_COMPLETION, n = 0;
    int rc = completion ? dln_matrix_entries_array(m, 0, &D, e->err) : dln_matrix_sensing_array(m, &D, e->err);
    if (!rc && m->n_test) rc = dln_matrix_entries_array(m, 1, &T, e->err);
    npy_item it[4];
    if (completion) it[n++] = (npy_item){"entries.npy", m->k, 3, D};
    else it[n++] = (npy_item){"A.npy", m->k, m->rows * m->cols, D}, it[n++] = (npy_item){"b.npy", m->k, 1, m->b};
    if (m->n_test) it[n++] = (npy_item){"test_entries.npy", m->n_test, 3, T};
    if (m->target) it[n++] = (npy_item){"target.npy", m->rows, m->cols, m->target};
    if (!rc) rc = save_items(e, DLN_PART_DATA_OUT, e->o.data_dir, it, n);
    free(D), free(T);
    return rc;
}

int dln_exp_commit_outputs(dln_experiment *e)
{
    const dln_experiment_opts *o = &e->o;
    for (long b = 0; e->staged && b < e->members; b++) {
        if (!e->staged[b]) continue;
        int rc = dln_weights_commit(e->staged[b], 0, e->err);
        e->staged[b] = NULL;
        DLN_TRY(dln_exp_at(e, DLN_PART_SAVE, rc));
    }
    if (e->direction) {
        int rc = dln_weights_commit(e->direction, 0, e->err);
        e->direction = NULL;
        DLN_TRY(dln_exp_at(e, DLN_PART_DIRECTION, rc));
    }
    if (o->solution_dir) DLN_TRY(save_solution(e));
    if (o->data_dir && o->matrix) return save_matrix(e);
    if (o->data_dir) {
        npy_item it[2] = {{"X.npy", e->d.dx, e->d.m, e->d.X}, {"Y.npy", e->d.dy, e->d.m, e->d.Y}};
        DLN_TRY(save_items(e, DLN_PART_DATA_OUT, o->data_dir, it, 2));
    }
    return DLN_OK;
}

void dln_exp_abort_outputs(dln_experiment *e)
{
    for (long b = 0; e->staged && b < e->members; b++) {
        dln_weights_abort(e->staged[b]);
        e->staged[b] = NULL;
    }
    dln_weights_abort(e->direction);
    e->direction = NULL;
    if (e->made_save_dir && !e->committed) rmdir(e->o.save_dir); /* only when still empty */
}
