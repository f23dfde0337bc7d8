/* ops_checks_qr.c: the table's checks of the Householder QR operations (geqrf, ormqr) and
 * of triu, against host references (tolerances in ops_checks.h):
 *   - geqrf on a view (ld > rows, offset) of several shapes (tall, square, wide; a shape
 *     again after a larger one, so the workspace is reused): R equals LAPACKE_dgeqrf's R on
 *     the host up to the sign of each row (R is unique up to those when A has full rank);
 *     the reflectors and tau the backend left, expanded into Q on the host by
 *     LAPACKE_dorgqr, reconstruct A (Q R = A) with Q orthogonal; nothing outside the view
 *     or past tau's k values changes;
 *   - ormqr with trans = 1 and 0 on a view against Q^T C and Q C formed on the host from
 *     that Q (long double products), and Q (Q^T C) = C;
 *   - triu on tall, wide and one-row views in both dtypes: exact;
 *   - refusals: fp32 operands, tau too short, of the wrong dtype or overlapping A, C of
 *     other rows than A or overlapping it. */
#include <criterion/criterion.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_checks.h"

#define AT(h, ld, i, j) (h)[(size_t)(i) + (size_t)(j) * (size_t)(ld)]

/* Entries of parent p outside the block (r0, c0, rows, cols) still hold their old bits. */
static void expect_outside_unchanged(oc_ctx *c, const oc_mat *p, int r0, int c0, int rows, int cols, const char *what)
{
    double *got = oc_get(c, &p->m);
    for (int j = 0; j < p->m.cols; j++)
        for (int i = 0; i < p->m.rows; i++) {
            if (i >= r0 && i < r0 + rows && j >= c0 && j < c0 + cols) continue;
            cr_assert(AT(got, p->m.rows, i, j) == AT(p->h, p->m.rows, i, j),
                      "%s: %s wrote outside its block at (%d, %d) (seed %llu)", c->label, what, i, j,
                      (unsigned long long)c->seed);
        }
    free(got);
}

