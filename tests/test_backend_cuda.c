/* test_backend_cuda.c: the CUDA backend against its twin, the CPU backend. Every
 * operation runs on both backends on the same fresh random inputs (drand48, seeded
 * from the clock, or from DLN_TEST_SEED; the seed is in every failure message), for
 * both dtypes, on views whose leading dimension exceeds their rows; whole parent
 * matrices are compared, so a write outside a view is caught too.
 * Tolerances (relative, Frobenius norm): fp64 1e-13 and fp32 1e-5 for upload/download,
 * copy, transpose, gemm, axpby; 1e-12 for sumsq slots (fp64 accumulation), singular
 * values (max |ds| / s_max), SVD reconstruction and orthogonality; 5e-3 for TF32 gemm.
 * Tests that need a GPU skip ("no CUDA device"), never pass, where none is usable. */
#include <criterion/criterion.h>

#include "dln_backend.h"

#ifdef DLN_HAVE_CUDA

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOL64 1e-13
#define TOL32 1e-5
#define TOL_ACC 1e-12

static dln_error cu_cerr, cu_gerr;
static dln_backend *cu_cpu, *cu_gpu;
static unsigned long cu_seed;

#define CPU_OK(call) cr_assert_eq((call), DLN_OK, "cpu: %s: %s", #call, cu_cerr.msg)
#define GPU_OK(call) cr_assert_eq((call), DLN_OK, "cuda: %s: %s", #call, cu_gerr.msg)

static double cu_tol(dln_dtype t) { return t == DLN_F64 ? TOL64 : TOL32; }

/* Every GPU test starts here: skip without a device, else seed and create both backends. */
static void cu_open(void)
{
    if (!dln_cuda_available()) cr_skip("no CUDA device");
    const char *env = getenv("DLN_TEST_SEED");
    cu_seed = env ? strtoul(env, NULL, 10) : ((unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16));
    srand48((long)cu_seed);
    dln_error_clear(&cu_cerr);
    dln_error_clear(&cu_gerr);
    CPU_OK(dln_backend_cpu_create(&cu_cerr, &cu_cpu));
    GPU_OK(dln_backend_cuda_create(&cu_gerr, &cu_gpu));
}

static void cu_close(void)
{
    dln_backend_destroy(cu_gpu);
    dln_backend_destroy(cu_cpu);
    cu_gpu = cu_cpu = NULL;
}

TestSuite(cuda, .fini = cu_close);

static double *cu_rand(size_t n)
{
    double *h = malloc(sizeof(double) * (n ? n : 1));
    cr_assert_not_null(h);
    for (size_t i = 0; i < n; i++) h[i] = 2.0 * drand48() - 1.0;
    return h;
}

/* ||a - b||_F / ||b||_F over n packed values (0 when both are zero). */
static double cu_rel(const double *a, const double *b, size_t n)
{
    double d = 0.0, r = 0.0;
    for (size_t i = 0; i < n; i++) {
        d += (a[i] - b[i]) * (a[i] - b[i]);
        r += b[i] * b[i];
    }
    return r > 0.0 ? sqrt(d / r) : sqrt(d);
}

#define CHECK_REL(err, tol, what)                                                              \
    cr_assert((err) <= (tol), "%s: relative error %.3e > %.1e (rerun: DLN_TEST_SEED=%lu)", \
              (what), (err), (tol), cu_seed)

/* The same (rows, cols) matrix on both backends. With pad > 0 it is the view at (pad, 1)
 * of a (rows + 2 pad, cols + 2) parent, so ld > rows; the parent is random throughout. */
typedef struct {
    dln_mat pc, pg; /* parents (owned) */
    dln_mat c, g;   /* the matrices the tests use (views when padded) */
} cu_pair;

static void cu_pair_make(cu_pair *p, int rows, int cols, dln_dtype t, int pad)
{
    int pr = rows + 2 * pad, pcols = cols + (pad ? 2 : 0);
    CPU_OK(cu_cpu->ops->alloc(cu_cpu, &p->pc, pr, pcols, t));
    GPU_OK(cu_gpu->ops->alloc(cu_gpu, &p->pg, pr, pcols, t));
    double *h = cu_rand((size_t)pr * (size_t)pcols);
    CPU_OK(cu_cpu->ops->upload(cu_cpu, &p->pc, h, pr));
    GPU_OK(cu_gpu->ops->upload(cu_gpu, &p->pg, h, pr));
    free(h);
    p->c = pad ? dln_mat_view(&p->pc, pad, 1, rows, cols) : p->pc;
    p->g = pad ? dln_mat_view(&p->pg, pad, 1, rows, cols) : p->pg;
}

