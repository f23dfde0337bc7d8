/* reference.c: the reference values a run is measured against (dln/problem.h): the empty
 * one, its kinds' names, and freeing what one owns. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dln/problem.h"

void dln_reference_none(dln_reference *ref, double zero_loss)
{
    memset(ref, 0, sizeof *ref);
    ref->kind = DLN_REFERENCE_NONE;
    ref->optimum = ref->optimum_compressed = NAN;
    ref->zero_loss = zero_loss;
    ref->grad_scale = ref->input_norm = ref->lstsq_norm = NAN;
}

void dln_reference_free(dln_reference *ref)
{
    free(ref->first_mode), free(ref->mode_U), free(ref->mode_VT), free(ref->mode_sv);
    ref->first_mode = ref->mode_U = ref->mode_VT = ref->mode_sv = NULL;
    ref->n_modes = 0;
}

const char *dln_reference_kind_name(dln_reference_kind k)
{
    static const char *const names[] = {"none", "closed form", "convex", "best known", "unattained"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

int dln_reference_has_value(const dln_reference *ref)
{
    return ref->kind == DLN_REFERENCE_CLOSED_FORM || ref->kind == DLN_REFERENCE_CONVEX ||
           ref->kind == DLN_REFERENCE_BEST_KNOWN;
}
