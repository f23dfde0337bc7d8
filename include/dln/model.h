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
/* Bytes dln_init_weights allocates besides the weights themselves, at its peak: the QR
 * of the orthogonal scheme, the SVD and orthonormal factors of the balanced one. */
double dln_init_scratch_bytes(const dln_shape *s, dln_init_kind kind);
/* Allocates and fills W[0..depth-1] from (seed, DLN_STREAM_INIT). */
int dln_init_weights(const dln_shape *s, dln_init_kind kind, double scale, uint64_t seed, double ***W,
                     dln_error *err);
/* W (allocated) := the balanced factorisation of R (dy, dx) truncated to rank d_p:
 * W_H...W_1 = [R]_{d_p} and W_{j+1}^T W_{j+1} = W_j W_j^T. */
int dln_weights_balanced_factor(const dln_shape *s, const double *R, double **W, dln_error *err);
/* Allocates W[0..depth-1] zeroed (the host weights of a shape). */
int dln_weights_alloc(const dln_shape *s, double ***W, dln_error *err);
void dln_weights_free(int depth, double **W);
/* R (d_H, d_0) = W_H...W_1 of host weights, ld = d_H (CBLAS). */
int dln_weights_product(const dln_shape *s, double *const *W, double *R, dln_error *err);
/* Saving W1.npy..WH.npy into dir (src/model/weights_save.c): dir holds, at every instant,
 * the complete old set or the complete new one. The new set is staged in a sibling
 * directory, then swapped in by one atomic exchange (renameat2 RENAME_EXCHANGE; where the
 * filesystem refuses it, two renames, during which dir is briefly absent but a complete set
 * always exists under one of two names). Siblings left by killed saves are cleaned by the
 * next one. A symbolic link dir is followed: the directory it names is replaced, the link
 * is kept. An existing dir must hold only weight files (regular files W<k>.npy); ".", ".."
 * and "/" are refused. Messages start with dir. */
typedef struct dln_staged_weights dln_staged_weights;
enum { DLN_SAVE_NO_EXCHANGE = 1 }; /* commit flag: use the two-rename fallback (for tests) */
/* Checks that dir can be saved into, changing nothing (before any work is done). */
int dln_weights_check_dir(const char *dir, dln_error *err);
/* Writes the set into the staging sibling (synced to disk); dir is not touched yet. */
int dln_weights_stage(const char *dir, const dln_shape *s, double *const *W, dln_staged_weights **out,
                      dln_error *err);
/* Puts the staged set in place and removes the old one; frees st. A failure here
 * (DLN_ERUNTIME) leaves dir as it was. */
int dln_weights_commit(dln_staged_weights *st, unsigned flags, dln_error *err);
/* Removes the staged set; frees st (NULL is a no-op). */
void dln_weights_abort(dln_staged_weights *st);
/* Stage, then commit. */
int dln_weights_save(const char *dir, const dln_shape *s, double *const *W, dln_error *err);
/* Loads W1.npy..WH.npy from dir (depth from the files, at most DLN_MAX_DEPTH): exactly
 * those, with no gap and no other file named W<k>.npy; checks that the shapes chain and
 * match dx and dy. The set is read through one open directory. Messages start with dir. */
int dln_weights_load(const char *dir, int dx, int dy, dln_shape *s, double ***W, dln_error *err);
/* The shape dln_weights_load would give, from the file headers alone (nothing allocated
 * for the weights: for a memory check before loading). */
int dln_weights_shape(const char *dir, int dx, int dy, dln_shape *s, dln_error *err);

#endif