static void cu_pair_free(cu_pair *p)
{
    cu_cpu->ops->free(cu_cpu, &p->pc);
    cu_gpu->ops->free(cu_gpu, &p->pg);
}

/* Downloads a backend matrix into a fresh packed host array (ld = rows). */
static double *cu_get(dln_backend *be, const dln_mat *m)
{
    double *h = malloc(sizeof(double) * (size_t)(m->rows > 0 ? m->rows : 1) * (size_t)(m->cols > 0 ? m->cols : 1));
    cr_assert_not_null(h);
    int rc = be->ops->download(be, m, h, m->rows > 0 ? m->rows : 1);
    cr_assert_eq(rc, DLN_OK, "%s download: %s", be->ops->name, be->err->msg);
    return h;
}

/* Relative error of the GPU parent against the CPU parent. */
static double cu_pair_err(const cu_pair *p)
{
    double *c = cu_get(cu_cpu, &p->pc), *g = cu_get(cu_gpu, &p->pg);
    double e = cu_rel(g, c, (size_t)p->pc.rows * (size_t)p->pc.cols);
    free(c);
    free(g);
    return e;
}

static const dln_dtype cu_types[2] = {DLN_F64, DLN_F32};

Test(cuda, upload_download_roundtrip)
{
    cu_open();
    for (int t = 0; t < 2; t++) {
        int rows = 19, cols = 11, lds = rows + 5, ldd = rows + 2;
        cu_pair p;
        cu_pair_make(&p, rows, cols, cu_types[t], 3);
        double *src = cu_rand((size_t)lds * (size_t)cols);
        double *dc = calloc((size_t)ldd * (size_t)cols, sizeof(double));
        double *dg = calloc((size_t)ldd * (size_t)cols, sizeof(double));
        double *ref = calloc((size_t)ldd * (size_t)cols, sizeof(double));
        CPU_OK(cu_cpu->ops->upload(cu_cpu, &p.c, src, lds));
        GPU_OK(cu_gpu->ops->upload(cu_gpu, &p.g, src, lds));
        CPU_OK(cu_cpu->ops->download(cu_cpu, &p.c, dc, ldd));
        GPU_OK(cu_gpu->ops->download(cu_gpu, &p.g, dg, ldd));
        for (int j = 0; j < cols; j++)
            for (int i = 0; i < rows; i++) ref[i + (size_t)j * ldd] = src[i + (size_t)j * lds];
        size_t n = (size_t)ldd * (size_t)cols;
        CHECK_REL(cu_rel(dg, ref, n), cu_tol(cu_types[t]), "download(upload(x)) vs x");
        CHECK_REL(cu_rel(dg, dc, n), cu_tol(cu_types[t]), "round trip vs cpu");
        CHECK_REL(cu_pair_err(&p), cu_tol(cu_types[t]), "parent after upload into a view");
        free(src);
        free(dc);
        free(dg);
        free(ref);
        cu_pair_free(&p);
    }
}

Test(cuda, copy_views)
{
    cu_open();
    for (int t = 0; t < 2; t++) {
        cu_pair a, b;
        cu_pair_make(&a, 23, 9, cu_types[t], 2);
        cu_pair_make(&b, 23, 9, cu_types[t], 1);
        CPU_OK(cu_cpu->ops->copy(cu_cpu, &b.c, &a.c));
        GPU_OK(cu_gpu->ops->copy(cu_gpu, &b.g, &a.g));
        CHECK_REL(cu_pair_err(&b), cu_tol(cu_types[t]), "copy");
        cu_pair_free(&a);
        cu_pair_free(&b);
    }
}

Test(cuda, transpose_wide)
{
    cu_open();
    for (int t = 0; t < 2; t++) {
        cu_pair s, d;
        cu_pair_make(&s, 5, 37, cu_types[t], 2);
        cu_pair_make(&d, 37, 5, cu_types[t], 1);
        double poison[37 * 5];
        for (int i = 0; i < 37 * 5; i++) poison[i] = NAN; /* beta = 0 must not read dst */
        CPU_OK(cu_cpu->ops->upload(cu_cpu, &d.c, poison, 37));
        GPU_OK(cu_gpu->ops->upload(cu_gpu, &d.g, poison, 37));
        CPU_OK(cu_cpu->ops->transpose(cu_cpu, &d.c, &s.c));
        GPU_OK(cu_gpu->ops->transpose(cu_gpu, &d.g, &s.g));
        CHECK_REL(cu_pair_err(&d), cu_tol(cu_types[t]), "transpose");
        cu_pair_free(&s);
        cu_pair_free(&d);
    }
}

