/* shallow_eval.h: what the shallow solvers of src/solver share (internal): the shallow
 * objective f(R) = L(R X) of a loss on data evaluated on a backend (its value, its gradient
 * and its Hessian's action, R and directions host dy x dx, ld dy), and a truncated Newton
 * method with conjugate gradients and an Armijo line search over any smooth function given
 * by callbacks (newton_cg.c). The convex solve (convex.c), the rank-k solver (rank_k.c) and
 * the local-minimum certificate (certify.c) are built from these two. */
#ifndef DLN_SHALLOW_EVAL_H
#define DLN_SHALLOW_EVAL_H

#include <stddef.h>

#include "dln/objective.h"
#include "dln/solver.h"

/* ---- shallow_eval.c ---------------------------------------------------------------------- */
typedef struct dln_shallow_eval dln_shallow_eval;

/* The objective obj (NULL: the square loss) on d, X and Y uploaded to be (fp64). */
int dln_shallow_eval_create(dln_backend *be, const dln_objective *obj, const dln_data *d, dln_shallow_eval **out);
void dln_shallow_eval_destroy(dln_shallow_eval *ev);
/* f(R) into *value, and g = df/dR (dy, dx) where g is not NULL; R becomes the point of the
 * Hessian's action. */
int dln_shallow_eval_at(dln_shallow_eval *ev, const double *R, double *value, double *g);
/* hv = (d^2 f / dR^2 at the last point) v, v and hv (dy, dx). */
int dln_shallow_eval_hvp(dln_shallow_eval *ev, const double *v, double *hv);
/* Evaluations and Hessian actions made so far. */
long dln_shallow_eval_count(const dln_shallow_eval *ev, long *hvps);

/* ---- newton_cg.c ------------------------------------------------------------------------- */
/* A smooth function of x in R^n by callbacks: eval sets f(x), its gradient g and the point
 * of hvp's action (the last x evaluated). */
typedef struct {
    size_t n;
    int (*eval)(void *ctx, const double *x, double *f, double *g);
    int (*hvp)(void *ctx, const double *v, double *hv);
    void *ctx;
    double max_growth; /* > 0: stop (escaped) once ||x|| exceeds this multiple of its size after the first
                          step: a loss whose infimum is approached only at infinity (partly separable
                          data: the margins of some samples grow without bound while others' do not) */
} dln_newton_fn;

typedef struct {
    double value, grad_norm, grad_norm0;
    int iterations;
    long products;
    int converged; /* grad_norm <= the target */
    int below;     /* stopped because the value fell below the floor given */
    int stuck;     /* no step along the direction lowered f (as far as fp64 goes) */
    int escaped;   /* ||x|| grew past max_growth times its size after the first step */
} dln_newton_result;

/* Newton-CG from x (updated in place) until ||g|| <= grad_target, f <= floor (pass -INFINITY
 * for none), max_iter steps or no step lowering f. Directions of non-positive curvature met
 * at the first CG product fall back to -g (so saddles are left, not converged to, where
 * their negative curvature is seen). Failures recorded in err. */
int dln_newton_cg(const dln_newton_fn *fn, double *x, double grad_target, double floor, int max_iter,
                  dln_newton_result *res, dln_error *err);
/* The same stopping rules by a trust-region Newton method (Steihaug-Toint CG): directions of
 * negative curvature are followed to the region's boundary, for non-convex functions. */
int dln_trust_region(const dln_newton_fn *fn, double *x, double grad_target, double floor, int max_iter,
                     dln_newton_result *res, dln_error *err);

/* ---- convex.c ---------------------------------------------------------------------------- */
/* dln_shallow_convex on an evaluator of obj on d made already. */
int dln_shallow_convex_with(dln_shallow_eval *ev, const dln_objective *obj, const dln_data *d, double tol,
                            int max_iter, double *R, dln_convex_result *res, dln_error *err);

/* ---- certify.c --------------------------------------------------------------------------- */
/* dln_shallow_certify_at on an evaluator made already (its last point becomes R). */
int dln_shallow_certify_with(dln_shallow_eval *ev, const dln_data *d, const double *R, int k, int hess_iters,
                             uint64_t seed, dln_certificate *c, dln_error *err);

#endif
