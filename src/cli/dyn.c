/* dyn.c: the smaller loss-landscape pieces of the CLI: the rank path in the
 * summaries (optimum_by_rank), the observables on the trace (--observe), the perturbation
 * of loaded weights (--perturb), and the .npy outputs --save-data (X, Y) and
 * --save-solution (R*). Each output directory is checked before any work; its files are
 * written into a staging sibling (<dir>.tmp-<pid>), synced, and then either the staging
 * directory is renamed to dir (dir absent: the set appears at once) or each file is renamed
 * over its namesake in dir (each file is replaced atomically; other files are left alone). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define CLI_STREAM_PERTURB 3 /* rng stream of the random direction (1: data, 2: init; dln/rng.h) */

void cli_put_rank_path(dln_json *j, const dln_shallow *sh)
{
    if (!sh->optimum_by_rank) return;
    dln_json_array(j, "optimum_by_rank");
    for (int r = 0; r < sh->n_ranks; r++) dln_json_num(j, NULL, sh->optimum_by_rank[r]);
    dln_json_end_array(j);
}

static void put_nums(dln_json *j, const char *key, const double *v, int n)
{
    if (!v || n <= 0) return;
    dln_json_array(j, key);
    for (int i = 0; i < n; i++) dln_json_num(j, NULL, v[i]);
    dln_json_end_array(j);
}

void cli_put_observables(dln_json *j, const dln_observation *obs)
{
    put_nums(j, "product_sv", obs->product_sv, obs->n_product_sv);
    if (obs->product_sv) dln_json_num(j, "effective_rank", obs->effective_rank);
    put_nums(j, "mode_strength", obs->mode_strength, obs->n_modes);
    put_nums(j, "target_sv", obs->target_sv, obs->n_modes);
    put_nums(j, "layer_norms", obs->layer_norms, obs->n_layers);
    if (isfinite(obs->balancedness)) dln_json_num(j, "balancedness", obs->balancedness);
}

void cli_note_hypotheses(const cli_opts *o, const dln_shallow *sh)
{
    if (sh->hypotheses || o->quiet) return;
    fprintf(stderr, "dln: note: hypotheses false: rank(X) = %d of dx = %d, rank(Y) = %d of dy = %d; the theorem "
            "(every local minimum of the deep loss is global, at L*) assumes full row rank\n", sh->rank_x, sh->dx,
            sh->rank_y, sh->dy);
}

/* ---- --perturb ------------------------------------------------------------------------- */

int cli_perturb(const cli_opts *o, const dln_shape *s, double **W, dln_error *err)
{
    if (!o->dyn.perturb_set) return DLN_OK;
    double **V = NULL;
    int rc;
    if (o->dyn.perturb_dir) {
        dln_shape got = {0, NULL};
        rc = dln_weights_load(o->dyn.perturb_dir, s->dims[0], s->dims[s->depth], &got, &V, err);
        if (rc) {
            dln_error_prefix(err, "--perturb-dir ");
            return rc;
        }
        int same = got.depth == s->depth && !memcmp(got.dims, s->dims, sizeof(int) * (size_t)(s->depth + 1));
        int depth = got.depth;
        dln_shape_free(&got);
        if (!same) {
            dln_weights_free(depth, V);
            return dln_fail(err, DLN_EINPUT, "--perturb-dir %s: the direction's shapes differ from the --load weights",
                            o->dyn.perturb_dir);
        }
    } else {
        DLN_TRY(dln_weights_alloc(s, &V, err));
        dln_rng g;
        dln_rng_seed(&g, o->seed, CLI_STREAM_PERTURB);
        for (int i = 0; i < s->depth; i++)
            for (size_t e = 0; e < (size_t)s->dims[i + 1] * (size_t)s->dims[i]; e++) V[i][e] = dln_rng_normal(&g);
    }
    double nn = 0.0;
    for (int i = 0; i < s->depth; i++)
        for (size_t e = 0; e < (size_t)s->dims[i + 1] * (size_t)s->dims[i]; e++) nn += V[i][e] * V[i][e];
    rc = nn > 0 && isfinite(nn) ? DLN_OK
                                : dln_fail(err, DLN_EINPUT, "--perturb-dir %s: the direction is zero or not finite",
                                           o->dyn.perturb_dir);
    double a = rc ? 0.0 : o->dyn.perturb / sqrt(nn);
    for (int i = 0; !rc && i < s->depth; i++)
        for (size_t e = 0; e < (size_t)s->dims[i + 1] * (size_t)s->dims[i]; e++) W[i][e] += a * V[i][e];
    dln_weights_free(s->depth, V);
    return rc;
}

/* ---- .npy output directories ----------------------------------------------------------- */

/* dir without trailing slashes into b. */
static void strip(const char *dir, char b[4096])
{
    snprintf(b, 4096, "%s", dir);
    size_t n = strlen(b);
    while (n > 1 && b[n - 1] == '/') b[--n] = '\0';
}

