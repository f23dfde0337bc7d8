/* bench_flags.h: the benchmarks' command-line parser, driven by a table of flag specs
 * (header only; included by bench_common.h after bench_opts). Each benchmark lists its
 * own flags; the common ones (--backend, --precision, --json, --reps, --warmup,
 * --min-time, --seed, --help) are parsed for all. "--name VALUE" and "--name=VALUE" are
 * both accepted; a bad or missing value is one "bench:" line and exit status 2. */
#ifndef DLN_BENCH_FLAGS_H
#define DLN_BENCH_FLAGS_H

typedef enum {
    BF_SWITCH,    /* no value: sets *(int *)dst to 1, or to 0 when hi < 0 (--no-... switches) */
    BF_INT,       /* int in [lo, hi] */
    BF_LONG,      /* long in [lo, hi] */
    BF_DOUBLE,    /* finite double in [lo, hi] */
    BF_INTS,      /* comma-separated ints in [lo, hi]: dst int[max], count in *n */
    BF_DOUBLES,   /* comma-separated doubles in [lo, hi]: dst double[max], count in *n */
    BF_INIT,      /* an initialisation name: dst dln_init_kind */
    BF_STRING,    /* the text itself: dst const char * */
    BF_BACKEND,   /* cpu, cuda or auto: dst bench_opts */
    BF_PRECISION, /* fp64, fp32 or tf32: dst bench_opts */
} bench_flag_kind;

typedef struct {
    const char *name; /* "--widths" */
    bench_flag_kind kind;
    void *dst;
    double lo, hi;
    int max, *n; /* lists only */
} bench_flag_spec;

/* One number in [lo, hi] (an integer when integer is set) from s. */
static inline int bench_number(const char *flag, const char *s, double lo, double hi, int integer, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi || (integer && v != floor(v))) {
        fprintf(stderr, "bench: %s: expected %s in [%g, %g], got '%s'\n", flag, integer ? "an integer" : "a number",
                lo, hi, s);
        return 2;
    }
    *out = v;
    return 0;
}

/* A comma-separated list of numbers into f's int or double array. */
static inline int bench_list(const bench_flag_spec *f, const char *v)
{
    *f->n = 0;
    for (const char *p = v; *p || *f->n == 0;) {
        char tok[64];
        double x;
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof tok || *f->n >= f->max) {
            fprintf(stderr, "bench: %s: expected up to %d comma-separated values, got '%s'\n", f->name, f->max, v);
            return 2;
        }
        memcpy(tok, p, len);
        tok[len] = 0;
        if (bench_number(f->name, tok, f->lo, f->hi, f->kind == BF_INTS, &x)) return 2;
        if (f->kind == BF_INTS) ((int *)f->dst)[(*f->n)++] = (int)x;
        else ((double *)f->dst)[(*f->n)++] = x;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* The backend or precision named by v into o. */
static inline int bench_named(const bench_flag_spec *f, const char *v, bench_opts *o)
{
    if (f->kind == BF_BACKEND) {
        if (!strcmp(v, "cpu")) o->backend = DLN_BACKEND_CPU;
        else if (!strcmp(v, "cuda")) o->backend = DLN_BACKEND_CUDA;
        else if (!strcmp(v, "auto")) o->backend = DLN_BACKEND_AUTO;
        else return fprintf(stderr, "bench: --backend: expected cpu, cuda or auto, got '%s'\n", v), 2;
        return 0;
    }
    o->precision = v;
    if (!strcmp(v, "fp64")) o->dtype = DLN_F64, o->math = DLN_MATH_DEFAULT;
    else if (!strcmp(v, "fp32")) o->dtype = DLN_F32, o->math = DLN_MATH_DEFAULT;
    else if (!strcmp(v, "tf32")) o->dtype = DLN_F32, o->math = DLN_MATH_TF32;
    else return fprintf(stderr, "bench: --precision: expected fp64, fp32 or tf32, got '%s'\n", v), 2;
    return 0;
}

/* The value of one spec from text v. */
static inline int bench_set(const bench_flag_spec *f, const char *v)
{
    double x;
    switch (f->kind) {
    case BF_INT:
    case BF_LONG:
    case BF_DOUBLE:
        if (bench_number(f->name, v, f->lo, f->hi, f->kind != BF_DOUBLE, &x)) return 2;
        if (f->kind == BF_INT) *(int *)f->dst = (int)x;
        else if (f->kind == BF_LONG) *(long *)f->dst = (long)x;
        else *(double *)f->dst = x;
        return 0;
    case BF_INTS:
    case BF_DOUBLES:
        return bench_list(f, v);
    case BF_INIT:
        if (!dln_init_parse(v, f->dst)) return 0;
        fprintf(stderr, "bench: %s: expected gaussian, orthogonal, identity or balanced, got '%s'\n", f->name, v);
        return 2;
    case BF_STRING:
        *(const char **)f->dst = v;
        return 0;
    case BF_BACKEND:
    case BF_PRECISION:
        return bench_named(f, v, f->dst);
    default:
        return 2;
    }
}

/* The spec named by argument a (its first len characters), or NULL. */
static inline const bench_flag_spec *bench_find(const bench_flag_spec *t, const char *a, size_t len)
{
    for (; t->name; t++)
        if (strlen(t->name) == len && !strncmp(t->name, a, len)) return t;
    return NULL;
}

/* Parses argv against the benchmark's specs (terminated by a NULL name) and the common
 * flags. Returns 0 to go on, 1 after --help (usage printed), 2 on a bad argument. */
static inline int bench_parse_args(int argc, char **argv, const bench_flag_spec *specs, bench_opts *o,
                                   void (*usage)(void))
{
    long seed = (long)o->seed;
    const bench_flag_spec common[] = {
        {"--backend", BF_BACKEND, o, 0, 0, 0, NULL},
        {"--precision", BF_PRECISION, o, 0, 0, 0, NULL},
        {"--json", BF_STRING, &o->json_path, 0, 0, 0, NULL},
        {"--reps", BF_INT, &o->reps, 1, 100000, 0, NULL},
        {"--warmup", BF_INT, &o->warmup, 0, 100000, 0, NULL},
        {"--min-time", BF_DOUBLE, &o->min_time, 0, 3600, 0, NULL},
        {"--seed", BF_LONG, &seed, 0, 9007199254740992.0, 0, NULL},
        {NULL, 0, NULL, 0, 0, 0, NULL},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        if (!strcmp(a, "--help")) return usage(), 1;
        const bench_flag_spec *f = bench_find(specs, a, len);
        if (!f) f = bench_find(common, a, len);
        if (!f) return fprintf(stderr, "bench: unknown option '%s' (see --help)\n", a), 2;
        if (f->kind == BF_SWITCH) {
            if (eq) return fprintf(stderr, "bench: %s takes no value\n", f->name), 2;
            *(int *)f->dst = f->hi >= 0;
            continue;
        }
        const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
        if (!v) return fprintf(stderr, "bench: %s needs a value\n", f->name), 2;
        if (bench_set(f, v)) return 2;
    }
    o->seed = (uint64_t)seed;
    return 0;
}

#endif
