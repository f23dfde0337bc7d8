/* objective.c: the public face of the objectives (dln/objective.h): making one by name from
 * the registry, its name and flags, the zero prediction's loss, and binding one to a
 * network's backend (its state). A NULL objective is the square loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objective/objective.h"

static const dln_objective square = {&dln_objective_square, {NULL, 0, 0, 0, NULL}, {0, 0}};

static const dln_objective_ops *find(const char *name)
{
    for (int i = 0; name && dln_objective_table[i]; i++)
        if (!strcmp(dln_objective_table[i]->name, name)) return dln_objective_table[i];
    return NULL;
}

const dln_objective *dln_objective_or_square(const dln_objective *o)
{
    return o ? o : &square;
}

static const dln_objective_ops *ops_of(const dln_objective *o) { return dln_objective_or_square(o)->ops; }

void dln_objectives(char *buf, size_t n)
{
    size_t at = 0;
    if (n) buf[0] = '\0';
    for (int i = 0; dln_objective_table[i] && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%s", i ? "," : "", dln_objective_table[i]->name);
}

int dln_objective_create(const char *name, const dln_objective_params *p, dln_objective **out, dln_error *err)
{
    *out = NULL;
    const dln_objective_ops *ops = find(name);
    if (!ops) {
        char known[256];
        dln_objectives(known, sizeof known);
        return dln_fail(err, DLN_EINPUT, "unknown objective '%s' (known: %s)", name ? name : "", known);
    }
    dln_objective_params none = {NULL, 0, 0, 0, NULL};
    if (!p) p = &none;
    double param = 0.0;
    if (ops->check) DLN_TRY(ops->check(p, &param, err));
    else DLN_TRY(dln_objective_no_param(ops->name, p, "", err));
    dln_objective *o = calloc(1, sizeof *o);
    if (!o) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    o->ops = ops;
    o->loss = (dln_loss){ops->loss, param};
    o->p.p = p->p, o->p.delta = p->delta, o->p.matrix = p->matrix;
    if (p->weights && p->n_weights > 0) {
        o->p.weights = malloc(sizeof(double) * (size_t)p->n_weights);
        if (!o->p.weights) {
            free(o);
            return dln_fail(err, DLN_ENOMEM, "out of host memory");
        }
        memcpy((double *)o->p.weights, p->weights, sizeof(double) * (size_t)p->n_weights);
        o->p.n_weights = p->n_weights;
    }
    *out = o;
    return DLN_OK;
}

int dln_objective_no_param(const char *objective, const dln_objective_params *p, const char *takes, dln_error *err)
{
    if ((p->weights || p->n_weights) && strcmp(takes, "weights"))
        return dln_fail(err, DLN_EINPUT, "the %s loss takes no row weights", objective);
    if (p->p != 0 && strcmp(takes, "p"))
        return dln_fail(err, DLN_EINPUT, "the %s loss takes no exponent p (lp's parameter)", objective);
    if (p->delta != 0 && strcmp(takes, "delta"))
        return dln_fail(err, DLN_EINPUT, "the %s loss takes no delta (huber's parameter)", objective);
    if (p->matrix && strcmp(takes, "matrix"))
        return dln_fail(err, DLN_EINPUT, "the %s loss takes no matrix observations (completion's and sensing's)",
                        objective);
    return DLN_OK;
}

void dln_objective_destroy(dln_objective *o)
{
    if (!o) return;
    free((double *)o->p.weights);
    free(o);
}

double dln_objective_half_sumsq(const double *Y, int rows, int n, const double *w)
{
    double s = 0.0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < rows; i++) s += (w ? w[i] : 1.0) * Y[i + (size_t)j * rows] * Y[i + (size_t)j * rows];
    return 0.5 * s;
}

const char *dln_objective_name(const dln_objective *o) { return ops_of(o)->name; }

const dln_objective_params *dln_objective_params_of(const dln_objective *o) { return &dln_objective_or_square(o)->p; }

unsigned dln_objective_flags(const dln_objective *o) { return ops_of(o)->flags; }

dln_labels dln_objective_labels(const dln_objective *o) { return ops_of(o)->labels; }

double dln_objective_zero_loss(const dln_objective *o, const double *Y, int rows, int n)
{
    const dln_objective *obj = dln_objective_or_square(o);
    return ops_of(obj)->zero_loss(obj, Y, rows, n);
}

int dln_objective_check_target(const dln_objective *o, const double *Y, int rows, int n, dln_error *err)
{
    for (size_t e = 0; e < (size_t)rows * (size_t)n; e++)
        if (!isfinite(Y[e]))
            return dln_fail(err, DLN_EINPUT, "the target has a non-finite entry %g at (%zu, %zu)", Y[e],
                            e % (size_t)rows, e / (size_t)rows);
    const dln_objective_ops *ops = ops_of(o);
    return ops->check_target ? ops->check_target(Y, rows, n, err) : DLN_OK;
}

struct dln_objective_state {
    const dln_objective *obj;
    dln_backend *be; /* the backend it was made on (its memory is freed there) */
    void *impl;      /* the objective's own state */
};

double dln_objective_state_bytes(const dln_objective *o, int rows, int n, dln_dtype dtype, int count)
{
    const dln_objective *obj = dln_objective_or_square(o);
    return obj->ops->state_bytes(obj, rows, n, dtype, count);
}

int dln_objective_state_create(const dln_objective *o, dln_backend *be, int rows, int n, dln_dtype dtype, int count,
                               dln_objective_state **out)
{
    *out = NULL;
    dln_objective_state *st = calloc(1, sizeof *st);
    if (!st) return dln_fail(dln_backend_error(be), DLN_ENOMEM, "out of host memory");
    st->obj = dln_objective_or_square(o), st->be = be;
    int rc = st->obj->ops->state_create(st->obj, be, rows, n, dtype, count, &st->impl);
    if (rc) free(st);
    else *out = st;
    return rc;
}

void dln_objective_state_destroy(dln_objective_state *st)
{
    if (!st) return;
    st->obj->ops->state_destroy(st->be, st->impl);
    free(st);
}

int dln_objective_set_target(dln_objective_state *st, const double *Y)
{
    return st->obj->ops->set_target(st->impl, st->be, Y);
}

double dln_objective_value_scale(const dln_objective *o) { return ops_of(o)->value_scale; }

int dln_objective_gradient(dln_objective_state *st, dln_backend *be, dln_mat *Z, size_t stride, int lo, int count,
                           dln_mat *out, int index)
{
    return st->obj->ops->gradient(st->impl, be, Z, stride, lo, count, out, index);
}

int dln_objective_hessian(dln_objective_state *st, dln_backend *be, const dln_mat *Z, size_t stride_z, dln_mat *D,
                          size_t stride_d, int lo, int count)
{
    const dln_objective_ops *ops = st->obj->ops;
    return ops->hessian ? ops->hessian(st->impl, be, Z, stride_z, D, stride_d, lo, count) : DLN_OK;
}
