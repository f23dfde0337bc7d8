/* ops_checks_batched.c: the table's checks of the batched operations (gemm with a shared
 * operand of stride 0, axpby with per-member factors in backend memory, including a zero
 * factor that must not read a NaN member, and sumsq) against the single operations' host
 * references applied member by member (tolerances as in ops_checks.h). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_checks.h"

#define AT(h, ld, i, j) (h)[(size_t)(i) + (size_t)(j) * (size_t)(ld)]
#define COUNT 5

void oc_batched(oc_ctx *c)
{
    // A_b (m, k) side by side in PA (m, k COUNT); B (k, n) shared; C_b (m, n) in PC
    const int m = 7, k = 6, n = 5;
    oc_mat PA = oc_rand(c, m, k * COUNT), B = oc_rand(c, k, n), PC = oc_rand(c, m, n * COUNT);
    dln_mat A0 = dln_mat_view(&PA.m, 0, 0, m, k), C0 = dln_mat_view(&PC.m, 0, 0, m, n);
    double alpha = 0.5 + dln_rng_uniform(&c->g), beta = -0.75;
    if (c->dtype == DLN_F32) alpha = (float)alpha;
    OC_OK(c, dln_gemm_batched(c->be, 0, 0, alpha, &A0, (size_t)m * k, &B.m, 0, beta, &C0, (size_t)m * n, COUNT));
    double *want = ts_copy(PC.h, (size_t)m * n * COUNT);
    for (int b = 0; b < COUNT; b++)
        ref_gemm(0, 0, m, n, k, alpha, PA.h + (size_t)b * m * k, m, B.h, k, beta, want + (size_t)b * m * n, m);
    oc_expect(c, &PC, want, 0, 0, m, n * COUNT, oc_tol(c, 1e-13, 1e-5), "gemm_batched with a shared operand");
    free(want);

    // Y_b = (-1 lr_b) X_b + (1 mu_b) Y_b; member 2 has lr 0 and a NaN X: Y_2 = mu_2 Y_2
    oc_mat PX = oc_rand(c, m, n * COUNT), PY = oc_rand(c, m, n * COUNT);
    double lr[COUNT], mu[COUNT], nan[7 * 5];
    for (int b = 0; b < COUNT; b++) lr[b] = b == 2 ? 0.0 : 0.1 * (b + 1), mu[b] = 0.9 - 0.2 * b;
    for (int e = 0; e < m * n; e++) nan[e] = NAN;
    dln_mat X2 = dln_mat_view(&PX.m, 0, 2 * n, m, n), X0 = dln_mat_view(&PX.m, 0, 0, m, n);
    dln_mat Y0 = dln_mat_view(&PY.m, 0, 0, m, n), vl, vm;
    OC_OK(c, dln_upload(c->be, &X2, nan, m));
    OC_OK(c, dln_mat_alloc(c->be, &vl, COUNT, 1, DLN_F64));
    OC_OK(c, dln_mat_alloc(c->be, &vm, COUNT, 1, DLN_F64));
    OC_OK(c, dln_upload(c->be, &vl, lr, COUNT));
    OC_OK(c, dln_upload(c->be, &vm, mu, COUNT));
    OC_OK(c, dln_axpby_batched(c->be, -1.0, &vl, &X0, (size_t)m * n, 1.0, &vm, &Y0, (size_t)m * n, COUNT));
    want = ts_copy(PY.h, (size_t)m * n * COUNT);
    for (int b = 0; b < COUNT; b++)
        for (int e = 0; e < m * n; e++) {
            double *y = &want[(size_t)b * m * n + e], x = PX.h[(size_t)b * m * n + e];
            double a = -lr[b], cc = mu[b];
            if (c->dtype == DLN_F32) a = (float)a, cc = (float)cc;
            *y = (a == 0.0 ? 0.0 : a * x) + cc * *y;
        }
    oc_expect(c, &PY, want, 0, 0, m, n * COUNT, oc_tol(c, 1e-15, 2e-7), "axpby_batched with per-member factors");
    free(want);

    // out[1 + b] = ||C_b||^2, then accumulated once more
    dln_mat out;
    OC_OK(c, dln_mat_alloc(c->be, &out, COUNT + 2, 1, DLN_F64));
    OC_OK(c, dln_sumsq_batched(c->be, &C0, (size_t)m * n, COUNT, &out, 1, 0));
    OC_OK(c, dln_sumsq_batched(c->be, &C0, (size_t)m * n, COUNT, &out, 1, 1));
    double r[COUNT + 2], *hc = oc_get(c, &PC.m);
    OC_OK(c, dln_download(c->be, &out, r, COUNT + 2));
    for (int b = 0; b < COUNT; b++) {
        double s = 2.0 * ref_sumsq(m, n, hc + (size_t)b * m * n, m);
        cr_assert(ts_rel(r[1 + b], s) <= 1e-12, "%s: sumsq_batched member %d: %.17g vs %.17g (seed %llu)", c->label, b,
                  r[1 + b], s, (unsigned long long)c->seed);
    }
    cr_assert(r[0] == 0.0 && r[COUNT + 1] == 0.0, "%s: sumsq_batched wrote outside its results", c->label);
    oc_expect_refused(c, dln_sumsq_batched(c->be, &C0, (size_t)m * n, COUNT, &out, 3, 0), "sumsq_batched",
                      "results past the column");
    oc_expect_refused(c, dln_gemm_batched(c->be, 0, 0, 1.0, &A0, (size_t)m * k, &B.m, 0, 0.0, &C0, 1, COUNT),
                      "gemm_batched", "overlapping output members");
    free(hc);
    dln_mat_free(c->be, &vl), dln_mat_free(c->be, &vm), dln_mat_free(c->be, &out);
    oc_free(c, &PA), oc_free(c, &B), oc_free(c, &PC), oc_free(c, &PX), oc_free(c, &PY);
}

/* The batched GEMM under TF32 and back: fp32 members with k = 256 are TF32-rounded (5e-3,
 * as the single GEMM's check), then, after switching back, exact fp32 again (1e-5): the
 * backend must reset its math mode for the batched call too. fp64 is never TF32. */
