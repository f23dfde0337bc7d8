/* bench_common.h: shared pieces of the benchmark binaries (header only: the Makefile
 * compiles each bench source on its own). Command-line flags common to every benchmark,
 * backend creation, batched timing on the library's clock with dln_synchronize as the
 * synchronisation point, order statistics (median, quartiles, min, max), and (in
 * bench_json.h) the result file on the library's JSON writer with the machine description
 * (host, CPU, device, date, git commit) every result file carries. The benchmarks see
 * the public API (include/dln/) and the host oracles (src/reference/) only. */
#ifndef DLN_BENCH_COMMON_H
#define DLN_BENCH_COMMON_H

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>


#include "dln/dln.h"
#include "reference.h"

/* ---- statistics ------------------------------------------------------------------- */

typedef struct {
    int n;
    double median, min, max, q1, q3, mean;
} bench_stats;

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between order statistics (numpy's default percentile). */
static inline double bench_quantile(const double *sorted, int n, double q)
{
    if (n <= 0) return NAN;
    double pos = q * (n - 1);
    int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

static inline bench_stats bench_stats_of(const double *x, int n)
{
    bench_stats s = {n, NAN, NAN, NAN, NAN, NAN, NAN};
    double *t = n > 0 ? malloc(sizeof(double) * (size_t)n) : NULL;
    if (!t) return s;
    memcpy(t, x, sizeof(double) * (size_t)n);
    qsort(t, (size_t)n, sizeof(double), bench_cmp_double);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += t[i];
    s.min = t[0];
    s.max = t[n - 1];
    s.median = bench_quantile(t, n, 0.5);
    s.q1 = bench_quantile(t, n, 0.25);
    s.q3 = bench_quantile(t, n, 0.75);
    s.mean = sum / n;
    free(t);
    return s;
}

/* ---- command-line flags --------------------------------------------------------------- */

typedef struct {
    dln_backend_kind backend;
    dln_dtype dtype;
    dln_math_mode math;
    const char *precision; /* fp64, fp32 or tf32 */
    const char *json_path; /* --json FILE, or NULL */
    int reps;              /* timed repetitions (batches) */
    int warmup;            /* untimed calls before calibration */
    double min_time;       /* seconds one timed batch lasts at least */
    uint64_t seed;
} bench_opts;

static inline void bench_opts_default(bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->backend = DLN_BACKEND_AUTO;
    o->dtype = DLN_F64;
    o->math = DLN_MATH_DEFAULT;
    o->precision = "fp64";
    o->reps = 7;
    o->warmup = 3;
    o->min_time = 0.05;
    o->seed = 1;
}

static inline void bench_common_help(FILE *f)
{
    fputs(
    "Common options:\n"
    "  --backend cpu|cuda|auto   backend (default auto: cuda when a device is present)\n"
    "  --precision fp64|fp32|tf32  storage/GEMM precision of the trained network (default fp64;\n"
    "                            tf32 is fp32 with TF32 tensor-core GEMMs, cuda only)\n"
    "  --reps N                  timed repetitions; median and spread are over these (default 7)\n"
    "  --warmup N                untimed calls before timing (default 3)\n"
    "  --min-time S              each timed repetition runs a batch of calls lasting >= S seconds\n"
    "                            (default 0.05)\n"
    "  --seed N                  seed of the data and weights (default 1)\n"
    "  --json FILE               also write the results as JSON to FILE\n"
    "  --help                    this text\n",
        f);
}

/* Value of the flag at argv[*i]: "--name VALUE" or "--name=VALUE". Returns NULL when
 * argv[*i] is not this flag; *missing is set when the value is absent. */
static inline const char *bench_flag(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n)) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n]) return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static inline int bench_parse_int(const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "bench: %s: expected an integer in [%ld, %ld], got '%s'\n", flag, lo, hi, s);
        return 2;
    }
    *out = v;
    return 0;
}

static inline int bench_parse_double(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "bench: %s: expected a number in [%g, %g], got '%s'\n", flag, lo, hi, s);
        return 2;
    }
    *out = v;
    return 0;
}

/* "64,256,1024" into at most max ints in [lo, hi]. */
static inline int bench_parse_ints(const char *flag, const char *s, int lo, int hi, int *out, int max, int *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char tok[32];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof tok || *n >= max) {
            fprintf(stderr, "bench: %s: expected up to %d comma-separated integers, got '%s'\n", flag, max, s);
            return 2;
        }
        memcpy(tok, p, len);
        tok[len] = 0;
        long v;
        if (bench_parse_int(flag, tok, lo, hi, &v)) return 2;
        out[(*n)++] = (int)v;
        p += len;
        if (*p == ',') p++;
    }
    if (*n == 0) {
        fprintf(stderr, "bench: %s: empty list\n", flag);
        return 2;
    }
    return 0;
}

