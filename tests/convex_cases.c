/* convex_cases.c: the shallow solvers' test problems and their host oracle (convex_cases.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convex_cases.h"

void case_make(convex_case *c, dln_backend_kind kind, const char *name, const dln_objective_params *p,
                      int dx, int dy, int m, int labels)
{
    memset(c, 0, sizeof *c);
    c->be = ts_backend(kind, &c->err);
    c->seed = ts_seed();
    snprintf(c->label, sizeof c->label, "%s %s", ts_backend_label(kind), name ? name : "square");
    dln_rng_seed(&c->g, c->seed, 71);
    c->d.dx = dx, c->d.dy = dy, c->d.m = m;
    c->d.X = malloc(sizeof(double) * (size_t)dx * m), c->d.Y = malloc(sizeof(double) * (size_t)dy * m);
    double *T = malloc(sizeof(double) * (size_t)dy * dx);
    for (int e = 0; e < dx * m; e++) c->d.X[e] = dln_rng_normal(&c->g);
    for (int e = 0; e < dy * dx; e++) T[e] = dln_rng_normal(&c->g) / sqrt((double)dx);
    double *TX = ts_mul(0, 0, dy, m, dx, T, c->d.X);
    for (int j = 0; j < m; j++) {
        int hot = (int)(dln_rng_uniform(&c->g) * dy) % dy;
        for (int i = 0; i < dy; i++) {
            double *y = &c->d.Y[i + (size_t)j * dy];
            if (labels == 0) *y = TX[i + (size_t)j * dy] + 0.3 * dln_rng_normal(&c->g);
            else if (labels == 1) *y = dln_rng_uniform(&c->g) < 0.5 ? 1.0 : 0.0;
            else if (labels == 2) *y = i == hot;
            else *y = TX[i + (size_t)j * dy] > 0 ? 1.0 : 0.0;
        }
    }
    free(T), free(TX);
    c->obj = NULL;
    if (name) OK(c, dln_objective_create(name, p, &c->obj, &c->err));
}

void case_free(convex_case *c)
{
    dln_objective_destroy(c->obj);
    dln_data_free(&c->d);
    dln_backend_destroy(c->be);
}

double oracle(const convex_case *c, const dln_loss *l, const double *R, double *G)
{
    int dx = c->d.dx, dy = c->d.dy, m = c->d.m;
    double *Z = calloc((size_t)dy * m, sizeof(double)), *dZ = malloc(sizeof(double) * (size_t)dy * m);
    ref_gemm(0, 0, dy, m, dx, 1.0, R, dy, c->d.X, dx, 0.0, Z, dy);
    double v = ref_loss_gradient(l, dy, m, Z, dy, c->d.Y, dy, dZ, dy);
    if (G) ref_gemm(0, 1, dy, dx, m, 1.0, dZ, dy, c->d.X, dx, 0.0, G, dy);
    free(Z), free(dZ);
    return v;
}

double norm(const double *a, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * a[i];
    return sqrt(s);
}