Test(cuda, gemm_all_transposes)
{
    cu_open();
    const int m = 13, n = 7, k = 29;
    for (int t = 0; t < 2; t++) {
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                cu_pair a, b, c;
                cu_pair_make(&a, ta ? k : m, ta ? m : k, cu_types[t], 1);
                cu_pair_make(&b, tb ? n : k, tb ? k : n, cu_types[t], 2);
                cu_pair_make(&c, m, n, cu_types[t], 3);
                CPU_OK(cu_cpu->ops->gemm(cu_cpu, ta, tb, 0.75, &a.c, &b.c, -1.25, &c.c));
                GPU_OK(cu_gpu->ops->gemm(cu_gpu, ta, tb, 0.75, &a.g, &b.g, -1.25, &c.g));
                char what[64];
                snprintf(what, sizeof what, "gemm %s trans_a=%d trans_b=%d", dln_dtype_name(cu_types[t]), ta, tb);
                CHECK_REL(cu_pair_err(&c), cu_tol(cu_types[t]), what);
                cu_pair_free(&a);
                cu_pair_free(&b);
                cu_pair_free(&c);
            }
        }
    }
}

Test(cuda, gemm_shape_mismatch)
{
    cu_open();
    cu_pair a, b, c;
    cu_pair_make(&a, 4, 5, DLN_F64, 0);
    cu_pair_make(&b, 6, 3, DLN_F64, 0); /* inner dimensions 5 vs 6 */
    cu_pair_make(&c, 4, 3, DLN_F64, 0);
    int rc_cpu = cu_cpu->ops->gemm(cu_cpu, 0, 0, 1.0, &a.c, &b.c, 0.0, &c.c);
    int rc_gpu = cu_gpu->ops->gemm(cu_gpu, 0, 0, 1.0, &a.g, &b.g, 0.0, &c.g);
    cr_assert_eq(rc_gpu, DLN_ERUNTIME);
    cr_assert_eq(rc_gpu, rc_cpu, "the twins disagree: cpu %d, cuda %d", rc_cpu, rc_gpu);
    cr_assert_not_null(strstr(cu_gerr.msg, "gemm"), "message: %s", cu_gerr.msg);
    cu_pair_free(&a);
    cu_pair_free(&b);
    cu_pair_free(&c);
}

Test(cuda, gemm_tf32_then_default)
{
    cu_open();
    const int m = 64, n = 48, k = 256;
    cu_pair a, b, c;
    cu_pair_make(&a, m, k, DLN_F32, 1);
    cu_pair_make(&b, k, n, DLN_F32, 0);
    cu_pair_make(&c, m, n, DLN_F32, 2);
    cu_gpu->math_mode = DLN_MATH_TF32;
    CPU_OK(cu_cpu->ops->gemm(cu_cpu, 0, 0, 1.0, &a.c, &b.c, 0.0, &c.c));
    GPU_OK(cu_gpu->ops->gemm(cu_gpu, 0, 0, 1.0, &a.g, &b.g, 0.0, &c.g));
    CHECK_REL(cu_pair_err(&c), 5e-3, "gemm fp32 TF32");
    cu_gpu->math_mode = DLN_MATH_DEFAULT; /* must switch cuBLAS back to exact fp32 */
    cu_pair d;
    cu_pair_make(&d, k, k, DLN_F32, 0);
    CPU_OK(cu_cpu->ops->gemm(cu_cpu, 1, 0, 1.0, &a.c, &a.c, 0.0, &d.c));
    GPU_OK(cu_gpu->ops->gemm(cu_gpu, 1, 0, 1.0, &a.g, &a.g, 0.0, &d.g));
    CHECK_REL(cu_pair_err(&d), TOL32, "gemm fp32 after switching back from TF32");
    cu_pair_free(&a);
    cu_pair_free(&b);
    cu_pair_free(&c);
    cu_pair_free(&d);
}

