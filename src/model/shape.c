/* shape.c: the shape of a deep linear network: depth and layer widths d_0 = dx, d_1 ..
 * d_{H-1}, d_H = dy, with the narrowest layer d_p and the parameter count. */
#include <stdlib.h>
#include <string.h>

#include "dln/model.h"

int dln_shape_make(int depth, int dx, int dy, const int *hidden, int n_hidden, dln_shape *out,
                   dln_error *err)
{
    memset(out, 0, sizeof *out);
    if (depth < 1 || depth > DLN_MAX_DEPTH)
        return dln_fail(err, DLN_EINPUT, "depth must be between 1 and %d (got %d)", DLN_MAX_DEPTH, depth);
    if (n_hidden != depth - 1)
        return dln_fail(err, DLN_EINPUT, "depth %d needs %d hidden widths, got %d", depth, depth - 1,
                        n_hidden);
    out->dims = malloc(sizeof(int) * (size_t)(depth + 1));
    if (!out->dims) return dln_fail(err, DLN_ENOMEM, "out of host memory");
    out->depth = depth;
    out->dims[0] = dx;
    out->dims[depth] = dy;
    for (int i = 1; i < depth; i++) out->dims[i] = hidden[i - 1];
    for (int i = 0; i <= depth; i++)
        if (out->dims[i] < 1 || out->dims[i] > DLN_MAX_DIM) {
            int bad = out->dims[i];
            dln_shape_free(out);
            return dln_fail(err, DLN_EINPUT, "layer widths must be between 1 and %d (got %d)", DLN_MAX_DIM,
                            bad);
        }
    return DLN_OK;
}

void dln_shape_free(dln_shape *s)
{
    free(s->dims);
    s->dims = NULL;
    s->depth = 0;
}

int dln_shape_narrowest(const dln_shape *s)
{
    int p = s->dims[0];
    for (int i = 1; i <= s->depth; i++)
        if (s->dims[i] < p) p = s->dims[i];
    return p;
}

size_t dln_shape_params(const dln_shape *s)
{
    size_t n = 0;
    for (int i = 1; i <= s->depth; i++) n += (size_t)s->dims[i] * (size_t)s->dims[i - 1];
    return n;
}
