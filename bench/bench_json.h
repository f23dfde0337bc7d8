/* bench_json.h: the benchmark result files, built with the library's JSON writer
 * (dln/json.h) and written whole at the end when --json asks for one, with the "machine"
 * object every result file carries (host, CPU, OpenBLAS, backend and devices, date, git
 * commit). Header only; included at the end of bench_common.h, whose types it uses. */
#ifndef DLN_BENCH_JSON_H
#define DLN_BENCH_JSON_H

/* ---- result files --------------------------------------------------------------------- */

/* A timing's order statistics as an object. */
static inline void bj_stats(dln_json *j, const char *key, const bench_timing *t)
{
    dln_json_object(j, key);
    dln_json_num(j, "median_s", t->s.median);
    dln_json_num(j, "min_s", t->s.min);
    dln_json_num(j, "max_s", t->s.max);
    dln_json_num(j, "q1_s", t->s.q1);
    dln_json_num(j, "q3_s", t->s.q3);
    dln_json_num(j, "mean_s", t->s.mean);
    dln_json_int(j, "reps", t->reps);
    dln_json_int(j, "calls_per_rep", t->batch);
    dln_json_end_object(j);
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
static inline void bench_json_machine(dln_json *j, const dln_backend *be, const bench_opts *o)
{
    char buf[512], dev[512];
    struct utsname u;
    dln_json_object(j, "machine");
    if (!uname(&u)) {
        dln_json_str(j, "hostname", u.nodename);
        dln_json_str(j, "os", u.sysname);
        dln_json_str(j, "kernel", u.release);
        dln_json_str(j, "arch", u.machine);
    }
    bench_cpu_model(buf, sizeof buf);
    dln_json_str(j, "cpu_model", buf);
    dln_json_int(j, "cpu_cores_online", sysconf(_SC_NPROCESSORS_ONLN));
    dln_json_int(j, "openblas_threads", openblas_get_num_threads());
    dln_json_str(j, "openblas_config", openblas_get_config());
    dln_json_str(j, "backend", be ? dln_backend_name(be) : "none");
    dln_json_str(j, "precision", o->precision);
    dln_json_str(j, "backends_compiled", dln_backends_compiled());
    dln_devices_describe(dev, sizeof dev);
    dln_json_str(j, "devices", dev);
    time_t t = time(NULL);
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    dln_json_str(j, "date_utc", buf);
    /* DLN_COMMIT names the commit where the tree travelled without .git (a GPU machine) */
    const char *commit = getenv("DLN_COMMIT");
    if (commit && *commit) snprintf(buf, sizeof buf, "%s", commit);
    else bench_cmd_line("git rev-parse HEAD 2>/dev/null", buf, sizeof buf);
    dln_json_str(j, "git_commit", buf);
    /* dirty: the sources differ from the commit (changed or untracked files) */
    bench_cmd_line("git rev-parse --git-dir >/dev/null 2>&1 && { test -z \"$(git status --porcelain -- Makefile src "
                   "include bench scripts tests 2>/dev/null)\" && echo clean || echo dirty; }",
                   buf, sizeof buf);
    dln_json_str(j, "git_tree", buf);
    dln_json_str(j, "dln_version", DLN_VERSION);
    dln_json_end_object(j);
}

/* Starts the result document with its header members. */
static inline void bench_json_begin(dln_json *j, const char *name, const dln_backend *be, const bench_opts *o,
                                    int argc, char **argv)
{
    dln_json_init(j);
    dln_json_object(j, NULL);
    dln_json_str(j, "benchmark", name);
    dln_json_array(j, "argv");
    for (int i = 0; i < argc; i++) dln_json_str(j, NULL, argv[i]);
    dln_json_end_array(j);
    bench_json_machine(j, be, o);
    dln_json_object(j, "timing");
    dln_json_int(j, "reps", o->reps);
    dln_json_int(j, "warmup", o->warmup);
    dln_json_num(j, "min_time_s", o->min_time);
    dln_json_str(j, "clock", "host CLOCK_MONOTONIC around a batch, dln_synchronize before and after");
    dln_json_end_object(j);
}

/* Closes the document with "ok": ok and writes it whole to --json FILE when one was given;
 * returns 1 when writing failed. */
static inline int bench_json_end(dln_json *j, const bench_opts *o, int ok)
{
    dln_json_bool(j, "ok", ok);
    dln_json_end_object(j);
    dln_json_newline(j);
    const char *text = dln_json_text(j);
    int rc = 0;
    if (o->json_path) {
        FILE *f = fopen(o->json_path, "w");
        rc = !text || !f || fputs(text, f) == EOF;
        if (f && fclose(f)) rc = 1;
        if (rc) fprintf(stderr, "bench: --json %s: writing the result file failed\n", o->json_path);
    }
    dln_json_free(j);
    return rc;
}

#endif