Test(cuda, axpby_views)
{
    cu_open();
    for (int t = 0; t < 2; t++) {
        /* small views, and one past the kernel's grid cap (8192 x 256) for the stride loop */
        const int shapes[2][2] = {{17, 13}, {1501, 1499}};
        for (int s = 0; s < 2; s++) {
            cu_pair x, y;
            cu_pair_make(&x, shapes[s][0], shapes[s][1], cu_types[t], 2);
            cu_pair_make(&y, shapes[s][0], shapes[s][1], cu_types[t], 1);
            CPU_OK(cu_cpu->ops->axpby(cu_cpu, 0.6, &x.c, -1.7, &y.c));
            GPU_OK(cu_gpu->ops->axpby(cu_gpu, 0.6, &x.g, -1.7, &y.g));
            CHECK_REL(cu_pair_err(&y), cu_tol(cu_types[t]), "axpby");
            cu_pair_free(&x);
            cu_pair_free(&y);
        }
    }
}

Test(cuda, axpby_beta_zero_ignores_y)
{
    cu_open();
    const int rows = 8, cols = 6;
    cu_pair x;
    cu_pair_make(&x, rows, cols, DLN_F64, 0);
    dln_mat y;
    GPU_OK(cu_gpu->ops->alloc(cu_gpu, &y, rows, cols, DLN_F64));
    double *poison = malloc(sizeof(double) * rows * cols);
    for (int i = 0; i < rows * cols; i++) poison[i] = NAN;
    GPU_OK(cu_gpu->ops->upload(cu_gpu, &y, poison, rows));
    GPU_OK(cu_gpu->ops->axpby(cu_gpu, 2.5, &x.g, 0.0, &y));
    double *hx = cu_get(cu_gpu, &x.g), *hy = cu_get(cu_gpu, &y);
    for (int i = 0; i < rows * cols; i++) cr_assert_eq(hy[i], 2.5 * hx[i], "element %d: %g", i, hy[i]);
    free(poison);
    free(hx);
    free(hy);
    cu_gpu->ops->free(cu_gpu, &y);
    cu_pair_free(&x);
}

Test(cuda, sumsq_accumulate)
{
    cu_open();
    for (int t = 0; t < 2; t++) {
        cu_pair x, z;
        cu_pair_make(&x, 33, 17, cu_types[t], 2);
        cu_pair_make(&z, 601, 500, cu_types[t], 2); /* more elements than one grid pass */
        dln_mat ec = dln_mat_view(&x.c, 0, 0, 33, 0), eg = dln_mat_view(&x.g, 0, 0, 33, 0);
        double sc[DLN_NUM_SLOTS], sg[DLN_NUM_SLOTS], again[DLN_NUM_SLOTS];
        for (int b = 0; b < 2; b++) {
            dln_backend *be = b ? cu_gpu : cu_cpu;
            const dln_mat *X = b ? &x.g : &x.c, *Z = b ? &z.g : &z.c, *E = b ? &eg : &ec;
            cr_assert_eq(be->ops->sumsq(be, X, 2, 0), DLN_OK, "%s", be->err->msg);
            cr_assert_eq(be->ops->sumsq(be, Z, 2, 1), DLN_OK, "%s", be->err->msg);
            cr_assert_eq(be->ops->sumsq(be, Z, 5, 0), DLN_OK, "%s", be->err->msg);
            cr_assert_eq(be->ops->sumsq(be, X, 5, 0), DLN_OK, "%s", be->err->msg); /* overwrites */
            cr_assert_eq(be->ops->sumsq(be, Z, 3, 0), DLN_OK, "%s", be->err->msg);
            cr_assert_eq(be->ops->sumsq(be, E, 7, 0), DLN_OK, "%s", be->err->msg); /* empty: 0 */
            cr_assert_eq(be->ops->read_slots(be, b ? sg : sc, DLN_NUM_SLOTS), DLN_OK, "%s", be->err->msg);
        }
        /* reference straight from the downloaded values */
        double *hx = cu_get(cu_gpu, &x.g), *hz = cu_get(cu_gpu, &z.g), ssx = 0.0, ssz = 0.0;
        for (int i = 0; i < 33 * 17; i++) ssx += hx[i] * hx[i];
        for (int i = 0; i < 601 * 500; i++) ssz += hz[i] * hz[i];
        /* both backends square the same stored values in fp64: only the order differs */
        CHECK_REL(fabs(sg[2] - sc[2]) / sc[2], TOL_ACC, "sumsq slot 2 (accumulated) vs cpu");
        CHECK_REL(fabs(sg[5] - sc[5]) / sc[5], TOL_ACC, "sumsq slot 5 (overwritten) vs cpu");
        CHECK_REL(fabs(sg[2] - (ssx + ssz)) / (ssx + ssz), TOL_ACC, "sumsq slot 2 vs host");
        CHECK_REL(fabs(sg[5] - ssx) / ssx, TOL_ACC, "sumsq slot 5 vs host");
        cr_assert_eq(sg[7], 0.0, "sumsq of an empty view: %g", sg[7]);
        /* deterministic: the same reduction again gives the same bits */
        GPU_OK(cu_gpu->ops->sumsq(cu_gpu, &z.g, 3, 0));
        GPU_OK(cu_gpu->ops->read_slots(cu_gpu, again, DLN_NUM_SLOTS));
        cr_assert(memcmp(&again[3], &sg[3], sizeof(double)) == 0, "sumsq not reproducible: %.17g vs %.17g",
                  again[3], sg[3]);
        free(hx);
        free(hz);
        cu_pair_free(&x);
        cu_pair_free(&z);
    }
}

