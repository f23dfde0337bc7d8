/* bench_common.h: shared pieces of the benchmark binaries (header only: the Makefile
 * compiles each bench source on its own). Command-line flags common to every benchmark,
 * backend creation, batched timing on the library's clock with dln_synchronize as the
 * synchronisation point, order statistics (median, quartiles, min, max), and (in
 * bench_json.h) the result file on the library's JSON writer with the machine description
 * (host, CPU, device, date, git commit) every result file carries. The benchmarks see
 * the public API (include/dln/) and the host oracles (src/oracle/) only. */
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
#include "oracle.h"

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

#include "bench_flags.h" /* the table-driven flag parser: needs bench_opts */

/* ---- backend ---------------------------------------------------------------------------- */

/* Creates the backend asked for (tf32 where the backend has it) and prints the line
 * naming benchmark, backend, precision and devices. Returns 0, or the exit status. */
static inline int bench_backend(const char *name, const bench_opts *o, dln_error *err, dln_backend **be)
{
    const char *note = NULL;
    dln_error_clear(err);
    if (dln_backend_create(o->backend, err, be, &note)) {
        fprintf(stderr, "%s: --backend: %s\n", name, err->msg);
        return err->code == DLN_EINPUT ? 2 : 1;
    }
    if (note) fprintf(stderr, "%s: note: %s\n", name, note);
    if (dln_backend_set_math(*be, o->math)) {
        fprintf(stderr, "%s: --precision %s: %s\n", name, o->precision, err->msg);
        dln_backend_destroy(*be);
        *be = NULL;
        return 2;
    }
    char dev[256];
    dln_devices_describe(dev, sizeof dev);
    printf("%s: backend %s, precision %s, devices: %s\n", name, dln_backend_name(*be), o->precision, dev);
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
/* The square loss's training problem from a shallow solution (dln_shallow_problem): what
 * the benchmarks' runs are fitted to and measured against. */
typedef struct {
    dln_fit fit;
    dln_reference ref;
} bench_problem;

static inline int bench_problem_make(const dln_shallow *sh, const dln_data *d, bench_problem *p, dln_error *err)
{
    return dln_shallow_problem(sh, d, &p->fit, &p->ref, err);
}

static inline void bench_problem_free(bench_problem *p) { dln_reference_free(&p->ref); }

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

/* ||x - ref||_F / ||ref||_F over n entries (||x||_F where ref is 0; NaN anywhere: NaN). */
static inline double bench_rel_fro(const double *x, const double *ref, size_t n)
{
    double num = 0, den = 0;
    for (size_t e = 0; e < n; e++) num += (x[e] - ref[e]) * (x[e] - ref[e]), den += ref[e] * ref[e];
    return sqrt(num / (den > 0 ? den : 1.0));
}

#include "bench_json.h" /* the result file and machine description: needs the above */

#endif