void oc_batched_tf32(oc_ctx *c)
{
    if (!dln_backend_supports(c->be, DLN_CAP_TF32)) return; /* refusal: oc_gemm_tf32 */
    // A_b (m, k) side by side in PA (m, k COUNT); B (k, n) shared; C_b (m, n) in PC
    const int m = 16, n = 8, k = 256;
    oc_mat PA = oc_rand(c, m, k * COUNT), B = oc_rand(c, k, n), PC = oc_rand(c, m, n * COUNT);
    dln_mat A0 = dln_mat_view(&PA.m, 0, 0, m, k), C0 = dln_mat_view(&PC.m, 0, 0, m, n);
    double *want = calloc((size_t)m * n * COUNT, sizeof(double));
    for (int b = 0; b < COUNT; b++)
        ref_gemm(0, 0, m, n, k, 1.0, PA.h + (size_t)b * m * k, m, B.h, k, 0.0, want + (size_t)b * m * n, m);
    OC_OK(c, dln_backend_set_math(c->be, DLN_MATH_TF32));
    OC_OK(c, dln_gemm_batched(c->be, 0, 0, 1.0, &A0, (size_t)m * k, &B.m, 0, 0.0, &C0, (size_t)m * n, COUNT));
    oc_expect(c, &PC, want, 0, 0, m, n * COUNT, c->dtype == DLN_F64 ? 1e-13 : 5e-3, "TF32 gemm_batched");
    OC_OK(c, dln_backend_set_math(c->be, DLN_MATH_DEFAULT));
    OC_OK(c, dln_gemm_batched(c->be, 0, 0, 1.0, &A0, (size_t)m * k, &B.m, 0, 0.0, &C0, (size_t)m * n, COUNT));
    oc_expect(c, &PC, want, 0, 0, m, n * COUNT, oc_tol(c, 1e-13, 1e-5), "gemm_batched after switching back from TF32");
    free(want);
    oc_free(c, &PA), oc_free(c, &B), oc_free(c, &PC);
}