/* ||U diag(s) VT - ref||_F / ||ref||_F with U (m, n), VT (n, n) packed; ref(i, j) is
 * ref[i + j * ldr] or, transposed, ref[j + i * ldr]. Also ||U^T U - I||_F into *orth. */
static double cu_svd_err(const double *U, const double *s, const double *VT, int m, int n, const double *ref,
                         int ldr, int transposed, double *orth)
{
    double d = 0.0, r = 0.0, o = 0.0;
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < m; i++) {
            double v = 0.0;
            for (int l = 0; l < n; l++) v += U[i + (size_t)l * m] * s[l] * VT[l + (size_t)j * n];
            double a = transposed ? ref[j + (size_t)i * ldr] : ref[i + (size_t)j * ldr];
            d += (v - a) * (v - a);
            r += a * a;
        }
        for (int l = 0; l < n; l++) {
            double v = 0.0;
            for (int i = 0; i < m; i++) v += U[i + (size_t)l * m] * U[i + (size_t)j * m];
            o += (v - (l == j)) * (v - (l == j));
        }
    }
    *orth = sqrt(o);
    return sqrt(d / r);
}

/* Runs gesvd of the (m, n) matrix tall (both backends hold the same values; destroyed)
 * and checks s against the CPU and the reconstruction against ref. */
static void cu_check_svd(cu_pair *tall, const double *ref, int ldr, int transposed, const char *what)
{
    int m = tall->c.rows, n = tall->c.cols;
    cu_pair u, vt;
    cu_pair_make(&u, m, n, DLN_F64, 1);
    cu_pair_make(&vt, n, n, DLN_F64, 2);
    double *sc = malloc(sizeof(double) * n), *sg = malloc(sizeof(double) * n);
    CPU_OK(cu_cpu->ops->gesvd(cu_cpu, &tall->c, sc, &u.c, &vt.c));
    GPU_OK(cu_gpu->ops->gesvd(cu_gpu, &tall->g, sg, &u.g, &vt.g));
    double ds = 0.0;
    for (int i = 0; i < n; i++) ds = fmax(ds, fabs(sg[i] - sc[i]));
    CHECK_REL(ds / sc[0], TOL_ACC, what);
    double *hu = cu_get(cu_gpu, &u.g), *hvt = cu_get(cu_gpu, &vt.g), orth = 0.0;
    CHECK_REL(cu_svd_err(hu, sg, hvt, m, n, ref, ldr, transposed, &orth), TOL_ACC, what);
    CHECK_REL(orth, TOL_ACC, "orthonormal columns of U");
    free(hu);
    free(hvt);
    free(sc);
    free(sg);
    cu_pair_free(&u);
    cu_pair_free(&vt);
}