/* geqrf of an (m, n) view, then ormqr (both ways) on an (m, nc) view. */
static void qr_case(oc_ctx *c, int m, int n, int nc)
{
    int k = m < n ? m : n;
    oc_mat P = oc_rand(c, m + 3, n + 1), T = oc_rand(c, k + 2, 1), Cp = oc_rand(c, m + 2, nc + 1);
    dln_mat A = dln_mat_view(&P.m, 2, 1, m, n), tau = dln_mat_view(&T.m, 1, 0, k, 1);
    dln_mat C = dln_mat_view(&Cp.m, 1, 0, m, nc);
    double *a = malloc(sizeof(double) * (size_t)m * n), *cc = malloc(sizeof(double) * (size_t)m * nc);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) AT(a, m, i, j) = AT(P.h, m + 3, i + 2, j + 1);
    for (int j = 0; j < nc; j++)
        for (int i = 0; i < m; i++) AT(cc, m, i, j) = AT(Cp.h, m + 2, i + 1, j);

    OC_OK(c, dln_geqrf(c->be, &A, &tau));
    expect_outside_unchanged(c, &P, 2, 1, m, n, "geqrf");
    expect_outside_unchanged(c, &T, 1, 0, k, 1, "geqrf (tau)");
    double *f = oc_get(c, &A), *t = oc_get(c, &tau);

    // R against the host's LAPACKE_dgeqrf, row signs aside
    double *h = ts_copy(a, (size_t)m * n), *ht = malloc(sizeof(double) * (size_t)k);
    cr_assert_eq(LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m, n, h, m, ht), 0);
    double d = 0.0, r = 0.0;
    for (int i = 0; i < k; i++) {
        double s = (AT(f, m, i, i) < 0) == (AT(h, m, i, i) < 0) ? 1.0 : -1.0;
        for (int j = i; j < n; j++) {
            double e = AT(f, m, i, j) - s * AT(h, m, i, j);
            d += e * e;
            r += AT(h, m, i, j) * AT(h, m, i, j);
        }
    }
    cr_assert(sqrt(d / r) <= 1e-12, "%s: geqrf %d x %d: R differs from LAPACK's by %.3e (seed %llu)", c->label, m, n,
              sqrt(d / r), (unsigned long long)c->seed);

    // Q (m, m) from the backend's reflectors and tau, on the host: Q R = A, Q^T Q = I
    double *Q = calloc((size_t)m * m, sizeof(double)), *QR = calloc((size_t)m * n, sizeof(double));
    for (int j = 0; j < k; j++)
        for (int i = 0; i < m; i++) AT(Q, m, i, j) = AT(f, m, i, j);
    cr_assert_eq(LAPACKE_dorgqr(LAPACK_COL_MAJOR, m, m, k, Q, m, t), 0);
    double *R = calloc((size_t)k * n, sizeof(double));
    for (int j = 0; j < n; j++)
        for (int i = 0; i <= j && i < k; i++) AT(R, k, i, j) = AT(f, m, i, j);
    ref_gemm(0, 0, m, n, k, 1.0, Q, m, R, k, 0.0, QR, m);
    double rec = ts_rel_mat(QR, a, (size_t)m * n), orth = 0.0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            long double s = 0;
            for (int l = 0; l < m; l++) s += (long double)AT(Q, m, l, i) * AT(Q, m, l, j);
            orth += ((double)s - (i == j)) * ((double)s - (i == j));
        }
    cr_assert(rec <= 1e-13, "%s: geqrf %d x %d: Q R vs A %.3e (seed %llu)", c->label, m, n, rec,
              (unsigned long long)c->seed);
    cr_assert(sqrt(orth) <= 1e-13, "%s: geqrf %d x %d: Q^T Q - I %.3e", c->label, m, n, sqrt(orth));

    // ormqr: Q^T C, then Q (Q^T C) = C, on a view; host Q^T C and Q C from the same Q
    double *want = ts_copy(Cp.h, (size_t)(m + 2) * (nc + 1)), *qc = malloc(sizeof(double) * (size_t)m * nc);
    ref_gemm(1, 0, m, nc, m, 1.0, Q, m, cc, m, 0.0, qc, m);
    for (int j = 0; j < nc; j++)
        for (int i = 0; i < m; i++) AT(want, m + 2, i + 1, j) = AT(qc, m, i, j);
    OC_OK(c, dln_ormqr(c->be, 1, &A, &tau, &C));
    oc_expect(c, &Cp, want, 1, 0, m, nc, 1e-13, "ormqr (Q^T C)");
    OC_OK(c, dln_ormqr(c->be, 0, &A, &tau, &C));
    for (int j = 0; j < nc; j++)
        for (int i = 0; i < m; i++) AT(want, m + 2, i + 1, j) = AT(cc, m, i, j);
    oc_expect(c, &Cp, want, 1, 0, m, nc, 1e-13, "ormqr (Q Q^T C = C)");
    OC_OK(c, dln_upload(c->be, &C, cc, m));
    OC_OK(c, dln_ormqr(c->be, 0, &A, &tau, &C)); /* Q C against the host's */
    ref_gemm(0, 0, m, nc, m, 1.0, Q, m, cc, m, 0.0, qc, m);
    for (int j = 0; j < nc; j++)
        for (int i = 0; i < m; i++) AT(want, m + 2, i + 1, j) = AT(qc, m, i, j);
    oc_expect(c, &Cp, want, 1, 0, m, nc, 1e-13, "ormqr (Q C)");

    free(a), free(cc), free(f), free(t), free(h), free(ht), free(Q), free(QR), free(R), free(want), free(qc);
    oc_free(c, &P), oc_free(c, &T), oc_free(c, &Cp);
}

