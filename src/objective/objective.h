/* objective.h: the interface every objective implements (internal to src/objective/; the
 * public face, the objectives and their states on a backend, is dln/objective.h). An objective is one file in this folder defining one
 * dln_objective_ops, listed once in registry.c. Its backend work runs on a state it makes
 * per network: the target uploaded, and any scratch, for `count` members whose predictions
 * Z_b (rows, n) lie `stride` elements apart in one allocation (member b of an operand is
 * the descriptor moved by b x stride, as in dln/ops.h's batched operations). Everything it
 * issues goes through the backend handle it is given at each call (a worker thread's own
 * handle, say), only queues work (so a step can be captured into a graph), and uses the
 * batched operations of dln/ops.h, which every backend implements (CPU loops, CUDA
 * kernels): one call per operation for all the members of a range. */
#ifndef DLN_OBJECTIVE_INTERNAL_H
#define DLN_OBJECTIVE_INTERNAL_H

#include "dln/objective.h"
#include "dln/ops.h"

typedef struct {
    const char *name;
    unsigned flags;     /* DLN_OBJECTIVE_* */
    double value_scale; /* the loss is value_scale times the value `gradient` reduces (1/2 for a sum of squares) */
    dln_loss_kind loss; /* the dln_loss operations it runs on (loss_state.c), 0 for none */
    dln_labels labels;  /* the synthetic targets it fits */
    /* p checked when the objective is made (NULL: no parameters read); the loss operations'
     * parameter (p, delta) into *param */
    int (*check)(const dln_objective_params *p, double *param, dln_error *err);
    /* Y (rows, n) a target of this objective, beyond being finite (NULL: any) */
    int (*check_target)(const double *Y, int rows, int n, dln_error *err);
    /* Backend bytes of a state for count members of (rows, n) predictions in dtype. */
    double (*state_bytes)(const dln_objective *o, int rows, int n, dln_dtype dtype, int count);
    /* The state on backend be (failures recorded in be's record); *out NULL on failure. */
    int (*state_create)(const dln_objective *o, dln_backend *be, int rows, int n, dln_dtype dtype, int count,
                        void **out);
    void (*state_destroy)(dln_backend *be, void *state);
    /* The target Y (rows, n), host fp64, ld = rows, uploaded. */
    int (*set_target)(void *state, dln_backend *be, const double *Y);
    /* For members b = lo .. lo + count - 1: Z_b (rows, n) := dL/dZ at Z_b in place, and when
     * out is given the value whose value_scale multiple is member b's loss into out[index + b - lo]
     * (an fp64 column in backend memory). Z is member lo's descriptor. */
    int (*gradient)(void *state, dln_backend *be, dln_mat *Z, size_t stride, int lo, int count, dln_mat *out,
                    int index);
    /* For the same members: D_b := (d^2 L / dZ^2 at Z_b) D_b in place, Z_b the prediction
     * (before `gradient` replaced it). NULL: the Hessian is the identity (D unchanged). */
    int (*hessian)(void *state, dln_backend *be, const dln_mat *Z, size_t stride_z, dln_mat *D, size_t stride_d,
                   int lo, int count);
    /* The loss of Z = 0 on the host target Y (rows, n). */
    double (*zero_loss)(const dln_objective *o, const double *Y, int rows, int n);
} dln_objective_ops;

struct dln_objective {
    const dln_objective_ops *ops;
    dln_objective_params p; /* copied: weights owned */
    dln_loss loss;          /* ops->loss with its parameter */
};

/* The built-in objectives (registry.c), NULL-terminated; the square loss (square.c) is the default. */
extern const dln_objective_ops *const dln_objective_table[];
extern const dln_objective_ops dln_objective_square;

/* 1/2 sum_ij w_i Y_ij^2 of a host (rows, n) matrix, w NULL: every w_i = 1 (the zero
 * prediction's loss of the square losses). */
double dln_objective_half_sumsq(const double *Y, int rows, int n, const double *w);

/* The losses run by the dln_loss operations (lp.c, huber.c, logistic.c, softmax.c) share their
 * state and backend work (loss_state.c): the target uploaded, the gradient and its value in
 * one dln_loss_gradient_batched, the Hessian's action in one dln_loss_hessian_batched. */
double dln_loss_state_bytes(const dln_objective *o, int rows, int n, dln_dtype dtype, int count);
int dln_loss_state_create(const dln_objective *o, dln_backend *be, int rows, int n, dln_dtype dtype, int count,
                          void **out);
void dln_loss_state_destroy(dln_backend *be, void *state);
int dln_loss_state_set_target(void *state, dln_backend *be, const double *Y);
int dln_loss_state_gradient(void *state, dln_backend *be, dln_mat *Z, size_t stride, int lo, int count, dln_mat *out,
                            int index);
int dln_loss_state_hessian(void *state, dln_backend *be, const dln_mat *Z, size_t stride_z, dln_mat *D,
                           size_t stride_d, int lo, int count);
/* Those six entries of a dln_objective_ops, for the losses that run on them. */
#define DLN_LOSS_STATE_OPS                                                                                   \
    .state_bytes = dln_loss_state_bytes, .state_create = dln_loss_state_create,                              \
    .state_destroy = dln_loss_state_destroy, .set_target = dln_loss_state_set_target,                        \
    .gradient = dln_loss_state_gradient, .hessian = dln_loss_state_hessian
/* A parameter the objective does not take, refused by name (what: "weights", "p", "delta", "matrix"). */
int dln_objective_no_param(const char *objective, const dln_objective_params *p, const char *takes,
                           dln_error *err);

/* o, or the square loss where o is NULL. */
const dln_objective *dln_objective_or_square(const dln_objective *o);


#endif