Test(cuda, gesvd_tall)
{
    cu_open();
    /* several shapes, the workspace grows then is reused; one values-only call */
    const int shapes[3][2] = {{40, 12}, {100, 30}, {40, 12}};
    for (int s = 0; s < 3; s++) {
        int m = shapes[s][0], n = shapes[s][1];
        cu_pair a;
        cu_pair_make(&a, m, n, DLN_F64, s == 1 ? 2 : 0);
        double *ref = cu_get(cu_cpu, &a.c);
        cu_check_svd(&a, ref, m, 0, "gesvd tall");
        cu_pair b;
        cu_pair_make(&b, m, n, DLN_F64, 0);
        GPU_OK(cu_gpu->ops->upload(cu_gpu, &b.g, ref, m));
        CPU_OK(cu_cpu->ops->upload(cu_cpu, &b.c, ref, m));
        double *sv = malloc(sizeof(double) * n), *sc = malloc(sizeof(double) * n);
        GPU_OK(cu_gpu->ops->gesvd(cu_gpu, &b.g, sv, NULL, NULL));
        CPU_OK(cu_cpu->ops->gesvd(cu_cpu, &b.c, sc, NULL, NULL));
        double ds = 0.0;
        for (int i = 0; i < n; i++) ds = fmax(ds, fabs(sv[i] - sc[i]));
        CHECK_REL(ds / sc[0], TOL_ACC, "gesvd values only");
        free(sv);
        free(sc);
        free(ref);
        cu_pair_free(&a);
        cu_pair_free(&b);
    }
}

Test(cuda, gesvd_wide_through_transpose)
{
    cu_open();
    const int r = 9, c = 31; /* LAPACK would take this wide matrix as is; cuSOLVER does not */
    cu_pair w, t;
    cu_pair_make(&w, r, c, DLN_F64, 1);
    cu_pair_make(&t, c, r, DLN_F64, 0);
    CPU_OK(cu_cpu->ops->transpose(cu_cpu, &t.c, &w.c));
    GPU_OK(cu_gpu->ops->transpose(cu_gpu, &t.g, &w.g));
    double *hw = cu_get(cu_cpu, &w.c);
    cu_check_svd(&t, hw, r, 1, "gesvd of a wide matrix's transpose");
    free(hw);
    cu_pair_free(&w);
    cu_pair_free(&t);
}

Test(cuda, gesvd_rejects_wide)
{
    cu_open();
    cu_pair a;
    cu_pair_make(&a, 5, 8, DLN_F64, 0);
    double s[8];
    int rc = cu_gpu->ops->gesvd(cu_gpu, &a.g, s, NULL, NULL);
    cr_assert_eq(rc, DLN_ERUNTIME, "gesvd of a 5 x 8 matrix returned %d", rc);
    cr_assert_not_null(strstr(cu_gerr.msg, "rows >= cols"), "message: %s", cu_gerr.msg);
    cu_pair_free(&a);
}

Test(cuda, graph_capture_replay)
{
    cu_open();
    const int m = 24, k = 16, n = 20, reps = 10;
    for (int t = 0; t < 2; t++) {
        cu_pair w, x, y, z;
        cu_pair_make(&w, m, k, cu_types[t], 1);
        cu_pair_make(&x, k, n, cu_types[t], 0);
        cu_pair_make(&y, m, n, cu_types[t], 2);
        cu_pair_make(&z, m, n, cu_types[t], 0);
        double zero[DLN_NUM_SLOTS], sc[DLN_NUM_SLOTS], sg[DLN_NUM_SLOTS];
        for (int i = 0; i < reps; i++) {
            CPU_OK(cu_cpu->ops->gemm(cu_cpu, 0, 0, 1.0, &w.c, &x.c, 0.5, &y.c));
            CPU_OK(cu_cpu->ops->axpby(cu_cpu, 0.3, &y.c, 0.9, &z.c));
            CPU_OK(cu_cpu->ops->sumsq(cu_cpu, &z.c, 1, i > 0));
        }
        CPU_OK(cu_cpu->ops->read_slots(cu_cpu, sc, DLN_NUM_SLOTS));

        cr_assert_not_null(cu_gpu->ops->capture_begin);
        dln_graph *g = NULL;
        GPU_OK(cu_gpu->ops->sumsq(cu_gpu, &z.g, 1, 0)); /* slot 1 = the start value */
        double start[DLN_NUM_SLOTS];
        GPU_OK(cu_gpu->ops->read_slots(cu_gpu, start, DLN_NUM_SLOTS));
        GPU_OK(cu_gpu->ops->capture_begin(cu_gpu));
        GPU_OK(cu_gpu->ops->gemm(cu_gpu, 0, 0, 1.0, &w.g, &x.g, 0.5, &y.g));
        GPU_OK(cu_gpu->ops->axpby(cu_gpu, 0.3, &y.g, 0.9, &z.g));
        GPU_OK(cu_gpu->ops->sumsq(cu_gpu, &z.g, 1, 1));
        /* a synchronous op is refused without breaking the capture */
        cr_assert_eq(cu_gpu->ops->read_slots(cu_gpu, zero, 1), DLN_ERUNTIME);
        dln_error_clear(&cu_gerr);
        GPU_OK(cu_gpu->ops->capture_end(cu_gpu, &g));
        cr_assert_not_null(g);
        GPU_OK(cu_gpu->ops->read_slots(cu_gpu, zero, DLN_NUM_SLOTS));
        cr_assert_eq(zero[1], start[1], "capture executed the work: slot 1 %g, was %g", zero[1], start[1]);
        for (int i = 0; i < reps; i++) GPU_OK(cu_gpu->ops->graph_launch(cu_gpu, g));
        GPU_OK(cu_gpu->ops->read_slots(cu_gpu, sg, DLN_NUM_SLOTS));
        /* the CPU started slot 1 from 0 at i = 0; the graph added on top of start[1] */
        double replayed = sg[1] - start[1];
        double tol = cu_types[t] == DLN_F64 ? TOL_ACC : TOL32;
        CHECK_REL(fabs(replayed - sc[1]) / sc[1], tol, "graph: accumulated sumsq slot");
        CHECK_REL(cu_pair_err(&y), cu_tol(cu_types[t]), "graph: gemm output after replays");
        CHECK_REL(cu_pair_err(&z), cu_tol(cu_types[t]), "graph: axpby output after replays");
        cu_gpu->ops->graph_destroy(cu_gpu, g);
        cu_pair_free(&w);
        cu_pair_free(&x);
        cu_pair_free(&y);
        cu_pair_free(&z);
    }
}

