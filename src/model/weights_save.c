/* weights_save.c: saving weights as W1.npy..WH.npy in a directory DIR so that DIR holds,
 * at every instant, either the complete old set or the complete new one:
 *   stage:  the new set is written (and fsynced) into a sibling DIR.tmp-<pid>;
 *   commit: renameat2(RENAME_EXCHANGE) swaps the two directories in one step, then the
 *           old set (now at DIR.tmp-<pid>) is removed. A DIR that does not exist yet is
 *           created by renameat2(RENAME_NOREPLACE), so a concurrent saver is never
 *           overwritten blindly: whoever comes second exchanges.
 * Where the filesystem refuses the exchange (EINVAL, ENOSYS), the fallback is two renames,
 * DIR -> DIR.old-<pid> and DIR.tmp-<pid> -> DIR: DIR is then absent for the instant between
 * them, but a complete set always exists under one of the two names, and the next save
 * puts a stranded DIR.old-<pid> back before it does anything else.
 * Siblings left by killed runs (DIR.tmp-<pid> and DIR.old-<pid> whose process is gone) are
 * removed by the next save. Nothing but weight files is ever deleted: a directory holding
 * anything else is left where it is. DIR may be a symbolic link to a directory: the
 * directory it points to is replaced and the link is left as it is. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dln/data.h"
#include "dln/model.h"
#include "model/weights_internal.h"

struct dln_staged_weights {
    char shown[PATH_MAX];  /* DIR as given, for messages */
    char target[PATH_MAX]; /* the directory replaced (a symbolic link's target) */
    char parent[PATH_MAX], base[NAME_MAX + 1];
    char tmp[PATH_MAX + NAME_MAX + 32], old[PATH_MAX + NAME_MAX + 32];
};

#define COMMIT_TRIES 8 /* a concurrent saver can make one attempt fail; a few more settle it */

/* Resolves DIR into the directory to replace and its parent; refuses names that cannot be
 * replaced (".", "..", "/"). */
static int resolve(const char *dir, struct dln_staged_weights *st, dln_error *err)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    if (len == 0) return dln_fail(err, DLN_EINPUT, "'': an empty directory name");
    if (len >= sizeof st->target) return dln_fail(err, DLN_EINPUT, "%s: path too long", dir);
    snprintf(st->shown, sizeof st->shown, "%s", dir);
    memcpy(st->target, dir, len);
    st->target[len] = '\0';
    const char *last = strrchr(st->target, '/') ? strrchr(st->target, '/') + 1 : st->target;
    if (!strcmp(st->target, "/") || !strcmp(last, ".") || !strcmp(last, ".."))
        return dln_fail(err, DLN_EINPUT, "%s: the root, current or parent directory cannot be replaced; name a "
                        "directory of its own (such as run1/)", dir);
    struct stat ls;
    if (lstat(st->target, &ls) == 0 && S_ISLNK(ls.st_mode)) {
        char real[PATH_MAX];
        if (!realpath(st->target, real))
            return dln_fail(err, DLN_EINPUT, "%s: a symbolic link to a missing directory (%s)", dir, strerror(errno));
        if (!strcmp(real, "/")) return dln_fail(err, DLN_EINPUT, "%s: links to the root directory", dir);
        snprintf(st->target, sizeof st->target, "%s", real);
    }
    char *slash = strrchr(st->target, '/');
    if (!slash) snprintf(st->parent, sizeof st->parent, ".");
    else if (slash == st->target) snprintf(st->parent, sizeof st->parent, "/");
    else snprintf(st->parent, sizeof st->parent, "%.*s", (int)(slash - st->target), st->target);
    const char *b = slash ? slash + 1 : st->target;
    if (strlen(b) + 24 > NAME_MAX) return dln_fail(err, DLN_EINPUT, "%s: name too long", dir);
    snprintf(st->base, sizeof st->base, "%s", b);
    snprintf(st->tmp, sizeof st->tmp, "%s/%s.tmp-%ld", st->parent, st->base, (long)getpid());
    snprintf(st->old, sizeof st->old, "%s/%s.old-%ld", st->parent, st->base, (long)getpid());
    return DLN_OK;
}

/* The name of the first entry of an existing set that is not a weight file (a regular
 * file W<k>.npy), or "" when there is none. */
