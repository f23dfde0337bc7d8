/* dln/model.h: the deep linear network's shape and its weights on the host:
 * initialisation schemes, saving and loading. W[i-1] is W_i of shape (d_i, d_{i-1}),
 * fp64, column-major, ld = d_i. */
#ifndef DLN_MODEL_H
#define DLN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "dln/data.h"
#include "dln/error.h"

/* Upper bound on the depth: deeper requests are refused. */
#define DLN_MAX_DEPTH 10000

/* dims[0] = dx, dims[i] = d_i, dims[depth] = dy. */
typedef struct {
    int depth;
    int *dims; /* depth + 1 entries, owned */
} dln_shape;

int dln_shape_make(int depth, int dx, int dy, const int *hidden, int n_hidden, dln_shape *out, dln_error *err);
void dln_shape_free(dln_shape *s);
int dln_shape_narrowest(const dln_shape *s); /* d_p = min over dims, input and output included */
size_t dln_shape_params(const dln_shape *s);

typedef enum {
    DLN_INIT_GAUSSIAN = 0,   /* N(0, scale^2 / d_{i-1}) */
    DLN_INIT_ORTHOGONAL = 1, /* scale * (semi-)orthogonal, Haar distributed */
    DLN_INIT_IDENTITY = 2,   /* scale * eye(d_i, d_{i-1}) */
    DLN_INIT_BALANCED = 3,   /* Arora et al. 2019, Procedure 1 */
} dln_init_kind;

int dln_init_parse(const char *name, dln_init_kind *out);
const char *dln_init_name(dln_init_kind k);
double dln_init_default_scale(dln_init_kind k);
/* Allocates and fills W[0..depth-1] from (seed, DLN_STREAM_INIT). */
int dln_init_weights(const dln_shape *s, dln_init_kind kind, double scale, uint64_t seed, double ***W,
                     dln_error *err);
/* W (allocated) := the balanced factorisation of R (dy, dx) truncated to rank d_p:
 * W_H...W_1 = [R]_{d_p} and W_{j+1}^T W_{j+1} = W_j W_j^T. */
int dln_weights_balanced_factor(const dln_shape *s, const double *R, double **W, dln_error *err);
/* Allocates W[0..depth-1] zeroed (the host weights of a shape). */
int dln_weights_alloc(const dln_shape *s, double ***W, dln_error *err);
void dln_weights_free(int depth, double **W);
/* Saves W1.npy..WH.npy into dir atomically (all files or none). Messages start with dir. */
int dln_weights_save(const char *dir, const dln_shape *s, double *const *W, dln_error *err);
/* Checks that dir can be saved into (before any work is done). */
int dln_weights_check_dir(const char *dir, dln_error *err);
/* Loads W1.npy.. from dir (depth from the files, at most DLN_MAX_DEPTH); checks that the
 * shapes chain and match dx and dy. Messages start with dir. */
int dln_weights_load(const char *dir, int dx, int dy, dln_shape *s, double ***W, dln_error *err);

#endif
