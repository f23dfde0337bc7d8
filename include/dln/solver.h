/* dln/solver.h: the shallow problem min 1/2 ||R X - Y||^2 subject to rank(R) <= k, in
 * closed form (docs/maths.md): its optimum L*, the least-squares value, the ranks and
 * the exact compression (C, M) the trainer may run on. Every factorisation runs on the
 * backend in fp64, by one of two routes: a thin SVD of X^T (or X), or a Householder QR of
 * X^T followed by an SVD of its small triangular factor (never forming an m x r factor). */
#ifndef DLN_SOLVER_H
#define DLN_SOLVER_H

#include "dln/backend.h"
#include "dln/data.h"
#include "dln/problem.h"

#include <stdint.h>

/* How the solver factorises (docs/maths.md section 2). AUTO: QR when m >= dx (X^T tall
 * or square), else SVD. QR needs m >= dx; SVD works for every shape. */
typedef enum { DLN_SOLVER_AUTO = 0, DLN_SOLVER_SVD = 1, DLN_SOLVER_QR = 2 } dln_solver_route;

typedef struct {
    int dx, dy, m;
    int k;                    /* rank bound used: min(k requested, dx, dy) */
    int rank_x, rank_y;
    double tol_x, tol_y;      /* absolute singular-value thresholds used for the ranks */
    double optimum;           /* L* = 1/2 ||Y - M U_r^T||^2 + 1/2 sum_{i>k} sigma_i(M)^2 */
    double lstsq;             /* unconstrained least squares: 1/2 ||Y - M U_r^T||^2 */
    double y_half;            /* 1/2 ||Y||^2: the loss of the zero predictor */
    double tail;              /* 1/2 sum_{i>k} sigma_i(M)^2 */
    double sigma_k, sigma_k1; /* sigma_k(M), sigma_{k+1}(M) (0 when absent) */
    int constrained;          /* k < rank of M: the rank bound is active */
    int hypotheses;           /* X and Y have full row rank (Thm 2.3) */
    double cond_x;            /* sigma_1(X) / sigma_r(X) */
    int r;                    /* = rank_x: columns of the compressed problem */
    double *sx;               /* singular values of X (min(dx, m)), host, owned */
    double *sm;               /* singular values of M (min(dy, r)), host, owned */
    double *optimum_by_rank;  /* L*_j for j = 0..n_ranks-1 (the rank path), host, owned */
    int n_ranks;              /* min(dy, r) + 1: beyond rank min(dy, r) nothing changes */
    double *C;                /* compressed input  V_r S_r (dx, r), host, owned, or NULL */
    double *M;                /* compressed target Y U_r   (dy, r), host, owned, or NULL */
    dln_solver_route route;   /* the route that ran: DLN_SOLVER_SVD or DLN_SOLVER_QR */
    int qr_blocks;            /* QR route: blocks of rows of X^T factored (1: one QR of all of X^T) */
    int qr_block_rows;        /* QR route: rows of X^T per block after the first */
} dln_shallow;

/* "auto", "svd", "qr" (NULL for anything else), and back (0 on success, -1 unknown). */
const char *dln_solver_route_name(dln_solver_route r);
int dln_solver_route_parse(const char *s, dln_solver_route *r);

typedef struct {
    int k;                  /* rank bound; <= 0: none */
    double rtol;            /* <= 0: the default thresholds (below) */
    int keep_compressed;    /* also return C and M */
    dln_solver_route route; /* default DLN_SOLVER_AUTO */
    int block_rows;         /* QR route: rows of X^T per block after the first; 0: chosen from
                               the backend's memory (one block when X^T fits on a device) */
} dln_shallow_opts;

/* k 0, rtol 0, keep_compressed 0, route AUTO, block_rows 0. */
void dln_shallow_opts_default(dln_shallow_opts *o);
/* The shallow optimum by the route o->route; out->route says which ran. A working set that
 * cannot fit in the backend's free memory is refused (DLN_EINPUT) before anything is
 * allocated; so is the QR route with m < dx. */
int dln_shallow_solve_opts(dln_backend *be, const dln_data *d, const dln_shallow_opts *o, dln_shallow *out,
                           dln_error *err);
/* How a solve of a (dx, dy, m) problem with these options will run on this backend: the
 * route, for the QR route its blocks, and its working set in backend memory (fp64 matrices
 * plus an allowance for the factorisations' workspaces). Asks the backend's free memory;
 * refuses (DLN_EINPUT) what cannot fit and a QR route with m < dx. */