static void qr_refusals(oc_ctx *c)
{
    oc_mat A = oc_rand(c, 8, 5), T = oc_rand(c, 5, 1), C = oc_rand(c, 8, 3), W = oc_rand(c, 7, 3);
    oc_mat T32 = oc_rand_t(c, 5, 1, DLN_F32);
    dln_mat short_tau = dln_mat_view(&T.m, 0, 0, 4, 1), in_a = dln_mat_view(&A.m, 0, 4, 5, 1);
    oc_expect_refused(c, dln_geqrf(c->be, &A.m, &short_tau), "geqrf", "tau of 4 values for k = 5");
    oc_expect_refused(c, dln_geqrf(c->be, &A.m, &T32.m), "geqrf", "an fp32 tau");
    oc_expect_refused(c, dln_geqrf(c->be, &A.m, &in_a), "geqrf", "tau inside A");
    OC_OK(c, dln_geqrf(c->be, &A.m, &T.m));
    oc_expect_refused(c, dln_ormqr(c->be, 1, &A.m, &T.m, &W.m), "ormqr", "C with 7 rows for an 8-row A");
    dln_mat overlap = dln_mat_view(&A.m, 0, 2, 8, 2);
    oc_expect_refused(c, dln_ormqr(c->be, 1, &A.m, &T.m, &overlap), "ormqr", "C overlapping A");
    oc_expect_refused(c, dln_ormqr(c->be, 1, &A.m, &short_tau, &C.m), "ormqr", "tau of 4 values for k = 5");
    // empty operands are no-ops
    dln_mat none = dln_mat_view(&C.m, 0, 0, 8, 0);
    OC_OK(c, dln_ormqr(c->be, 1, &A.m, &T.m, &none));
    dln_mat empty = dln_mat_view(&A.m, 0, 0, 8, 0);
    OC_OK(c, dln_geqrf(c->be, &empty, &T.m));
    oc_free(c, &A), oc_free(c, &T), oc_free(c, &C), oc_free(c, &W), oc_free(c, &T32);
}

void oc_qr(oc_ctx *c)
{
    if (c->dtype == DLN_F32) { /* factorisations are fp64 only */
        oc_mat F = oc_rand(c, 8, 5), T = oc_rand_t(c, 5, 1, DLN_F64), C = oc_rand(c, 8, 2);
        oc_expect_refused(c, dln_geqrf(c->be, &F.m, &T.m), "geqrf", "an fp32 matrix");
        oc_expect_refused(c, dln_ormqr(c->be, 1, &F.m, &T.m, &C.m), "ormqr", "fp32 A and C");
        oc_free(c, &F), oc_free(c, &T), oc_free(c, &C);
        return;
    }
    qr_case(c, 40, 12, 5);
    qr_case(c, 100, 30, 7); /* the workspace grows */
    qr_case(c, 40, 12, 5);  /* and is reused */
    qr_case(c, 9, 9, 4);
    qr_case(c, 6, 10, 3);   /* wide: k = m reflectors */
    qr_case(c, 57, 1, 1);
    qr_refusals(c);
}

/* triu of a (rows, cols) view at (1, 2): exact. */
static void triu_case(oc_ctx *c, int rows, int cols)
{
    oc_mat P = oc_rand(c, rows + 3, cols + 4);
    dln_mat V = dln_mat_view(&P.m, 1, 2, rows, cols);
    double *want = ts_copy(P.h, (size_t)P.m.rows * P.m.cols);
    for (int j = 0; j < cols; j++)
        for (int i = j + 1; i < rows; i++) AT(want, P.m.rows, i + 1, j + 2) = 0.0;
    OC_OK(c, dln_triu(c->be, &V));
    oc_expect(c, &P, want, 1, 2, rows, cols, 0.0, "triu");
    free(want);
    oc_free(c, &P);
}

void oc_triu(oc_ctx *c)
{
    triu_case(c, 37, 11);
    triu_case(c, 5, 9);
    triu_case(c, 1, 6);
    triu_case(c, 300, 260); /* more elements than one pass of the grid's threads */
}
