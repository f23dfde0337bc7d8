/* dln/data.h: the problem data and .npy files. X is (dx, m) and Y is (dy, m): columns
 * are samples. Host matrices are fp64, column-major, ld = rows. */
#ifndef DLN_DATA_H
#define DLN_DATA_H

#include <stdint.h>

#include "dln/error.h"

/* Upper bound on any single dimension: larger requests are refused. */
#define DLN_MAX_DIM (1 << 24)

typedef struct {
    int dx, dy, m;
    double *X, *Y; /* host, owned */
} dln_data;

/* What the synthetic targets are: the teacher's values, or labels made from them for the
 * classification losses. */
typedef enum {
    DLN_LABELS_VALUES = 0, /* Y = T X + noise */
    DLN_LABELS_BINARY = 1, /* Y_ij = 1 where (T X + noise)_ij > 0, else 0 (logistic) */
    DLN_LABELS_CLASSES = 2 /* column j one-hot at the row of the largest (T X + noise)_ij (softmax) */
} dln_labels;

typedef struct {
    int dx, dy, m;    /* sizes */
    int teacher_rank; /* rank r of the teacher T (dy, dx); clipped to min(dx, dy) */
    double noise;     /* std of the additive Gaussian noise on Y */
    uint64_t seed;
    dln_labels labels;
} dln_synth_opts;

/* X ~ N(0,1); Y = T X + noise N(0,1) with T = A B / sqrt(r dx), A (dy, r) and B (r, dx)
 * ~ N(0,1), so that the entries of T X have unit variance; then labels made of Y as asked
 * (the same X and teacher whatever the labels). */
int dln_synth_make(const dln_synth_opts *o, dln_data *out, dln_error *err);
/* Bytes dln_synth_make allocates besides X and Y (the teacher and its factors). */
double dln_synth_scratch_bytes(int dx, int dy, int teacher_rank);
/* Loads X.npy (dx, m) and Y.npy (dy, m); checks shapes, sizes and finiteness. */
int dln_data_load(const char *x_path, const char *y_path, dln_data *out, dln_error *err);
/* Checks sizes, finiteness, that Y is not identically zero, and that the Frobenius norms
 * of X and Y lie within [2^-250, 2^250] (about 5.5e-76 .. 1.8e75): further out, the
 * squares fp64 has to form overflow or underflow (src/data/data.c says why). */
int dln_data_validate(const dln_data *d, dln_error *err);
void dln_data_free(dln_data *d);

/* Reads a 2-D float64 or float32 array (little-endian, C or Fortran order) into a fresh
 * column-major fp64 buffer (*data, ld = *rows). Other ranks, dtypes or byte orders,
 * truncated or malformed files are DLN_EINPUT with a message naming the path. */
int dln_npy_read(const char *path, int *rows, int *cols, double **data, dln_error *err);
/* A vector: a 1-D array (n,), or a 2-D one of shape (n, 1) or (1, n), as dln_npy_read reads
 * and checks it, into a fresh fp64 buffer of n values. */
int dln_npy_read_vector(const char *path, int *n, double **data, dln_error *err);
/* dln_npy_read of `name` opened relative to the open directory dirfd (so that files of
 * one set are all read from the same directory even while a save replaces it); messages
 * name the file as `shown`. */
int dln_npy_read_at(int dirfd, const char *name, const char *shown, int *rows, int *cols, double **data,
                    dln_error *err);
/* The shape of the 2-D array in path from its header alone (dtype, shape and, for a
 * regular file, its size checked as dln_npy_read does). A file that is not regular (a
 * pipe, whose bytes reading would consume) gives 0 x 0: unknown until read. */
int dln_npy_shape(const char *path, int *rows, int *cols, dln_error *err);
/* Bytes dln_npy_read allocates besides the (rows, cols) fp64 result, at most: the header
 * text, or the bitmap that reorders a C-order array in place. */
double dln_npy_scratch_bytes(int rows, int cols);
/* Writes A (rows, cols, leading dim ld) as float64, Fortran order. */
int dln_npy_write(const char *path, int rows, int cols, const double *A, int ld, dln_error *err);

#endif
