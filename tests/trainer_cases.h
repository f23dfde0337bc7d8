/* trainer_cases.h: what the trainer tests share (tests/test_trainer.c,
 * tests/test_trajectories.c): a problem (synthetic teacher data, optionally with a
 * rank-deficient X), its shape and shallow solution on one backend, default options and
 * a training call that asserts success. */
#ifndef DLN_TRAINER_CASES_H
#define DLN_TRAINER_CASES_H

#include "test_support.h"

typedef struct {
    dln_backend_kind kind;
    uint64_t seed;
    dln_error err;
    dln_backend *be;
    dln_data d;
    dln_shallow sh;
    dln_shape s;
} tr_case;

#define SEED(c) (unsigned long long)(c)->seed

/* Teacher data (dln_synth_make, dims[0] -> dims[depth], m samples) on a backend of this
 * kind; with rx > 0, X = A B of rank rx and Y a fresh teacher on it. */
void tr_case_make(tr_case *c, dln_backend_kind kind, int depth, const int *dims, int m, int teacher_rank, double noise,
               int rx);
void tr_case_free(tr_case *c);
/* Initial weights of the case's shape by a library scheme (scale 1, the case's seed). */
double **tr_init(tr_case *c, dln_init_kind kind);
dln_train_opts opts(double lr, long steps, double tol, dln_data_mode mode);
/* dln_train from W (in/out), asserting success. */
dln_train_result train(tr_case *c, double **W, const dln_train_opts *o);

#endif