Test(cuda, alloc_absurd_is_enomem)
{
    cu_open();
    dln_mat m;
    int rc = cu_gpu->ops->alloc(cu_gpu, &m, 1 << 20, 1 << 20, DLN_F64);
    cr_assert_eq(rc, DLN_ENOMEM, "alloc of 8 TiB returned %d: %s", rc, cu_gerr.msg);
    cr_assert_null(m.data);
    cr_assert_not_null(strstr(cu_gerr.msg, "bytes"), "message: %s", cu_gerr.msg);
    /* the backend is still usable afterwards */
    dln_error_clear(&cu_gerr);
    cu_pair p;
    cu_pair_make(&p, 10, 10, DLN_F64, 0);
    double s[DLN_NUM_SLOTS];
    GPU_OK(cu_gpu->ops->sumsq(cu_gpu, &p.g, 0, 0));
    GPU_OK(cu_gpu->ops->read_slots(cu_gpu, s, DLN_NUM_SLOTS));
    cr_assert(s[0] > 0.0);
    cu_pair_free(&p);
}

Test(cuda, mem_info_and_describe)
{
    cu_open();
    size_t free_b = 0, total_b = 0;
    GPU_OK(cu_gpu->ops->mem_info(cu_gpu, &free_b, &total_b));
    cr_assert(total_b > 0 && free_b > 0 && free_b <= total_b, "free %zu total %zu", free_b, total_b);
    char buf[256];
    dln_backend_cuda_describe(buf, sizeof buf);
    cr_assert(strncmp(buf, "cuda:", 5) == 0, "describe: %s", buf);
    cr_assert(dln_backend_cuda_device_count() >= 1);
}

/* The one test that runs without a GPU: the no-device path must answer quietly. */
Test(cuda, no_device_answers_cleanly)
{
    if (dln_cuda_available()) cr_skip("a CUDA device is present (the no-device path is not reachable)");
    char buf[256];
    cr_assert_eq(dln_backend_cuda_device_count(), 0);
    dln_backend_cuda_describe(buf, sizeof buf);
    cr_assert(strncmp(buf, "none (", 6) == 0, "describe: %s", buf);
    dln_error err = {0};
    dln_backend *be = NULL;
    cr_assert_neq(dln_backend_cuda_create(&err, &be), DLN_OK);
    cr_assert_null(be);
    cr_assert(err.msg[0] != '\0');
}

#else /* !DLN_HAVE_CUDA */

Test(cuda, not_built)
{
    cr_skip("built without CUDA (nvcc not found at build time)");
}

#endif
