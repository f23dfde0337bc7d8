/* shallow_cases.h: the problems and independent references of the shallow-solver tests
 * (tests/test_shallow.c, tests/test_shallow_rank1.c, tests/test_shallow_routes.c): data of
 * every shape class with a basis of X's row space known from the construction, the
 * least-squares (dgelsd) and projection (QR basis) references, and the solve on a chosen
 * backend by a chosen route. */
#ifndef DLN_SHALLOW_CASES_H
#define DLN_SHALLOW_CASES_H

#include "test_support.h"

typedef struct {
    int dx, dy, m;
    double *X, *Y;
    double *basis; /* (m, q) orthonormal basis of the row space of X, from the construction */
    int q;         /* rank of X by construction */
    int rank_y;    /* rank of Y by construction */
    double cond;   /* prescribed condition number of X, or 0 */
    uint64_t seed;
    dln_backend_kind kind; /* where dln_shallow_solve runs */
    dln_solver_route route; /* and by which route (AUTO unless a test sets it) */
    int block_rows;         /* QR route: rows of X^T per block (0: the solver's choice) */
} sh_case;

#define SEED(c) (unsigned long long)(c)->seed

/* Gaussian X; full rank min(dx, m); row space basis by QR of X^T (or all of R^m). */
void make_generic(sh_case *c, dln_backend_kind kind, int dx, int dy, int m, double noise);
/* X = A B with A (dx, r), B (r, m): rank r, row space = range(B^T). */
void make_rankdef_x(sh_case *c, dln_backend_kind kind, int dx, int dy, int m, int r);
/* Gaussian X (m > dx), Y = Ay By of rank ry < dy (not a function of X). */
void make_rankdef_y(sh_case *c, dln_backend_kind kind, int dx, int dy, int m, int ry);
/* X = U diag(s) V^T with s log-spaced from 1 to 1/cond; Y with noise orthogonal to the
 * row space of X, or (in_rowspace) inside it (see shallow_cases.c). */
void make_illcond(sh_case *c, dln_backend_kind kind, int dx, int dy, int m, double cond, int in_rowspace);
void sh_case_free(sh_case *c);

typedef struct {
    double y_half;
    double lstsq_ls, opt_ls, opt_feasible; /* dgelsd route */
    double lstsq_qr, opt_qr;               /* projection through the row-space basis */
    double *sm;                            /* singular values of Y Q (min(dy, q)) */
    int nm;
} sh_ref;

/* min_R ||R X - Y|| by dgelsd (rcond 1e-11). Returns R (dy, dx). */
double *gelsd_fit(int dx, int dy, int m, const double *X, const double *Y);
/* 1/2 ||R X - Y||^2 for R (dy, dx). */
double half_residual(const sh_case *c, const double *R);
/* 1/2 sum_{i >= k} s_i^2 of n values, the small ones first. */
double half_tail(const double *s, int n, int k);
/* Both reference routes for rank bound k. */
void reference(const sh_case *c, int k, sh_ref *r);
/* dln_shallow_solve_opts on c->kind by c->route with c->block_rows (asserts success). */
dln_shallow solve(const sh_case *c, int k, int keep);
/* The same by the given route and block rows. */
dln_shallow solve_route(const sh_case *c, int k, int keep, dln_solver_route route, int block_rows);

/* The routes the solver tests run each problem by: the SVD route, the QR route as the
 * solver lays it out (one block here: these problems are small), and the QR route in
 * blocks of 7 rows (many blocks, a short last one, E folded block by block). */
#define SH_ROUTES 3
typedef struct {
    const char *name;
    dln_solver_route route;
    int block_rows;
} sh_route;
extern const sh_route sh_routes[SH_ROUTES];
/* Sets c->route and c->block_rows; 0 when the route cannot run on c (QR with m < dx). */
int sh_use_route(sh_case *c, int i);

#endif
