/* dln/problem.h: a training problem as the trainer sees it: what the networks are fitted
 * to (dln_fit: the objective and its data, and where the objective allows it the data's
 * exact compression), and what their loss is measured against (dln_reference: the optimum
 * or best-known value of the shallow problem, the zero predictor's loss, the rank path when
 * known, and what kind of value it is). The trainer, the verdicts, the step-size rules and
 * the observables read these two and nothing of the solver that made them; the shallow
 * solver fills them for the square loss (dln_shallow_problem, dln/solver.h). A reference of
 * kind DLN_REFERENCE_NONE is legal: a run then has no gap and stops on its gradient-norm or
 * loss-change tolerance. Host matrices are fp64, column-major, ld = rows. */
#ifndef DLN_PROBLEM_H
#define DLN_PROBLEM_H

#include "dln/objective.h"

/* What the networks are fitted to. */
typedef struct {
    const dln_objective *objective; /* NULL: the square loss */
    int dx, dy, m;                  /* X (dx, m) and Y (dy, m): columns are samples */
    const double *X, *Y;
    /* The exact compression (C, M) of (X, Y) (r columns; r = 0: none): the loss on the data is
     * the loss on (C, M) plus offset, for every network (docs/maths.md section 2). */
    int r;
    const double *C, *M; /* (dx, r), (dy, r) */
    double offset;
} dln_fit;

typedef enum {
    DLN_REFERENCE_NONE = 0,        /* nothing known: no gap */
    DLN_REFERENCE_CLOSED_FORM = 1, /* the global optimum in closed form (the square loss) */
    DLN_REFERENCE_CONVEX = 2,      /* the optimum of a convex shallow problem, to a solver's tolerance */
    DLN_REFERENCE_BEST_KNOWN = 3,  /* the best value found, not proven optimal */
    DLN_REFERENCE_UNATTAINED = 4,  /* the infimum 0 is not attained (logistic, softmax on separable data): no gap */
} dln_reference_kind;

/* What a run's loss is measured against, and what is known about the target. Pointers are
 * borrowed from whatever made the reference (the shallow solution), or owned by it where
 * dln_reference_free says so; NaN / NULL / 0 where unknown. */
typedef struct {
    dln_reference_kind kind;
    double optimum;            /* L*: gap = loss - L* */
    double optimum_compressed; /* L* - the fit's offset, formed without cancellation: the optimum of the
                                  compressed problem, which a run on (C, M) is measured against */
    double zero_loss;          /* the zero predictor's loss: rel_gap = gap / zero_loss, and the scale of divergence */
    int rank_bound;            /* k: the narrowest layer's bound the optimum is for */
    const double *by_rank;     /* L*_j for j = 0 .. n_ranks - 1: the rank path (critical values) */
    int n_ranks;
    const double *target_sv;   /* the strengths of the target's modes sigma_i(M), n_ranks - 1 of them */
    double grad_scale;         /* the gradient's scale, grad_rel = ||G|| / it: sigma_1(X) ||Y|| */
    /* what the automatic step sizes use */
    double input_norm;         /* sigma_1(X) */
    double lstsq_norm;         /* ||R_ls||_2 of the least-squares map, estimated from below */
    double *first_mode;        /* (dy, dx), owned: the first mode a small start learns (the rule's floor) */
    /* the target's modes M = U S V^T (n_modes of them) and C, for the mode-strength observable
     * u_i^T R C v_i: U (dy, n_modes), VT (n_modes, r) and the strengths S owned, C (dx, r) borrowed */
    int n_modes, r;
    double *mode_U, *mode_VT, *mode_sv;
    const double *C;
    /* a matrix problem's observations and held-out entries (dln/matrix.h), borrowed: the
     * trace's test error, effective rank and nuclear norm of the product; NULL otherwise */
    const dln_matrix_data *matrix;
} dln_reference;

/* The reference of kind NONE for data whose zero predictor's loss is zero_loss. */
void dln_reference_none(dln_reference *ref, double zero_loss);
/* Frees what the reference owns (first_mode and the modes); safe on a zeroed one. */
void dln_reference_free(dln_reference *ref);
const char *dln_reference_kind_name(dln_reference_kind k);
/* Whether the reference has a value a run's gap is measured from (closed form, convex, best known). */
int dln_reference_has_value(const dln_reference *ref);

#endif
