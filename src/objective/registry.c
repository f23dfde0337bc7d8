/* registry.c: the built-in objectives. An objective is one file of this folder defining
 * `const dln_objective_ops dln_objective_<name>`, and one line `X(<name>) \` in the list
 * below; the first is the default (the square loss). */
#include "objective/objective.h"

#define OBJECTIVES(X)   \
    X(square)           \
    X(lp)               \
    X(huber)            \
    X(logistic)         \
    X(softmax)          \
    X(weighted_square)  \
    X(completion)       \
    X(sensing)          \
    /* (end of list) */

#define DECLARE(name) extern const dln_objective_ops dln_objective_##name;
#define ENTRY(name) &dln_objective_##name,
OBJECTIVES(DECLARE)

const dln_objective_ops *const dln_objective_table[] = {OBJECTIVES(ENTRY) NULL};
