/* memlimit.c: how much memory this process may use (dln/memory.h): the smallest of the
 * physical memory, the memory limit of its cgroup (v2 memory.max, v1
 * memory.limit_in_bytes, the tightest on the path from its cgroup up to the root of the
 * hierarchy) and RLIMIT_AS; and what the process already holds (resident set, address
 * space), which the limits must also cover. Everything is read from /proc and /sys; a
 * file that cannot be read means "no limit from there", never a failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dln/memory.h"

#define V1_UNLIMITED 4.6e18 /* v1 reports "no limit" as a page-rounded 2^63 - 1 */

/* The number in path ("max" or unreadable: INFINITY). */
static double read_limit(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) return INFINITY;
    char buf[64] = "";
    char *ok = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!ok || !strncmp(buf, "max", 3)) return INFINITY;
    char *end;
    double v = strtod(buf, &end);
    return end == buf || v <= 0 || v >= V1_UNLIMITED ? INFINITY : v;
}

/* The smallest limit in dir/file and every parent of dir up to top (dir is under top). */
static double walk_up(char *dir, size_t top_len, const char *file)
{
    double best = INFINITY;
    char path[8192];
    for (;;) {
        if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path) break;
        double v = read_limit(path);
        if (v < best) best = v;
        char *slash = strrchr(dir, '/');
        if (strlen(dir) <= top_len || !slash || (size_t)(slash - dir) < top_len) break;
        *slash = '\0';
    }
    return best;
}

/* The mount point (prefixed with root) and mount root of the cgroup hierarchy: v2 when
 * controller is NULL, else the v1 hierarchy carrying that controller. */
static int find_mount(const char *mountinfo, const char *root, const char *controller, char *mnt, size_t n,
                      char *mroot, size_t rn)
{
    FILE *f = fopen(mountinfo, "re");
    if (!f) return -1;
    char line[4096];
    int found = -1;
    while (found && fgets(line, sizeof line, f)) {
        /* id parent major:minor root mountpoint options [optional...] - fstype source superoptions */
        char r[1024], point[1024], *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", r, point) != 2) continue;
        char fstype[64], super[1024] = "";
        if (sscanf(dash + 3, "%63s %*s %1023s", fstype, super) < 1) continue;
        int v2 = !strcmp(fstype, "cgroup2"), v1 = !strcmp(fstype, "cgroup");
        if (controller ? !v1 : !v2) continue;
        if (controller) { /* the super options list the controllers: ...,memory,... */
            char opts[1030];
            snprintf(opts, sizeof opts, ",%s,", super);
            char want[64];
            snprintf(want, sizeof want, ",%s,", controller);
            if (!strstr(opts, want)) continue;
        }
        snprintf(mnt, n, "%s%s", root, point);
        snprintf(mroot, rn, "%s", r);
        found = 0;
    }
    fclose(f);
    return found;
}

double dln_cgroup_memory_limit(const char *proc_cgroup, const char *mountinfo, const char *root)
{
    FILE *f = fopen(proc_cgroup, "re");
    if (!f) return INFINITY;
    char line[4096];
    double best = INFINITY;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c1 = *c2 = '\0';
        const char *controllers = c1 + 1, *path = c2 + 1;
        int v2 = !strcmp(line, "0") && !*controllers;
        char list[1024];
        snprintf(list, sizeof list, ",%s,", controllers);
        if (!v2 && !strstr(list, ",memory,")) continue;
        char mnt[2048], mroot[1024], dir[8192];
        if (find_mount(mountinfo, root, v2 ? NULL : "memory", mnt, sizeof mnt, mroot, sizeof mroot)) continue;
        /* the path is relative to the hierarchy's root; a mount of a sub-tree (a container's
         * own cgroup mounted at the mount point) starts from that sub-tree */
        size_t rl = strcmp(mroot, "/") ? strlen(mroot) : 0;
        const char *rel = rl && !strncmp(path, mroot, rl) ? path + rl : path;
        snprintf(dir, sizeof dir, "%s%s", mnt, strcmp(rel, "/") ? rel : "");
        if (access(dir, F_OK) != 0) snprintf(dir, sizeof dir, "%s", mnt); /* namespaced: we are the root */
        double v = walk_up(dir, strlen(mnt), v2 ? "memory.max" : "memory.limit_in_bytes");
        if (v < best) best = v;
    }
    fclose(f);
    return best;
}

/* Resident set and address space from /proc/self/statm (pages). */
static void footprint(double *rss, double *vsize)
{
    *rss = *vsize = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f) return;
    unsigned long size = 0, resident = 0;
    if (fscanf(f, "%lu %lu", &size, &resident) == 2) {
        double page = (double)sysconf(_SC_PAGESIZE);
        *vsize = (double)size * page;
        *rss = (double)resident * page;
    }
    fclose(f);
}

void dln_memory_limits(dln_mem_limits *out)
{
    memset(out, 0, sizeof *out);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    out->physical = pages > 0 && page > 0 ? (double)pages * (double)page : INFINITY;
    out->cgroup = dln_cgroup_memory_limit("/proc/self/cgroup", "/proc/self/mountinfo", "");
    struct rlimit rl;
    out->address_space = getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (double)rl.rlim_cur : INFINITY;
    footprint(&out->resident, &out->mapped);
}