static int foreign_entry(const char *path, char *name, size_t n, int *not_regular)
{
    DIR *dp = opendir(path);
    if (!dp) return -1;
    struct dirent *e;
    name[0] = '\0';
    *not_regular = 0;
    while ((e = readdir(dp)) && !name[0]) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat fs;
        int weight = dln_weight_index(e->d_name) > 0;
        if (fstatat(dirfd(dp), e->d_name, &fs, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
            continue; /* gone since listed: a concurrent save removing the set it replaced */
        if (weight && S_ISREG(fs.st_mode)) continue;
        *not_regular = weight;
        snprintf(name, n, "%s", e->d_name);
    }
    closedir(dp);
    return 0;
}

#define CHECK_TRIES 8 /* DIR found, then gone before it could be listed: look again */

/* DIR is absent, or a directory of weight files only; its parent is a writable directory.
 * A concurrent save's fallback moves DIR away for an instant (DIR -> DIR.old-<pid>), which
 * can fall between the lstat and the listing: DIR is then looked at again, and found absent
 * or holding the set that replaced it. */
static int check(struct dln_staged_weights *st, dln_error *err)
{
    const char *dir = st->shown;
    struct stat ps, ds;
    if (stat(st->parent, &ps) != 0)
        return dln_fail(err, DLN_EINPUT, "%s: cannot write in %s: %s", dir, st->parent, strerror(errno));
    if (!S_ISDIR(ps.st_mode)) return dln_fail(err, DLN_EINPUT, "%s: %s is not a directory", dir, st->parent);
    if (access(st->parent, W_OK | X_OK) != 0)
        return dln_fail(err, DLN_EINPUT, "%s: cannot write in %s: %s", dir, st->parent, strerror(errno));
    char bad[NAME_MAX + 1];
    int not_regular;
    for (int t = 0;; t++) {
        if (lstat(st->target, &ds) != 0) {
            if (errno == ENOENT) return DLN_OK;
            return dln_fail(err, DLN_EINPUT, "%s: %s", dir, strerror(errno));
        }
        if (!S_ISDIR(ds.st_mode)) return dln_fail(err, DLN_EINPUT, "%s: exists and is not a directory", dir);
        if (ds.st_dev != ps.st_dev)
            return dln_fail(err, DLN_EINPUT, "%s: is a mount point and cannot be replaced", dir);
        if (foreign_entry(st->target, bad, sizeof bad, &not_regular) == 0) break;
        if (errno != ENOENT) return dln_fail(err, DLN_EINPUT, "%s: cannot list: %s", dir, strerror(errno));
        if (t + 1 == CHECK_TRIES) return DLN_OK; /* absent when listed, as absent as a failed lstat */
    }
    if (bad[0] && not_regular)
        return dln_fail(err, DLN_EINPUT, "%s: the directory holds '%s', which is not a regular file; choose a new "
                        "or empty directory", dir, bad);
    if (bad[0])
        return dln_fail(err, DLN_EINPUT, "%s: the directory holds '%s', which is not a saved weight; choose a new or "
                        "empty directory", dir, bad);
    return DLN_OK;
}

int dln_weights_check_dir(const char *dir, dln_error *err)
{
    struct dln_staged_weights st;
    DLN_TRY(resolve(dir, &st, err));
    return check(&st, err);
}

/* Removes a set: its weight files, then the directory if that left it empty. */
static void remove_set(const char *path)
{
    DIR *dp = opendir(path);
    if (!dp) return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        struct stat fs;
        if (dln_weight_index(e->d_name) > 0 && fstatat(dirfd(dp), e->d_name, &fs, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(fs.st_mode))
            (void)unlinkat(dirfd(dp), e->d_name, 0);
    }
    closedir(dp);
    (void)rmdir(path);
}

/* Siblings of killed runs: DIR.tmp-<pid> (a partial new set, or the old set after the
 * exchange) is removed; DIR.old-<pid> (the fallback's old set) is put back when DIR is
 * missing, else removed. Only when the process <pid> is gone. */
static void clean_stale(const struct dln_staged_weights *st)
{
    DIR *dp = opendir(st->parent);
    if (!dp) return;
    size_t bl = strlen(st->base);
    struct dirent *e;
    char p[PATH_MAX + NAME_MAX + 2];
    while ((e = readdir(dp))) {
        const char *tail = e->d_name + bl;
        if (strncmp(e->d_name, st->base, bl) || (strncmp(tail, ".tmp-", 5) && strncmp(tail, ".old-", 5))) continue;
        char *end;
        long pid = strtol(tail + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        struct stat fs;
        snprintf(p, sizeof p, "%s/%s", st->parent, e->d_name);
        if (lstat(p, &fs) != 0 || !S_ISDIR(fs.st_mode)) continue;
        struct stat ts;
        if (tail[1] == 'o' && lstat(st->target, &ts) != 0) {
            if (errno == ENOENT) (void)rename(p, st->target); /* the only complete set: put it back */
            continue;
        }
        remove_set(p);
    }
    closedir(dp);
}

/* fsync of a file or directory; a directory that cannot be synced (EINVAL) is no failure. */
static int sync_path(const char *path, int is_dir)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (is_dir ? O_DIRECTORY : 0));
    if (fd < 0) return -1;
    int rc = fsync(fd);
    if (rc != 0 && is_dir && (errno == EINVAL || errno == EROFS)) rc = 0;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int dln_weights_stage(const char *dir, const dln_shape *s, double *const *W, dln_staged_weights **out,
                      dln_error *err)
{
    *out = NULL;
    struct dln_staged_weights *st = calloc(1, sizeof *st);
    if (!st) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    int rc = resolve(dir, st, err);
    if (!rc) rc = check(st, err);
    if (rc) {
        free(st);
        return rc;
    }
    clean_stale(st);
    remove_set(st->tmp); /* ours, from an earlier attempt of this process */
    struct stat ds;
    if (mkdir(st->tmp, 0777) != 0 || (lstat(st->target, &ds) == 0 && chmod(st->tmp, ds.st_mode & 07777) != 0)) {
        rc = dln_fail(err, DLN_ERUNTIME, "%s: cannot create %s: %s", dir, st->tmp, strerror(errno));
        free(st);
        return rc;
    }
    char f[sizeof st->tmp + 32];
    for (int i = 0; i < s->depth && !rc; i++) {
        snprintf(f, sizeof f, "%s/W%d.npy", st->tmp, i + 1);
        dln_error e;
        dln_error_clear(&e);
        if (dln_npy_write(f, s->dims[i + 1], s->dims[i], W[i], s->dims[i + 1], &e))
            rc = dln_fail(err, DLN_ERUNTIME, "%s: cannot write the weights: %s", dir, e.msg);
        else if (sync_path(f, 0) != 0)
            rc = dln_fail(err, DLN_ERUNTIME, "%s: cannot write the weights: %s: %s", dir, f, strerror(errno));
    }
    if (!rc && sync_path(st->tmp, 1) != 0)
        rc = dln_fail(err, DLN_ERUNTIME, "%s: cannot write the weights: %s: %s", dir, st->tmp, strerror(errno));
    if (rc) {
        dln_weights_abort(st);
        return rc;
    }
    *out = st;
    return DLN_OK;
}

void dln_weights_abort(dln_staged_weights *st)
{
    if (!st) return;
    remove_set(st->tmp);
    free(st);
}

static int unsupported(int e) { return e == EINVAL || e == ENOSYS || e == ENOTSUP; }

/* One attempt at putting the staged set in place: 0 done, 1 try again (a concurrent saver
 * changed DIR meanwhile), -1 failed (errno set). */
static int swap_once(struct dln_staged_weights *st, int *exchange)
{
    struct stat ds;
    if (lstat(st->target, &ds) != 0) {
        if (errno != ENOENT) return -1;
        if (renameat2(AT_FDCWD, st->tmp, AT_FDCWD, st->target, RENAME_NOREPLACE) == 0) return 0;
        if (errno == EEXIST) return 1;
        if (!unsupported(errno)) return -1;
        if (rename(st->tmp, st->target) == 0) return 0; /* fails on a non-empty DIR that appeared */
        return errno == ENOTEMPTY || errno == EEXIST ? 1 : -1;
    }
    if (*exchange) {
        if (renameat2(AT_FDCWD, st->tmp, AT_FDCWD, st->target, RENAME_EXCHANGE) == 0) {
            remove_set(st->tmp); /* the old set */
            return 0;
        }
        if (errno == ENOENT) return 1;
        if (!unsupported(errno)) return -1;
        *exchange = 0;
    }
    /* the fallback: two renames; the old set is complete under one of the names throughout */
    remove_set(st->old);
    if (rename(st->target, st->old) != 0) return errno == ENOENT ? 1 : -1;
    if (rename(st->tmp, st->target) == 0) {
        remove_set(st->old);
        return 0;
    }
    int e = errno;
    if (rename(st->old, st->target) != 0 && (errno == ENOTEMPTY || errno == EEXIST))
        remove_set(st->old); /* another saver's complete set is in place: ours is obsolete */
    errno = e;
    return e == ENOTEMPTY || e == EEXIST ? 1 : -1;
}

int dln_weights_commit(dln_staged_weights *st, unsigned flags, dln_error *err)
{
    if (!st) return DLN_OK;
    int rc = DLN_OK, exchange = !(flags & DLN_SAVE_NO_EXCHANGE), r = 1;
    for (int t = 0; t < COMMIT_TRIES && r == 1 && !rc; t++) {
        rc = check(st, err); /* DIR may have changed since the stage */
        if (!rc) r = swap_once(st, &exchange);
    }
    if (!rc && r != 0)
        rc = dln_fail(err, DLN_ERUNTIME, "%s: cannot put the new weights in place: %s", st->shown,
                      r < 0 ? strerror(errno) : "the directory keeps changing");
    else if (!rc) (void)sync_path(st->parent, 1);
    if (rc && err && err->code == DLN_EINPUT) err->code = DLN_ERUNTIME; /* changed since checked: not bad input */
    if (rc) dln_weights_abort(st);
    else free(st);
    return rc ? DLN_ERUNTIME : DLN_OK;
}

int dln_weights_save(const char *dir, const dln_shape *s, double *const *W, dln_error *err)
{
    dln_staged_weights *st;
    DLN_TRY(dln_weights_stage(dir, s, W, &st, err));
    return dln_weights_commit(st, 0, err);
}
