/* ops_checks_util.c: what the checks of the backend-operations table share: the context
 * (backend, dtype, seed), random parent matrices with host mirrors, and the comparison
 * of a whole parent against its expected values. See ops_checks.h. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_checks.h"

void oc_open(oc_ctx *c, dln_backend_kind kind, dln_dtype dtype)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->dtype = dtype;
    snprintf(c->label, sizeof c->label, "%s %s", ts_backend_label(kind), dln_dtype_name(dtype));
    c->be = ts_backend(kind, &c->err);
    c->seed = ts_seed();
    dln_rng_seed(&c->g, c->seed, 31);
}

void oc_close(oc_ctx *c) { dln_backend_destroy(c->be); }

double oc_tol(const oc_ctx *c, double tol64, double tol32) { return c->dtype == DLN_F64 ? tol64 : tol32; }

oc_mat oc_rand_t(oc_ctx *c, int rows, int cols, dln_dtype t)
{
    oc_mat p;
    OC_OK(c, dln_mat_alloc(c->be, &p.m, rows, cols, t));
    p.h = ts_randn(&c->g, rows, cols);
    if (t == DLN_F32)
        for (size_t e = 0; e < (size_t)rows * cols; e++) p.h[e] = (float)p.h[e];
    OC_OK(c, dln_upload(c->be, &p.m, p.h, rows));
    return p;
}

oc_mat oc_rand(oc_ctx *c, int rows, int cols) { return oc_rand_t(c, rows, cols, c->dtype); }

void oc_free(oc_ctx *c, oc_mat *p)
{
    dln_mat_free(c->be, &p->m);
    free(p->h);
    p->h = NULL;
}

double *oc_get(oc_ctx *c, const dln_mat *m)
{
    size_t n = (size_t)(m->rows > 0 ? m->rows : 1) * (size_t)(m->cols > 0 ? m->cols : 1);
    double *h = malloc(sizeof(double) * n);
    cr_assert_not_null(h);
    OC_OK(c, dln_download(c->be, m, h, m->rows > 0 ? m->rows : 1));
    return h;
}

void oc_expect(oc_ctx *c, const oc_mat *p, const double *want, int r0, int c0, int rows, int cols, double tol,
               const char *what)
{
    int R = p->m.rows, C = p->m.cols;
    double *got = oc_get(c, &p->m), d = 0.0, r = 0.0;
    for (int j = 0; j < C; j++)
        for (int i = 0; i < R; i++) {
            double g = got[i + (size_t)j * R], w = want[i + (size_t)j * R];
            if (i >= r0 && i < r0 + rows && j >= c0 && j < c0 + cols) {
                d += (g - w) * (g - w);
                r += w * w;
            } else {
                cr_assert(g == w || (isnan(g) && isnan(w)),
                          "%s: %s wrote outside its block at (%d, %d): %.17g, was %.17g (seed %llu)", c->label, what, i,
                          j, g, w, (unsigned long long)c->seed);
            }
        }
    double e = r > 0 ? sqrt(d / r) : sqrt(d);
    cr_assert(e <= tol, "%s: %s: relative error %.3e > %.1e (rerun: DLN_TEST_SEED=%llu)", c->label, what, e, tol,
              (unsigned long long)c->seed);
    free(got);
}

void oc_expect_refused(oc_ctx *c, int rc, const char *op, const char *what)
{
    cr_assert_eq(rc, DLN_ERUNTIME, "%s: %s was not refused (%d)", c->label, what, rc);
    cr_assert(strncmp(c->err.msg, op, strlen(op)) == 0, "%s: %s: message '%s' should name %s", c->label, what,
              c->err.msg, op);
    dln_error_clear(&c->err);
}