typedef struct {
    dln_solver_route route; /* DLN_SOLVER_SVD or DLN_SOLVER_QR */
    int block_rows;         /* QR route: rows of X^T per block after the first (0: SVD route) */
    int blocks;             /* QR route: how many blocks (1: one geqrf of all of X^T) */
    int chunk;              /* QR route: columns of X and Y uploaded and transposed at a time */
    double bytes;           /* backend memory the solve allocates */
} dln_shallow_layout;
int dln_shallow_plan_memory(dln_backend *be, int dx, int dy, int m, const dln_shallow_opts *o,
                            dln_shallow_layout *out, dln_error *err);

/* k <= 0 means no constraint. rtol <= 0 picks the defaults max(dx, m) * eps (for X) and
 * max(dy, m) * eps (for Y) relative to the largest singular value. keep_compressed: also
 * return C and M. The route is AUTO (dln_shallow_solve_opts chooses another). */
int dln_shallow_solve(dln_backend *be, const dln_data *d, int k, double rtol, int keep_compressed,
                      dln_shallow *out, dln_error *err);
void dln_shallow_free(dln_shallow *s);
/* Bytes dln_shallow_solve_opts takes by `route` (AUTO: as it chooses) on a (dx, dy, m)
 * problem (keep: keep_compressed), the QR route in blocks of host size: *peak at
 * its peak, backend and host memory together when the backend is host memory, else the
 * backend's alone, with *host_peak the host's part then; *kept the host bytes of the
 * result (singular values, the compressed pair) that outlive the solve. */
void dln_shallow_bytes(dln_solver_route route, int dx, int dy, int m, int keep, int backend_is_host, double *peak,
                       double *host_peak, double *kept);

/* A minimiser of the shallow problem with rank bound k (1 <= k): R* = [M]_k S_r^-2 C^T
 * (dy, dx) into R (ld = dy), from the compressed pair (the solve must have kept it).
 * Unique when sigma_k(M) > sigma_{k+1}(M). Host LAPACK on the small factors. */
int dln_shallow_solution(const dln_shallow *sh, int k, double *R, dln_error *err);

/* The square loss's training problem on d from its solution: the fit (the data, and the
 * compression with c0 = lstsq where the solve kept it) and the closed-form reference (with
 * the step-size rules' hints and the target's modes where it kept the compressed pair).
 * Both borrow from sh and d, which must outlive them; dln_reference_free frees ref. */
int dln_shallow_problem(const dln_shallow *sh, const dln_data *d, dln_fit *fit, dln_reference *ref, dln_error *err);

/* The first mode gradient descent learns from a small start, at its least-squares scale:
 * R1 = a u v^T (dy, dx, ld = dy) with (u, v) the top singular pair of Y X^T (the negative
 * gradient at W = 0) and a = argmin 1/2 ||a u v^T X - Y||^2 = sigma_1(Y X^T) / ||X^T v||^2.
 * From the compressed pair: u by power iteration on M S_r^2 M^T from a fixed start (so the
 * signs the SVD gave the columns of M and C do not matter). learnt = 0 (R1 untouched) when
 * Y X^T is zero. */
int dln_shallow_first_mode(const dln_shallow *sh, double *R1, int *learnt, dln_error *err);

/* The factorisations the solver performs for a (dx, dy, m) problem whose X has rank r, in
 * order: which operation, what is factorised, its shape as handed to the operation (gesvd
 * wants rows >= cols: a wide operand is transposed first) and whether singular vectors are
 * computed. For benchmarks that time the bare factorisations next to the solver. */
