/* outfile.c: an output file (the --log trace) that never harms a file dln did not create.
 * The path is resolved first (symbolic links followed by hand, so a link that dangles still
 * names the file to create; the link itself is never replaced or removed), then:
 *   - nothing there: the file is created with O_CREAT|O_EXCL and written live; on failure it
 *     is removed only if the path still names the inode this run created;
 *   - a regular file: the new text goes to a temporary sibling (<file>.tmp-<pid>, created
 *     O_EXCL, with the old file's permissions) that is renamed over it only on success, so a
 *     failed or killed run leaves the old file intact (a killed run's temporary is removed
 *     by the next run that logs to the same file, once its process is gone);
 *   - a character device or FIFO (/dev/null, a terminal, a named pipe), or anything under
 *     /proc (/dev/stdout and /dev/fd/N lead there: whatever the descriptor is): written
 *     directly, appended to, never truncated, never removed;
 *   - a directory, a block device or a socket: refused.
 * A killed run leaves whole lines. Each line goes out in one write(2) (no stdio buffer)
 * that stays within one 4 KiB page of the file: Linux checks for a fatal signal between the
 * pages a write copies (generic_perform_write), so SIGKILL can cut a write where it crosses
 * a page boundary, never inside a page. A line that would cross one is preceded by spaces up
 * to the boundary, written as trailing blanks of the previous line (JSON allows them): a
 * line's newline is written together with the next line (or at the commit), so a killed
 * run's last line is whole but may lack its newline. Lines longer than 4 KiB (traces with
 * large --observe arrays) cannot be kept within a page and may still be cut. Devices,
 * FIFOs and /proc get each text in one write as it is (a pipe is atomic up to PIPE_BUF). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cli.h"

#define MAX_LINKS 40 /* as the kernel's own limit on a chain of symbolic links */

/* The directory part of path ("." when there is none) into buf. */
static void dir_of(const char *path, char *buf, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, n, ".");
    else if (slash == path) snprintf(buf, n, "/");
    else snprintf(buf, n, "%.*s", (int)(slash - path), path);
}

static int under(const char *path, const char *top)
{
    size_t n = strlen(top);
    return !strncmp(path, top, n) && (path[n] == '/' || path[n] == '\0');
}

/* Follows symbolic links from path until a name that is not one (or does not exist):
 * that is the file the rules apply to. Stops at /proc, whose links are not paths. */
static int resolve(const char *path, char *out, size_t n, const char *flag, dln_error *err)
{
    char cur[PATH_MAX], link[PATH_MAX], dir[PATH_MAX];
    if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur)
        return dln_fail(err, DLN_EINPUT, "%s %s: path too long", flag, path);
    for (int hops = 0;; hops++) {
        struct stat st;
        if (under(cur, "/proc") || lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) break;
        if (hops == MAX_LINKS) return dln_fail(err, DLN_EINPUT, "%s %s: too many symbolic links", flag, path);
        ssize_t len = readlink(cur, link, sizeof link - 1);
        if (len < 0) return dln_fail(err, DLN_EINPUT, "%s %s: %s", flag, path, strerror(errno));
        link[len] = '\0';
        dir_of(cur, dir, sizeof dir);
        int w = link[0] == '/' ? snprintf(cur, sizeof cur, "%s", link) : snprintf(cur, sizeof cur, "%s/%s", dir, link);
        if (w >= (int)sizeof cur) return dln_fail(err, DLN_EINPUT, "%s %s: path too long", flag, path);
    }
    if (snprintf(out, n, "%s", cur) >= (int)n) return dln_fail(err, DLN_EINPUT, "%s %s: path too long", flag, path);
    return DLN_OK;
}

/* A temporary sibling "<target>.tmp-<pid>" of a dead process: debris of a killed run. */
static void remove_stale_temp(const char *target)
{
    char dir[PATH_MAX];
    dir_of(target, dir, sizeof dir);
    const char *base = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
    size_t bl = strlen(base);
    DIR *dp = opendir(dir);
    if (!dp) return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (strncmp(e->d_name, base, bl) || strncmp(e->d_name + bl, ".tmp-", 5)) continue;
        char *end;
        long pid = strtol(e->d_name + bl + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char p[PATH_MAX + 300];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) (void)unlink(p);
    }
    closedir(dp);
}

