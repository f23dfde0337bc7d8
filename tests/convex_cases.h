/* convex_cases.h: the problems of the shallow solvers' tests (test_shallow_convex.c,
 * test_shallow_rank_k.c): random data for a loss, and the long-double host oracle of
 * f(R) = L(R X) and its gradient. */
#ifndef DLN_TEST_CONVEX_CASES_H
#define DLN_TEST_CONVEX_CASES_H

#include <criterion/criterion.h>

#include "test_support.h"

typedef struct {
    const char *name;
    dln_objective_params p;
    dln_loss l; /* the same loss for the host oracle */
} convex_spec;

typedef struct {
    dln_error err;
    dln_backend *be;
    dln_data d;
    dln_objective *obj;
    dln_rng g;
    uint64_t seed;
    char label[64];
} convex_case;

#define OK(c, call) cr_assert_eq((call), DLN_OK, "%s: %s: %s (seed %llu)", (c)->label, #call, (c)->err.msg, \
                                 (unsigned long long)(c)->seed)

/* Random X (dx, m); Y (dy, m): a noisy linear teacher's values (labels 0: the regression
 * losses), or labels drawn independently of X (1: 0/1 entries; 2: one-hot columns), which
 * no R separates once m is large against dx, or (3) 0/1 labels of a noiseless teacher's
 * sign: separable. */
void case_make(convex_case *c, dln_backend_kind kind, const char *name, const dln_objective_params *p, int dx, int dy,
               int m, int labels);
void case_free(convex_case *c);
/* The oracle: L(R X) in long double, and its gradient dL/dR into G (dy, dx) when G. */
double oracle(const convex_case *c, const dln_loss *l, const double *R, double *G);
double norm(const double *a, size_t n);

#endif