typedef enum {
    DLN_SVD_OF_X = 0, /* X, or X^T (m, dx) when transposed */
    DLN_SVD_OF_M = 1, /* M = Y U_r (dy, r), or its transpose */
    DLN_SVD_OF_Y = 2, /* Y, or Y^T (m, dy): QR route: Q^T applied to Y^T (ormqr) */
    DLN_SVD_OF_R = 3, /* QR route: R (dx, dx), the triangular factor of X^T */
    DLN_SVD_OF_E = 4, /* QR route: E (m - dx, dy), the rows of Q^T Y^T below the first dx */
    DLN_SVD_OF_F = 5, /* QR route: F = [rows dx of Q^T Y^T; R of E] (dx + min(dy, m - dx), dy): sigma(Y) */
} dln_svd_operand;
typedef enum { DLN_OP_GESVD = 0, DLN_OP_GEQRF = 1, DLN_OP_ORMQR = 2 } dln_factor_op;
typedef struct {
    dln_svd_operand operand;
    int transposed;   /* the operation gets the operand's transpose (X: X^T when m >= dx) */
    int rows, cols;   /* of the matrix factorised (gesvd: rows >= cols), or of C for ormqr */
    int vectors;      /* gesvd: U and VT are computed */
    dln_factor_op op; /* ormqr: Q^T (from the preceding geqrf, dx reflectors) applied to C */
} dln_svd_call;

#define DLN_SOLVER_SVDS 3
/* The SVD route: fills plan[0..DLN_SOLVER_SVDS) for X (dx, m) of rank r and Y (dy, m). */
void dln_shallow_plan(int dx, int dy, int m, int r, dln_svd_call plan[DLN_SOLVER_SVDS]);
#define DLN_SOLVER_MAX_CALLS 6
/* Either route (AUTO resolved by shape as the solver does): fills plan[0..n) and returns n.
 * The QR route lists each operation once on the whole operand (geqrf of X^T, ormqr on Y^T,
 * geqrf of E, gesvd of R, of M and of F), however many blocks the solver uses. */
int dln_shallow_plan_route(dln_solver_route route, int dx, int dy, int m, int r,
                           dln_svd_call plan[DLN_SOLVER_MAX_CALLS]);


/* ---- the shallow problem for any convex loss, without a rank bound ----------------------
 * min over R (dy, dx) of L(R X) for the objective obj (NULL: the square loss), by Newton's
 * method with conjugate gradients on exact Hessian-vector products and an Armijo line search
 * (src/solver/convex.c), the m-sized work on the backend in fp64. R (host, dy x dx, ld dy)
 * is the start on entry (zeros: R = 0) and the last iterate on return. It stops when
 * ||dL/dR|| <= tol ||dL/dR at R = 0||, after max_iter Newton steps, where no step lowers
 * the loss any more, or, for logistic and softmax, where the loss fell below 1e-10 of its
 * value at R = 0 (separable data: the infimum 0 is not attained). Failures are recorded in
 * err, the backend's record. */
typedef struct {
    double value;         /* L at the returned R */
    double zero_value;    /* L at R = 0 */
    double grad_norm;     /* ||dL/dR||_F at the returned R */
    double grad_norm0;    /* at the start */
    int iterations;       /* Newton steps taken */
    long hessian_products;
    int converged;        /* grad_norm <= tol grad_norm0 */
    int unattainable;     /* the loss's infimum may be unattained (logistic, softmax) */
    int unattained;       /* it stopped there: the loss fell below 1e-10 of zero_value, or R escaped */
    int escaped;          /* R grew to 1e4 times its size after the first step (partly separable data:
                             the infimum, above 0, lies at infinity) */
} dln_convex_result;

#define DLN_CONVEX_TOL 1e-12   /* the relative gradient norm `dln solve --loss` asks for */
#define DLN_CONVEX_MAX_ITER 200 /* and the Newton steps it allows */
int dln_shallow_convex(dln_backend *be, const struct dln_objective *obj, const dln_data *d, double tol, int max_iter,
                       double *R, dln_convex_result *res, dln_error *err);
/* Whether the loss's infimum may be unattained (logistic and softmax on separable data). */
int dln_shallow_infimum_unattainable(const struct dln_objective *obj);

/* ---- is a point a local minimum of the shallow problem with rank bound k? ---------------
 * dln_shallow_certify_at (src/solver/certify.c, docs/maths.md section 2.2): with r the
 * numerical rank of R (singular values above DLN_CERTIFY_RANK_TOL sigma_1), where k >=
 * min(dx, dy) or r < k the problem is convex near R and R is a local minimum exactly when
 * its Euclidean gradient vanishes; where r = k < min(dx, dy) R lies on the rank-k manifold
 * and is one when the Riemannian gradient vanishes and the Riemannian Hessian on the
 * tangent space (Lanczos, hess_iters products) has no eigenvalue below -DLN_CERTIFY_CURV_TOL
 * times its largest in magnitude (hess_iters < 0: the gradient alone, local_min 0; 0: the
 * default). Gradients are relative to ||dL/dR at R = 0||. */
