/* npy_internal.h: the .npy reader's entry point for the library's own use (internal to
 * src/): reading a file relative to an open directory, so that the weights of one saved
 * set are all read from the same directory even while a save replaces it. */
#ifndef DLN_NPY_INTERNAL_H
#define DLN_NPY_INTERNAL_H

#include "dln/error.h"

/* dln_npy_read of `name` opened relative to dirfd; messages name the file as `shown`. */
int dln_npy_read_at(int dirfd, const char *name, const char *shown, int *rows, int *cols, double **data,
                    dln_error *err);

#endif
