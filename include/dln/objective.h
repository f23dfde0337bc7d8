/* dln/objective.h: what a network's prediction is fitted to, as a loss. The prediction is
 * Z = W_H...W_1 X (d_H, n), columns samples: an objective gives the loss at Z, its gradient
 * dL/dZ (where the backward chain starts: the residual Z - Y for the square loss) and the
 * action of its Hessian d^2L/dZ^2 on a direction (what exact Hessian-vector products
 * need: the identity for the square loss), all computed on the backend for every member of
 * a network (dln/network.h). It also says whether it takes the input X and whether the
 * exact compression (X, Y) -> (C, M) of the data keeps its loss up to a constant (the
 * square loss's: docs/maths.md). Objectives are built in, one file each in src/objective/,
 * chosen by name; a NULL objective means the square loss everywhere in the library. */
#ifndef DLN_OBJECTIVE_H
#define DLN_OBJECTIVE_H

#include <stddef.h>

#include "dln/data.h"
#include "dln/matrix.h"
#include "dln/error.h"
#include "dln/ops.h"

typedef struct dln_objective dln_objective;

enum {
    DLN_OBJECTIVE_INPUT = 1,        /* the prediction is W_H...W_1 X (else it is the product itself) */
    DLN_OBJECTIVE_COMPRESSIBLE = 2, /* the loss on (C, M) is the loss on (X, Y) less a constant */
    DLN_OBJECTIVE_UNIT_CURVATURE = 4, /* 0 <= d^2L/dZ^2 <= I everywhere: the curvature bound of the
                                         automatic step (DLN_LR_ARORA) holds */
    DLN_OBJECTIVE_MATRIX = 8,       /* the prediction is the product itself, the unknown matrix (X = I):
                                       completion and sensing (dln/matrix.h) */
};

/* What an objective may be given besides its name (each objective says which it reads;
 * the others must be left zero). */
typedef struct {
    const double *weights; /* weighted_square: the row weights w_i > 0, one per output row */
    int n_weights;
    double p;              /* lp: the exponent, p >= 2 (below 2 the Hessian is unbounded at a zero residual) */
    double delta;          /* huber: the threshold between the quadratic and the linear part, > 0 */
    const dln_matrix_data *matrix; /* completion, sensing: the observations of the product (borrowed: it
                                      must outlive the objective) */
} dln_objective_params;

/* The objective called name with its parameters, checked (p may be NULL: none). The losses
 * (docs/maths.md 4.1): "square" 1/2 ||Z - Y||^2 (the default), "lp" (1/p) sum |Z - Y|^p,
 * "huber" sum h_delta(Z - Y), "logistic" sum softplus(Z) - Y o Z (Y in [0, 1]), "softmax"
 * sum_j logsumexp(Z_:j) - Y_:j^T Z_:j (columns of Y on the simplex), the row-weighted
 * "weighted_square", and on a product Z = R (X = I) that is the unknown matrix itself
 * (docs/maths.md 9) "completion" 1/2 sum over the observed entries (R_ij - v)^2 and
 * "sensing" 1/2 sum_l (<A_l, R> - b_l)^2, their observations in p->matrix (the target Y
 * they are given is ignored); dln_objectives() lists them. DLN_EINPUT for an unknown name, a
 * parameter out of range or one the objective does not take. */
int dln_objective_create(const char *name, const dln_objective_params *p, dln_objective **out, dln_error *err);
void dln_objective_destroy(dln_objective *o);
/* Comma-separated names of the built-in objectives into buf (cut to n bytes). */
void dln_objectives(char *buf, size_t n);
/* Its parameters as made (weights, p, delta). */
const dln_objective_params *dln_objective_params_of(const dln_objective *o);
/* Its name; NULL is the square loss. */
const char *dln_objective_name(const dln_objective *o);
/* An OR of DLN_OBJECTIVE_* flags. */
unsigned dln_objective_flags(const dln_objective *o);
/* The loss of the zero prediction Z = 0 on the target Y (rows, n), host fp64 with ld = rows:
 * the scale of a run (rel_gap's denominator where no solver gives one). */
double dln_objective_zero_loss(const dln_objective *o, const double *Y, int rows, int n);
/* The synthetic targets the objective fits: the teacher's values, or binary (logistic) or
 * one-hot (softmax) labels made from them. */
dln_labels dln_objective_labels(const dln_objective *o);
/* Whether Y (rows, n), host fp64 with ld = rows, is a target of the objective: finite, and
 * for logistic every entry in [0, 1], for softmax every column nonnegative with a sum within
 * rows x FLT_EPSILON of 1 (what labels normalised in fp32 keep). DLN_EINPUT saying where not. */
int dln_objective_check_target(const dln_objective *o, const double *Y, int rows, int n, dln_error *err);

/* ---- an objective on a backend: what a network computes its loss with --------------------
 * A state holds the target uploaded and the objective's scratch for `count` members whose
 * predictions Z_b (rows, n) lie `stride` elements apart (member b of an operand is the
 * descriptor moved by b x stride, as in dln/ops.h's batched operations). Its operations only
 * queue work through the handle they are given (capturable into a graph). */
typedef struct dln_objective_state dln_objective_state;

/* Backend bytes of such a state. */
double dln_objective_state_bytes(const dln_objective *o, int rows, int n, dln_dtype dtype, int count);
/* The state on backend be (failures recorded in be's record). */
int dln_objective_state_create(const dln_objective *o, dln_backend *be, int rows, int n, dln_dtype dtype, int count,
                               dln_objective_state **out);
void dln_objective_state_destroy(dln_objective_state *st);
/* The target Y (rows, n), host fp64, ld = rows, uploaded. */
int dln_objective_set_target(dln_objective_state *st, const double *Y);
/* The loss is this multiple of the value dln_objective_gradient reduces (1/2 for a sum of squares). */
double dln_objective_value_scale(const dln_objective *o);
/* For members b = lo .. lo + count - 1: Z_b := dL/dZ at Z_b in place (Z: member lo's
 * descriptor), and where out is given the value whose value_scale multiple is member b's
 * loss into out[index + b - lo] (an fp64 column in backend memory). */
int dln_objective_gradient(dln_objective_state *st, dln_backend *be, dln_mat *Z, size_t stride, int lo, int count,
                           dln_mat *out, int index);
/* For the same members: D_b := (d^2 L / dZ^2 at Z_b) D_b in place, Z_b the prediction
 * (before dln_objective_gradient replaced it); nothing for the square loss (the identity). */
int dln_objective_hessian(dln_objective_state *st, dln_backend *be, const dln_mat *Z, size_t stride_z, dln_mat *D,
                          size_t stride_d, int lo, int count);

#endif