static int open_new(cli_outfile *o, const char *flag, dln_error *err)
{
    o->fd = open(o->target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0666);
    if (o->fd < 0) return errno == EEXIST ? -1 : dln_fail(err, DLN_EINPUT, "%s %s: cannot create: %s", flag, o->path, strerror(errno));
    struct stat st;
    if (fstat(o->fd, &st) != 0) {
        int e = errno;
        (void)close(o->fd);
        o->fd = -1;
        (void)unlink(o->target); /* just made with O_EXCL: ours */
        return dln_fail(err, DLN_EINPUT, "%s %s: %s", flag, o->path, strerror(e));
    }
    o->dev = st.st_dev, o->ino = st.st_ino, o->mode = CLI_OUT_NEW;
    return DLN_OK;
}

static int open_replace(cli_outfile *o, const struct stat *old, const char *flag, dln_error *err)
{
    remove_stale_temp(o->target);
    if (snprintf(o->tmp, sizeof o->tmp, "%s.tmp-%ld", o->target, (long)getpid()) >= (int)sizeof o->tmp)
        return dln_fail(err, DLN_EINPUT, "%s %s: path too long", flag, o->path);
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
    if (o->fd < 0)
        return dln_fail(err, DLN_EINPUT, "%s %s: exists, and cannot create a temporary file next to it to replace "
                        "it safely: %s", flag, o->path, strerror(errno));
    struct stat st;
    if (fstat(o->fd, &st) != 0) {
        int e = errno;
        (void)close(o->fd);
        o->fd = -1;
        (void)unlink(o->tmp); /* just made with O_EXCL: ours */
        return dln_fail(err, DLN_EINPUT, "%s %s: %s", flag, o->tmp, strerror(e));
    }
    o->mode = CLI_OUT_REPLACE;
    o->dev = st.st_dev, o->ino = st.st_ino;
    /* the replacement keeps the old file's permissions and, where allowed, its owner */
    if (fchmod(o->fd, old->st_mode & 07777) != 0 ||
        (fchown(o->fd, old->st_uid, old->st_gid) != 0 && errno != EPERM))
        return dln_fail(err, DLN_EINPUT, "%s %s: %s", flag, o->tmp, strerror(errno));
    return DLN_OK;
}

int cli_outfile_open(cli_outfile *o, const char *path, const char *flag, dln_error *err)
{
    memset(o, 0, sizeof *o);
    o->fd = -1;
    o->path = path;
    for (int attempt = 0; attempt < 8; attempt++) {
        DLN_TRY(resolve(path, o->target, sizeof o->target, flag, err));
        struct stat st;
        if (under(o->target, "/proc")) st.st_mode = S_IFCHR; /* open it as it is */
        else if (lstat(o->target, &st) != 0) {
            if (errno != ENOENT) return dln_fail(err, DLN_EINPUT, "%s %s: %s", flag, path, strerror(errno));
            int rc = open_new(o, flag, err);
            if (rc >= 0) return rc;
            continue; /* created by someone else in between: look again */
        }
        if (S_ISDIR(st.st_mode)) return dln_fail(err, DLN_EINPUT, "%s %s: is a directory", flag, path);
        if (S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode))
            return dln_fail(err, DLN_EINPUT, "%s %s: is a %s, not a file", flag, path,
                            S_ISBLK(st.st_mode) ? "block device" : "socket");
        if (S_ISREG(st.st_mode) && !under(o->target, "/proc")) {
            if (access(o->target, W_OK) != 0)
                return dln_fail(err, DLN_EINPUT, "%s %s: cannot write: %s", flag, path, strerror(errno));
            return open_replace(o, &st, flag, err);
        }
        o->fd = open(o->target, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (o->fd < 0) return dln_fail(err, DLN_EINPUT, "%s %s: cannot open for writing: %s", flag, path, strerror(errno));
        o->mode = CLI_OUT_DIRECT;
        return DLN_OK;
    }
    return dln_fail(err, DLN_EINPUT, "%s %s: keeps changing while being opened", flag, path);
}

