/* trainer_cases.c: the trainer tests' shared problems; see trainer_cases.h. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer_cases.h"

void tr_case_make(tr_case *c, dln_backend_kind kind, int depth, const int *dims, int m, int teacher_rank, double noise,
               int rx)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->be = ts_backend(kind, &c->err);
    c->seed = ts_seed();
    int dx = dims[0], dy = dims[depth];
    dln_synth_opts o = {dx, dy, m, teacher_rank, noise, c->seed, DLN_LABELS_VALUES};
    cr_assert_eq(dln_synth_make(&o, &c->d, &c->err), DLN_OK, "%s", c->err.msg);
    if (rx > 0) { /* replace X by a rank-rx product and Y by a fresh teacher on it */
        dln_rng g;
        dln_rng_seed(&g, c->seed, 3);
        double *A = ts_randn(&g, dx, rx), *B = ts_randn(&g, rx, m), *T = ts_randn(&g, dy, dx);
        free(c->d.X), free(c->d.Y);
        c->d.X = ts_mul(0, 0, dx, m, rx, A, B);
        for (size_t e = 0; e < (size_t)dx * m; e++) c->d.X[e] /= sqrt((double)rx);
        c->d.Y = ts_mul(0, 0, dy, m, dx, T, c->d.X);
        for (size_t e = 0; e < (size_t)dy * m; e++)
            c->d.Y[e] = c->d.Y[e] / sqrt((double)dx) + noise * dln_rng_normal(&g);
        free(A), free(B), free(T);
    }
    ts_shape(&c->s, depth, dims);
    cr_assert_eq(dln_shallow_solve(c->be, &c->d, dln_shape_narrowest(&c->s), 0.0, 1, &c->sh, &c->err), DLN_OK,
                 "%s", c->err.msg);
}

void tr_case_free(tr_case *c)
{
    dln_shallow_free(&c->sh);
    dln_shape_free(&c->s);
    dln_data_free(&c->d);
    dln_backend_destroy(c->be);
}

double **tr_init(tr_case *c, dln_init_kind kind)
{
    double **W = NULL;
    cr_assert_eq(dln_init_weights(&c->s, kind, 1.0, c->seed, &W, &c->err), DLN_OK, "%s", c->err.msg);
    return W;
}

dln_train_opts opts(double lr, long steps, double tol, dln_data_mode mode)
{
    dln_train_opts o;
    dln_train_opts_default(&o);
    o.lr = lr, o.steps = steps, o.tol = tol, o.data_mode = mode;
    return o;
}

dln_train_result train(tr_case *c, double **W, const dln_train_opts *o)
{
    dln_train_result res;
    dln_error_clear(&c->err);
    cr_assert_eq(ts_train(c->be, &c->d, &c->sh, &c->s, 1, &W, o, &res, &c->err), DLN_OK, "%s: %s (seed %llu)",
                 ts_backend_label(c->kind), c->err.msg, SEED(c));
    return res;
}
