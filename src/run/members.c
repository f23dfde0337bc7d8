/* members.c: an experiment's members, the product of its option lists (init outermost, then
 * init scale, step size, momentum, seed innermost), each member's values and the options it
 * trains with; and the experiment's notes and failure parts. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/experiment_internal.h"

/* A copy of n elements of size sz (NULL for none); *fail set when out of memory. */
static void *copy_of(const void *src, int n, size_t sz, int *fail)
{
    if (!src || n <= 0) return NULL;
    void *p = malloc(sz * (size_t)n);
    if (!p) *fail = 1;
    else memcpy(p, src, sz * (size_t)n);
    return p;
}

int dln_exp_copy_lists(dln_experiment *e, const dln_experiment_opts *o)
{
    int fail = 0;
    if (o->n_inits < 0 || o->n_scales < 0 || o->n_lrs < 0 || o->n_moms < 0 || o->n_seeds < 0 ||
        (o->n_inits && !o->inits) || (o->n_scales && !o->scales) || (o->n_lrs && (!o->lrs || !o->lr_rules)) ||
        (o->n_moms && !o->moms) || (o->n_seeds && !o->seeds))
        return dln_fail(e->err, DLN_EINPUT, "a list of member values is given without its values");
    e->widths = copy_of(o->widths, o->depth - 1, sizeof(int), &fail);
    e->inits = copy_of(o->inits, o->n_inits, sizeof(dln_init_kind), &fail);
    e->scales = copy_of(o->scales, o->n_scales, sizeof(double), &fail);
    e->lrs = copy_of(o->lrs, o->n_lrs, sizeof(double), &fail);
    e->lr_rules = copy_of(o->lr_rules, o->n_lrs, sizeof(dln_lr_rule), &fail);
    e->moms = copy_of(o->moms, o->n_moms, sizeof(double), &fail);
    e->seeds = copy_of(o->seeds, o->n_seeds, sizeof(uint64_t), &fail);
    if (fail) return dln_fail(e->err, DLN_ENOMEM, "out of host memory for the experiment's lists");
    e->o.widths = e->widths, e->o.inits = e->inits, e->o.scales = e->scales, e->o.lrs = e->lrs;
    e->o.lr_rules = e->lr_rules, e->o.moms = e->moms, e->o.seeds = e->seeds;
    double n = 1;
    int c[] = {o->n_seeds, o->n_inits, o->n_scales, o->n_lrs, o->n_moms};
    for (int i = 0; i < 5; i++) n *= c[i] > 1 ? c[i] : 1;
    if (n > (double)DLN_MAX_MEMBERS)
        return dln_fail(e->err, DLN_EINPUT, "the lists make %.0f members; at most %ld can be trained in one process",
                        n, DLN_MAX_MEMBERS);
    e->members = (long)n;
    return DLN_OK;
}

void dln_exp_free_lists(dln_experiment *e)
{
    free(e->widths), free(e->inits), free(e->scales), free(e->lrs), free(e->lr_rules), free(e->moms), free(e->seeds);
}

dln_member_spec dln_exp_member(const dln_experiment *e, long b)
{
    const dln_experiment_opts *o = &e->o;
    dln_member_spec m = {o->init, o->init_scale, o->seed, o->train.lr, o->train.lr_rule, o->train.momentum};
    long k = b;
    if (o->n_seeds) m.seed = o->seeds[k % o->n_seeds], k /= o->n_seeds;
    if (o->n_moms) m.momentum = o->moms[k % o->n_moms], k /= o->n_moms;
    if (o->n_lrs) m.lr = o->lrs[k % o->n_lrs], m.lr_rule = o->lr_rules[k % o->n_lrs], k /= o->n_lrs;
    if (o->n_scales) m.init_scale = o->scales[k % o->n_scales], k /= o->n_scales;
    if (o->n_inits) m.init = o->inits[k % o->n_inits];
    return m;
}

dln_train_opts dln_exp_member_opts(const dln_experiment *e, const dln_member_spec *m)
{
    dln_train_opts t = e->o.train;
    t.lr = m->lr, t.lr_rule = m->lr_rule, t.momentum = m->momentum;
    t.observe = e->o.observe ? DLN_OBSERVE_SPECTRUM | DLN_OBSERVE_MODES | DLN_OBSERVE_NORMS | DLN_OBSERVE_BALANCE : 0;
    if (e->o.compare_flow) t.observe |= DLN_OBSERVE_FLOW;
    t.observe_every = e->o.observer ? e->o.observe_every : 0;
    if (!t.sharpness_iters && e->o.hessian_iters > 0) t.sharpness_iters = e->o.hessian_iters;
    /* no reference value, no rel_gap: tol applies to the gradient norm relative to its start
     * unless a gradient tolerance was given */
    if (!dln_reference_has_value(&e->ref) && t.grad_tol == 0) t.grad_tol = t.tol;
    return t;
}

void dln_exp_note(dln_experiment *e, const char *fmt, ...)
{
    if (e->n_notes >= DLN_EXPERIMENT_NOTES) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->notes[e->n_notes++], DLN_EXPERIMENT_NOTE_MAX, fmt, ap);
    va_end(ap);
}

int dln_exp_at(dln_experiment *e, dln_experiment_part part, int rc)
{
    if (rc && e->part == DLN_PART_NONE) e->part = part;
    return rc;
}