#define FILE_PAGE 4096 /* the boundaries a write must not cross (larger pages' are among them) */

/* Writes the pieces (iov[0] may be empty) in one writev, repeated only for a short write. */
static int write_pieces(cli_outfile *o, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t w = writev(o->fd, iov, cnt);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            o->write_errno = w < 0 ? errno : EIO;
            return -1;
        }
        o->offset += w;
        size_t left = (size_t)w; /* skip what went out, resume inside a piece cut short */
        for (; cnt > 0 && left >= iov->iov_len; cnt--, iov++) left -= iov->iov_len;
        if (cnt > 0) iov->iov_base = (char *)iov->iov_base + left, iov->iov_len -= left;
    }
    return 0;
}

int cli_outfile_write(cli_outfile *o, const char *text, size_t n)
{
    if (o->write_errno) return -1; /* the first failure is the one reported */
    struct iovec iov[2] = {{NULL, 0}, {(void *)text, n}};
    if (o->mode == CLI_OUT_DIRECT || n == 0 || text[n - 1] != '\n') return write_pieces(o, iov + 1, 1);
    char blanks[FILE_PAGE];
    size_t body = n - 1, at = (size_t)(o->offset % FILE_PAGE), lead = o->newline_due ? 1 : 0;
    if (lead + body <= FILE_PAGE && at + lead + body > FILE_PAGE) {
        /* it would cross a page boundary: blanks up to it end the previous line */
        size_t pad = FILE_PAGE - at;
        memset(blanks, ' ', pad);
        if (lead) blanks[pad - 1] = '\n';
        iov[0].iov_base = blanks, iov[0].iov_len = pad;
        if (write_pieces(o, iov, 1)) return -1;
        lead = 0;
    }
    iov[0].iov_base = "\n", iov[0].iov_len = lead;
    iov[1].iov_len = body;
    if (write_pieces(o, iov, 2)) return -1;
    o->newline_due = 1;
    return 0;
}

/* Removes path only if it still names the inode this run created. */
static void remove_if_ours(const cli_outfile *o, const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == o->dev && st.st_ino == o->ino) (void)unlink(path);
}

/* Closes the descriptor and removes what this run created: the new file or the temporary. */
static void discard(cli_outfile *o)
{
    if (o->fd >= 0) (void)close(o->fd);
    o->fd = -1;
    if (o->mode == CLI_OUT_NEW) remove_if_ours(o, o->target);
    if (o->mode == CLI_OUT_REPLACE) remove_if_ours(o, o->tmp);
    o->mode = CLI_OUT_NONE;
}

void cli_outfile_abort(cli_outfile *o) { discard(o); }

int cli_outfile_commit(cli_outfile *o, const char *flag, dln_error *err)
{
    if (o->mode == CLI_OUT_NONE) return DLN_OK;
    if (o->newline_due && !o->write_errno) { /* the last line's (a failure is reported below) */
        struct iovec nl = {"\n", 1};
        (void)write_pieces(o, &nl, 1);
        o->newline_due = 0;
    }
    int e = o->write_errno, fd = o->fd;
    o->fd = -1;
    if (close(fd) != 0 && !e && o->mode != CLI_OUT_DIRECT) e = errno;
    if (e) {
        discard(o);
        return dln_fail(err, DLN_ERUNTIME, "%s %s: write failed: %s", flag, o->path, strerror(e));
    }
    if (o->mode == CLI_OUT_REPLACE && rename(o->tmp, o->target) != 0) {
        e = errno;
        discard(o);
        return dln_fail(err, DLN_ERUNTIME, "%s %s: cannot replace it: %s", flag, o->path, strerror(e));
    }
    o->mode = CLI_OUT_NONE;
    return DLN_OK;
}
