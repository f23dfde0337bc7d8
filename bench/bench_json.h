/* bench_json.h: the streaming JSON writer of the benchmark binaries and the "machine"
 * object every result file carries (host, CPU, OpenBLAS, backend and devices, date, git
 * commit). Header only; included at the end of bench_common.h, whose types it uses. */
#ifndef DLN_BENCH_JSON_H
#define DLN_BENCH_JSON_H

/* ---- JSON ------------------------------------------------------------------------------- */

typedef struct {
    FILE *f;
    int depth;
    int count[64]; /* members written at each nesting level */
} bench_json;

/* Every bj_* call is a no-op when no file was asked for (j->f == NULL). */
static inline void bj_sep(bench_json *j, const char *key)
{
    if (j->depth > 0 && j->count[j->depth]++) fputc(',', j->f);
    if (key) {
        fputc('"', j->f);
        for (const char *p = key; *p; p++) fputc(*p, j->f);
        fputs("\":", j->f);
    }
}

static inline void bj_raw_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static inline void bj_open(bench_json *j, const char *key, char c)
{
    if (!j->f) return;
    bj_sep(j, key);
    fputc(c, j->f);
    if (j->depth < 63) j->count[++j->depth] = 0;
}

static inline void bj_close(bench_json *j, char c)
{
    if (!j->f) return;
    fputc(c, j->f);
    if (j->depth > 0) j->depth--;
}

static inline void bj_obj(bench_json *j, const char *key) { bj_open(j, key, '{'); }
static inline void bj_end_obj(bench_json *j) { bj_close(j, '}'); }
static inline void bj_arr(bench_json *j, const char *key) { bj_open(j, key, '['); }
static inline void bj_end_arr(bench_json *j) { bj_close(j, ']'); }

static inline void bj_num(bench_json *j, const char *key, double v)
{
    if (!j->f) return;
    bj_sep(j, key);
    if (isfinite(v)) fprintf(j->f, "%.17g", v);
    else fputs("null", j->f);
}

static inline void bj_int(bench_json *j, const char *key, long v)
{
    if (!j->f) return;
    bj_sep(j, key);
    fprintf(j->f, "%ld", v);
}

static inline void bj_bool(bench_json *j, const char *key, int v)
{
    if (!j->f) return;
    bj_sep(j, key);
    fputs(v ? "true" : "false", j->f);
}

static inline void bj_str(bench_json *j, const char *key, const char *v)
{
    if (!j->f) return;
    bj_sep(j, key);
    bj_raw_str(j->f, v);
}

static inline void bj_stats(bench_json *j, const char *key, const bench_timing *t)
{
    if (!j->f) return;
    bj_obj(j, key);
    bj_num(j, "median_s", t->s.median);
    bj_num(j, "min_s", t->s.min);
    bj_num(j, "max_s", t->s.max);
    bj_num(j, "q1_s", t->s.q1);
    bj_num(j, "q3_s", t->s.q3);
    bj_num(j, "mean_s", t->s.mean);
    bj_int(j, "reps", t->reps);
    bj_int(j, "calls_per_rep", t->batch);
    bj_end_obj(j);
}

/* ---- machine description ------------------------------------------------------------ */

/* First line of a command's output (trailing newline removed), or "unknown". */
static inline void bench_cmd_line(const char *cmd, char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *p = popen(cmd, "r");
    if (!p) return;
    if (fgets(buf, (int)n, p)) buf[strcspn(buf, "\n")] = 0;
    else snprintf(buf, n, "unknown");
    if (pclose(p) != 0 || !buf[0]) snprintf(buf, n, "unknown");
}

static inline void bench_cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            const char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t') c++;
                snprintf(buf, n, "%s", c);
                buf[strcspn(buf, "\n")] = 0;
            }
            break;
        }
    }
    fclose(f);
}

/* The "machine" object: host, CPU, OpenBLAS threads, backend and device, date, commit. */
static inline void bench_json_machine(bench_json *j, const dln_backend *be, const bench_opts *o)
{
    if (!j->f) return;
    char buf[512], dev[512];
    struct utsname u;
    bj_obj(j, "machine");
    if (!uname(&u)) {
        bj_str(j, "hostname", u.nodename);
        bj_str(j, "os", u.sysname);
        bj_str(j, "kernel", u.release);
        bj_str(j, "arch", u.machine);
    }
    bench_cpu_model(buf, sizeof buf);
    bj_str(j, "cpu_model", buf);
    bj_int(j, "cpu_cores_online", sysconf(_SC_NPROCESSORS_ONLN));
    bj_int(j, "openblas_threads", openblas_get_num_threads());
    bj_str(j, "openblas_config", openblas_get_config());
    bj_str(j, "backend", be ? be->ops->name : "none");
    bj_str(j, "precision", o->precision);
    bj_str(j, "backends_compiled", dln_backends_compiled());
    dln_devices_describe(dev, sizeof dev);
    bj_str(j, "devices", dev);
    time_t t = time(NULL);
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    bj_str(j, "date_utc", buf);
    /* DLN_COMMIT names the commit where the tree travelled without .git (a GPU machine) */
    const char *commit = getenv("DLN_COMMIT");
    if (commit && *commit) snprintf(buf, sizeof buf, "%s", commit);
    else bench_cmd_line("git rev-parse HEAD 2>/dev/null", buf, sizeof buf);
    bj_str(j, "git_commit", buf);
    /* dirty: the sources differ from the commit (changed or untracked files) */
    bench_cmd_line("git rev-parse --git-dir >/dev/null 2>&1 && { test -z \"$(git status --porcelain -- Makefile src "
                   "include kernels bench scripts tests 2>/dev/null)\" && echo clean || echo dirty; }",
                   buf, sizeof buf);
    bj_str(j, "git_tree", buf);
    bj_str(j, "dln_version", DLN_VERSION);
    bj_end_obj(j);
}

/* Opens the JSON file and writes the header members; NULL path gives j->f = NULL. */
static inline int bench_json_begin(bench_json *j, const char *path, const char *name, const dln_backend *be,
                                   const bench_opts *o, int argc, char **argv)
{
    memset(j, 0, sizeof *j);
    if (!path) return 0;
    j->f = fopen(path, "w");
    if (!j->f) {
        fprintf(stderr, "bench: --json %s: cannot open for writing\n", path);
        return 1;
    }
    bj_obj(j, NULL);
    bj_str(j, "benchmark", name);
    bj_arr(j, "argv");
    for (int i = 0; i < argc; i++) bj_str(j, NULL, argv[i]);
    bj_end_arr(j);
    bench_json_machine(j, be, o);
    bj_obj(j, "timing");
    bj_int(j, "reps", o->reps);
    bj_int(j, "warmup", o->warmup);
    bj_num(j, "min_time_s", o->min_time);
    bj_str(j, "clock", "host CLOCK_MONOTONIC around a batch, synchronised by read_slots before and after");
    bj_end_obj(j);
    return 0;
}

static inline int bench_json_end(bench_json *j)
{
    if (!j->f) return 0;
    bj_end_obj(j);
    fputc('\n', j->f);
    int bad = ferror(j->f);
    if (fclose(j->f) || bad) {
        fprintf(stderr, "bench: writing the JSON file failed\n");
        return 1;
    }
    j->f = NULL;
    return 0;
}

#endif