static inline int bench_parse_doubles(const char *flag, const char *s, double lo, double hi, double *out, int max,
                                      int *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char tok[64];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof tok || *n >= max) {
            fprintf(stderr, "bench: %s: expected up to %d comma-separated numbers, got '%s'\n", flag, max, s);
            return 2;
        }
        memcpy(tok, p, len);
        tok[len] = 0;
        if (bench_parse_double(flag, tok, lo, hi, &out[*n])) return 2;
        (*n)++;
        p += len;
        if (*p == ',') p++;
    }
    return *n ? 0 : 2;
}

/* "--name VALUE" flags with a range check: 1 when argv[*i] is this flag (then *bad is set
 * on a bad or missing value, after a message), else 0. */
static inline int bench_long_flag(int argc, char **argv, int *i, const char *name, long lo, long hi, long *dst,
                                  int *bad)
{
    int missing = 0;
    const char *v = bench_flag(argc, argv, i, name, &missing);
    if (missing) return fprintf(stderr, "bench: %s needs a value\n", name), *bad = 1, 1;
    if (!v) return 0;
    if (bench_parse_int(name, v, lo, hi, dst)) *bad = 1;
    return 1;
}

static inline int bench_int_flag(int argc, char **argv, int *i, const char *name, int lo, int hi, int *dst, int *bad)
{
    long l = *dst;
    int r = bench_long_flag(argc, argv, i, name, lo, hi, &l, bad);
    if (r && !*bad) *dst = (int)l;
    return r;
}

static inline int bench_double_flag(int argc, char **argv, int *i, const char *name, double lo, double hi,
                                    double *dst, int *bad)
{
    int missing = 0;
    const char *v = bench_flag(argc, argv, i, name, &missing);
    if (missing) return fprintf(stderr, "bench: %s needs a value\n", name), *bad = 1, 1;
    if (!v) return 0;
    if (bench_parse_double(name, v, lo, hi, dst)) *bad = 1;
    return 1;
}

/* Consumes a common flag at argv[*i]. Returns 1 when consumed, 0 when argv[*i] is not
 * a common flag, 2 on a bad value. */
static inline int bench_common_flag(int argc, char **argv, int *i, bench_opts *o)
{
    int missing = 0, bad = 0;
    long seed = (long)o->seed;
    const char *v;
    if ((v = bench_flag(argc, argv, i, "--backend", &missing))) {
        if (!strcmp(v, "cpu")) o->backend = DLN_BACKEND_CPU;
        else if (!strcmp(v, "cuda")) o->backend = DLN_BACKEND_CUDA;
        else if (!strcmp(v, "auto")) o->backend = DLN_BACKEND_AUTO;
        else return fprintf(stderr, "bench: --backend: expected cpu, cuda or auto, got '%s'\n", v), 2;
        return 1;
    }
    if ((v = bench_flag(argc, argv, i, "--precision", &missing))) {
        o->precision = v;
        if (!strcmp(v, "fp64")) o->dtype = DLN_F64, o->math = DLN_MATH_DEFAULT;
        else if (!strcmp(v, "fp32")) o->dtype = DLN_F32, o->math = DLN_MATH_DEFAULT;
        else if (!strcmp(v, "tf32")) o->dtype = DLN_F32, o->math = DLN_MATH_TF32;
        else return fprintf(stderr, "bench: --precision: expected fp64, fp32 or tf32, got '%s'\n", v), 2;
        return 1;
    }
    if ((v = bench_flag(argc, argv, i, "--json", &missing))) return o->json_path = v, 1;
    if (missing) return fprintf(stderr, "bench: %s needs a value\n", argv[*i]), 2;
    if (bench_int_flag(argc, argv, i, "--reps", 1, 100000, &o->reps, &bad) ||
        bench_int_flag(argc, argv, i, "--warmup", 0, 100000, &o->warmup, &bad) ||
        bench_double_flag(argc, argv, i, "--min-time", 0, 3600, &o->min_time, &bad) ||
        bench_long_flag(argc, argv, i, "--seed", 0, __LONG_MAX__, &seed, &bad)) {
        o->seed = (uint64_t)seed;
        return bad ? 2 : 1;
    }
    return 0;
}

/* ---- backend ---------------------------------------------------------------------------- */

/* Creates the backend asked for; tf32 is refused off cuda. Returns 0 or exits-worthy 1/2. */
static inline int bench_backend(const bench_opts *o, dln_error *err, dln_backend **be)
{
    const char *note = NULL;
    if (dln_backend_create(o->backend, err, be, &note)) {
        fprintf(stderr, "bench: %s\n", err->msg);
        return err->code == DLN_EINPUT ? 2 : 1;
    }
    if (note) fprintf(stderr, "bench: note: %s\n", note);
    if (dln_backend_set_math(*be, o->math)) {
        fprintf(stderr, "bench: --precision %s: %s\n", o->precision, err->msg);
        dln_backend_destroy(*be);
        *be = NULL;
        return 2;
    }
    return 0;
}

/* ---- batched timing --------------------------------------------------------------------- */

/* One call of the timed operation; it may queue work asynchronously. */
typedef int (*bench_fn)(void *ctx);