/* An output directory: absent (its parent must be a directory) or a directory. */
static int check_dir(const char *flag, const char *dir, dln_error *err)
{
    if (!dir) return DLN_OK;
    char b[4096];
    strip(dir, b);
    if (!b[0] || !strcmp(b, "/") || !strcmp(b, ".") || !strcmp(b, ".."))
        return dln_fail(err, DLN_EINPUT, "%s %s: give a directory of its own", flag, dir);
    struct stat st;
    if (stat(b, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return dln_fail(err, DLN_EINPUT, "%s %s: exists and is not a directory", flag, dir);
        if (access(b, W_OK | X_OK)) return dln_fail(err, DLN_EINPUT, "%s %s: %s", flag, dir, strerror(errno));
        return DLN_OK;
    }
    if (errno != ENOENT) return dln_fail(err, DLN_EINPUT, "%s %s: %s", flag, dir, strerror(errno));
    char *slash = strrchr(b, '/');
    if (slash == b) b[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(b, sizeof b, ".");
    if (stat(b, &st) || !S_ISDIR(st.st_mode))
        return dln_fail(err, DLN_EINPUT, "%s %s: its parent %s is not a directory", flag, dir, b);
    if (access(b, W_OK | X_OK)) return dln_fail(err, DLN_EINPUT, "%s %s: cannot create it in %s: %s", flag, dir, b,
                                                strerror(errno));
    return DLN_OK;
}

int cli_dyn_check_outputs(const cli_opts *o, dln_error *err)
{
    DLN_TRY(check_dir("--save-data", o->dyn.data_dir, err));
    DLN_TRY(check_dir("--save-solution", o->dyn.solution_dir, err));
    if (o->dyn.direction_dir && dln_weights_check_dir(o->dyn.direction_dir, err)) {
        dln_error_prefix(err, "--save-direction ");
        return err->code;
    }
    return DLN_OK;
}

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

/* Writes the items into a staging sibling of dir, then moves them in (see the top). */
static int save_items(const char *flag, const char *dir, const npy_item *it, int n, dln_error *err)
{
    char b[4096], stage[4200], path[4400], dest[4400];
    strip(dir, b);
    snprintf(stage, sizeof stage, "%s.tmp-%ld", b, (long)getpid());
    if (mkdir(stage, 0777)) return dln_fail(err, DLN_ERUNTIME, "%s %s: cannot create %s: %s", flag, dir, stage,
                                            strerror(errno));
    int rc = DLN_OK, written = 0;
    for (; !rc && written < n; written++) {
        snprintf(path, sizeof path, "%s/%s", stage, it[written].name);
        rc = dln_npy_write(path, it[written].rows, it[written].cols, it[written].A, it[written].rows, err);
        if (!rc && sync_path(path))
            rc = dln_fail(err, DLN_ERUNTIME, "%s: cannot sync: %s", path, strerror(errno));
    }
    if (!rc && sync_path(stage)) rc = dln_fail(err, DLN_ERUNTIME, "%s: cannot sync: %s", stage, strerror(errno));
    if (!rc && rename(stage, b) == 0) return DLN_OK; /* dir was absent: the set appears at once */
    int moved = 0;
    for (int i = 0; !rc && i < n; i++, moved++) {
        snprintf(path, sizeof path, "%s/%s", stage, it[i].name);
        snprintf(dest, sizeof dest, "%s/%s", b, it[i].name);
        if (rename(path, dest)) rc = dln_fail(err, DLN_ERUNTIME, "%s %s: cannot move %s in: %s", flag, dir,
                                              it[i].name, strerror(errno));
    }
    for (int i = moved; i < written; i++) { /* what was not moved in */
        snprintf(path, sizeof path, "%s/%s", stage, it[i].name);
        unlink(path);
    }
    rmdir(stage);
    if (rc && !strstr(err->msg, flag)) {
        char pre[64];
        snprintf(pre, sizeof pre, "%s ", flag);
        dln_error_prefix(err, pre);
    }
    return rc;
}

int cli_save_data(const cli_opts *o, const dln_data *d, dln_error *err)
{
    if (!o->dyn.data_dir) return DLN_OK;
    npy_item it[2] = {{"X.npy", d->dx, d->m, d->X}, {"Y.npy", d->dy, d->m, d->Y}};
    return save_items("--save-data", o->dyn.data_dir, it, 2, err);
}

int cli_save_solution(const cli_opts *o, const dln_shallow *sh, dln_error *err)
{
    if (!o->dyn.solution_dir) return DLN_OK;
    double *R = calloc((size_t)sh->dy * (size_t)sh->dx, sizeof(double));
    if (!R) return dln_fail(err, DLN_ENOMEM, "out of memory for R*");
    /* rank 0 (never asked for: k >= 1) would be R* = 0 */
    int rc = dln_shallow_solution(sh, sh->k, R, err);
    npy_item it[1] = {{"R.npy", sh->dy, sh->dx, R}};
    if (!rc) rc = save_items("--save-solution", o->dyn.solution_dir, it, 1, err);
    free(R);
    return rc;
}
