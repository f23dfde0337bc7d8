/* dln/dln.h: the whole public API of the dln library in one include.
 *
 * Layers, bottom up: errors, the clock, the JSON writer and the random generator
 * (core); problem data and .npy files; backends and the matrix operations on them; the
 * network's shape and host weights; the network in backend memory with its one training
 * step; the shallow solver; the trainer; host diagnostics of weights. Host matrices are
 * fp64, column-major, ld = rows unless an ld is given. Every fallible call returns DLN_OK
 * or a dln_status and describes the failure in the caller's dln_error. */
#ifndef DLN_DLN_H
#define DLN_DLN_H

#define DLN_VERSION "0.2.0"

#include "dln/error.h"
#include "dln/clock.h"
#include "dln/json.h"
#include "dln/rng.h"
#include "dln/data.h"
#include "dln/backend.h"
#include "dln/ops.h"
#include "dln/objective.h"
#include "dln/problem.h"
#include "dln/model.h"
#include "dln/network.h"
#include "dln/solver.h"
#include "dln/trainer.h"
#include "dln/diagnostics.h"
#include "dln/memory.h"
#include "dln/experiment.h"

#endif