typedef struct {
    bench_stats s; /* seconds per call, over the repetitions */
    long batch;    /* calls per timed repetition */
    int reps;
} bench_timing;

/* Warm-up calls, then a batch size such that one batch lasts >= min_time. */
static inline int bench_calibrate(dln_backend *be, bench_fn fn, void *ctx, const bench_opts *o, long *batch)
{
    for (int w = 0; w < o->warmup; w++)
        if (fn(ctx)) return 1;
    if (dln_synchronize(be)) return 1;
    long n = 1;
    double dt = 0;
    for (;;) { /* double until a batch lasts a tenth of min_time */
        double t0 = dln_clock_seconds();
        for (long k = 0; k < n; k++)
            if (fn(ctx)) return 1;
        if (dln_synchronize(be)) return 1;
        dt = dln_clock_seconds() - t0;
        if (dt >= 0.1 * o->min_time || n >= (1L << 24)) break;
        n *= 2;
    }
    long b = dt >= o->min_time ? n : (long)ceil((double)n * o->min_time / (dt > 1e-9 ? dt : 1e-9));
    *batch = b < 1 ? 1 : b > (1L << 26) ? 1L << 26 : b;
    return 0;
}

/* One timed batch: host clock between two dln_synchronize; seconds per call. */
static inline int bench_batch(dln_backend *be, bench_fn fn, void *ctx, long batch, double *per_call)
{
    if (dln_synchronize(be)) return 1;
    double t0 = dln_clock_seconds();
    for (long k = 0; k < batch; k++)
        if (fn(ctx)) return 1;
    if (dln_synchronize(be)) return 1;
    *per_call = (dln_clock_seconds() - t0) / (double)batch;
    return 0;
}

/* Times fn and, when fn2 is not NULL, fn2 too, their batches interleaved (A B A B ...)
 * so that drifts and neighbours' load on the machine touch both alike. Each batch's
 * per-call time is one sample; out2 may be NULL when fn2 is. */
static inline int bench_time2(dln_backend *be, bench_fn fn, void *ctx, bench_fn fn2, void *ctx2, const bench_opts *o,
                              bench_timing *out, bench_timing *out2)
{
    memset(out, 0, sizeof *out);
    if (out2) memset(out2, 0, sizeof *out2);
    long b1 = 0, b2 = 0;
    if (bench_calibrate(be, fn, ctx, o, &b1) || (fn2 && bench_calibrate(be, fn2, ctx2, o, &b2))) return 1;
    double *per = malloc(sizeof(double) * 2 * (size_t)o->reps);
    if (!per) return 1;
    for (int r = 0; r < o->reps; r++)
        if (bench_batch(be, fn, ctx, b1, &per[r]) || (fn2 && bench_batch(be, fn2, ctx2, b2, &per[o->reps + r])))
            return free(per), 1;
    out->s = bench_stats_of(per, o->reps);
    out->batch = b1;
    out->reps = o->reps;
    if (fn2 && out2) {
        out2->s = bench_stats_of(per + o->reps, o->reps);
        out2->batch = b2;
        out2->reps = o->reps;
    }
    free(per);
    return 0;
}

static inline int bench_time(dln_backend *be, bench_fn fn, void *ctx, const bench_opts *o, bench_timing *out)
{
    return bench_time2(be, fn, ctx, NULL, NULL, o, out, NULL);
}

/* Times a blocking call (one that returns when its work is done, like gesvd or
 * dln_shallow_solve) `reps` times after `warmup` calls, each sample its own call;
 * prep (may be NULL) runs untimed before each call. */
static inline int bench_time_each(dln_backend *be, bench_fn prep, bench_fn fn, void *ctx, const bench_opts *o,
                                  bench_timing *out)
{
    memset(out, 0, sizeof *out);
    double *per = malloc(sizeof(double) * (size_t)o->reps);
    if (!per) return 1;
    for (int r = -o->warmup; r < o->reps; r++) {
        if ((prep && prep(ctx)) || dln_synchronize(be)) return free(per), 1;
        double t0 = dln_clock_seconds();
        if (fn(ctx) || dln_synchronize(be)) return free(per), 1;
        if (r >= 0) per[r] = dln_clock_seconds() - t0;
    }
    out->s = bench_stats_of(per, o->reps);
    out->batch = 1;
    out->reps = o->reps;
    free(per);
    return 0;
}

/* ---- host helpers ---------------------------------------------------------------------- */

/* n normals from a dedicated stream of the seed. */
static inline double *bench_normals(size_t n, uint64_t seed, uint64_t stream)
{
    double *x = malloc(sizeof(double) * (n ? n : 1));
    if (!x) return NULL;
    dln_rng r;
    dln_rng_seed(&r, seed, stream);
    for (size_t i = 0; i < n; i++) x[i] = dln_rng_normal(&r);
    return x;
}

/* |a - b| / max(|a|, |b|) (0 when both are 0). */
static inline double bench_rel(double a, double b)
{
    double s = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return s > 0 ? fabs(a - b) / s : 0.0;
}

#include "bench_json.h" /* the result file and machine description: needs the above */

#endif