#define DLN_CERTIFY_RANK_TOL 1.4901161193847656e-08 /* sqrt(eps): below, a singular value of R is 0 */
#define DLN_CERTIFY_GRAD_TOL 1e-8   /* relative gradient norm of a critical point (the solvers reach 1e-10) */
#define DLN_CERTIFY_CURV_TOL 1e-8   /* relative curvature below which an eigenvalue is negative */
#define DLN_CERTIFY_HESS_ITERS 400  /* Lanczos products: exact for tangent spaces up to this dimension */
typedef struct {
    int rank_bound;            /* k, clipped to min(dx, dy) */
    int product_rank;          /* r */
    int on_manifold;           /* r = k < min(dx, dy): the Riemannian test ran */
    double value;              /* f(R) */
    double sigma_k;            /* sigma_k(R) */
    double grad_scale;         /* ||dL/dR at R = 0||: what the gradients are relative to */
    double euclidean_grad_rel; /* ||G|| / grad_scale */
    double grad_rel;           /* the gradient the test reads: Riemannian on the manifold, else Euclidean */
    double hess_min, hess_max, hess_residual; /* the Riemannian Hessian's extremes (NaN off the manifold) */
    int hess_iterations, tangent_dim;
    int local_min;             /* the test's answer */
} dln_certificate;
int dln_shallow_certify_at(dln_backend *be, const struct dln_objective *obj, const dln_data *d, const double *R, int k,
                           int hess_iters, uint64_t seed, dln_certificate *c, dln_error *err);

/* ---- the shallow problem with an active rank bound -------------------------------------
 * min f(R) subject to rank R <= k < min(dx, dy), no closed form for a loss other than the
 * square: local solves on the factors R = U V^T (U dy x k, V dx x k) from `restarts` random
 * starts (src/solver/rank_k.c): alternating exact minimisation over U and V (each a convex
 * problem, solved by Newton-CG) until it slows, then a trust-region Newton method on (U, V)
 * together to a relative gradient of DLN_RANK_K_TOL; each end point certified (dln_shallow_certify_at).
 * The certified values grouped within DLN_MINIMA_GROUP_TOL of the zero predictor's loss are
 * the distinct local minima found; the lowest is the best known value. */
#define DLN_RANK_K_TOL 1e-11
#define DLN_MINIMA_GROUP_TOL 1e-9
#define DLN_SHALLOW_RESTARTS 20
typedef struct {
    double value;
    int count;
} dln_shallow_minimum;
typedef struct {
    int k, restarts;
    double zero_loss;            /* f(0) */
    dln_convex_result convex;    /* the convex problem's solve (no rank bound) */
    double lower_bound;          /* its optimum, <= every value */
    int lower_bound_unattained;  /* that problem's infimum is not attained (separable data) */
    double best;                 /* the lowest certified value (NaN: none certified) */
    double best_any;             /* the lowest value any restart reached */
    double *R;                   /* (dy, dx): the product at best (or best_any), owned */
    int certified;               /* restarts ending at a certified local minimum */
    int saddles;                 /* at a critical point with negative curvature */
    int unconverged;             /* neither */
    int unattained;              /* restarts that drove the loss to its infimum 0 (separable) */
    dln_shallow_minimum *minima; /* the distinct certified values, ascending, owned */
    int n_minima;
    long evaluations, hessian_products;
} dln_rank_k_result;
int dln_shallow_rank_k(dln_backend *be, const struct dln_objective *obj, const dln_data *d, int k, int restarts,
                       uint64_t seed, dln_rank_k_result *out, dln_error *err);
void dln_rank_k_free(dln_rank_k_result *r);

/* A deep run's product R (dy, dx) checked against the shallow problem with rank bound k:
 * its own certificate (rank and gradient, no Hessian: `at`), R carried to the local minimum
 * the local solve reaches from it (the convex solve where the bound is inactive or R's rank is
 * below k; moved = f(R) - f(that point) >= 0) and that point certified (`end`). */
typedef struct {
    dln_certificate at, end;
    double moved;
} dln_product_check;
int dln_shallow_check_product(dln_backend *be, const struct dln_objective *obj, const dln_data *d, const double *R,
                              int k, uint64_t seed, dln_product_check *out, dln_error *err);

#endif
