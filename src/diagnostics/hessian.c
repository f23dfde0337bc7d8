/* hessian.c: the extreme eigenvalues of the deep loss's Hessian at a member's current
 * weights: weight-shaped directions flattened layer by layer (W_1 first, column-major)
 * into the vectors dln_lanczos works on, each product an exact dln_network_hvp. */
#include <stdlib.h>
#include <string.h>

#include "dln/diagnostics.h"

typedef struct {
    dln_network *net;
    int member;
    const dln_shape *s;
    double **V, **HV; /* weight-shaped scratch */
} hess_ctx;

/* flat (params) <-> weight-shaped set, layer by layer */
static void unflatten(const dln_shape *s, const double *flat, double **set)
{
    for (int i = 0; i < s->depth; i++) {
        size_t n = (size_t)s->dims[i + 1] * s->dims[i];
        memcpy(set[i], flat, sizeof(double) * n);
        flat += n;
    }
}

static void flatten(const dln_shape *s, double *const *set, double *flat)
{
    for (int i = 0; i < s->depth; i++) {
        size_t n = (size_t)s->dims[i + 1] * s->dims[i];
        memcpy(flat, set[i], sizeof(double) * n);
        flat += n;
    }
}

static int hess_product(void *p, const double *v, double *out)
{
    hess_ctx *c = p;
    unflatten(c->s, v, c->V);
    DLN_TRY(dln_network_hvp(c->net, c->member, c->V, c->HV));
    flatten(c->s, c->HV, out);
    return DLN_OK;
}

static double **alloc_like(const dln_shape *s)
{
    double **W = calloc((size_t)s->depth, sizeof(double *));
    for (int i = 0; W && i < s->depth; i++)
        if (!(W[i] = malloc(sizeof(double) * (size_t)s->dims[i + 1] * s->dims[i]))) {
            dln_weights_free(i, W);
            return NULL;
        }
    return W;
}

int dln_hessian_extremes(dln_network *net, int member, int iters, uint64_t seed, const dln_hessian_vectors *vec,
                         dln_lanczos_result *out, dln_error *err)
{
    const dln_shape *s = dln_network_shape(net);
    size_t P = dln_shape_params(s);
    if (P > (size_t)1 << 30) return dln_fail(err, DLN_EINPUT, "the Hessian of %zu parameters is too large", P);
    hess_ctx c = {net, member, s, alloc_like(s), alloc_like(s)};
    double *flat[3] = {NULL, NULL, NULL}; /* start, vmin, vmax */
    int want[3] = {vec && vec->start, vec && vec->vmin, vec && vec->vmax}, rc = DLN_OK;
    for (int i = 0; i < 3; i++)
        if (want[i] && !(flat[i] = malloc(sizeof(double) * P))) rc = DLN_ENOMEM;
    if (rc || !c.V || !c.HV) rc = dln_fail(err, DLN_ENOMEM, "out of host memory for the Hessian");
    if (!rc && want[0]) flatten(s, vec->start, flat[0]);
    dln_lanczos_vectors lv = {flat[0], flat[1], flat[2]};
    if (!rc) rc = dln_lanczos((int)P, hess_product, &c, iters, seed, &lv, out, err);
    if (!rc && want[1]) unflatten(s, flat[1], vec->vmin);
    if (!rc && want[2]) unflatten(s, flat[2], vec->vmax);
    dln_weights_free(s->depth, c.V);
    dln_weights_free(s->depth, c.HV);
    for (int i = 0; i < 3; i++) free(flat[i]);
    return rc;
}
