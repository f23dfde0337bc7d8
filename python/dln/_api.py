"""_api.py: what the package offers besides training: synthetic problems, the shallow solve
(the library's `dln solve` experiment), backend selection, and the argument checks the
package shares (so that bad input raises before any call). Every call goes through
libdln.so (the library the CLI is built on) with the CLI's defaults, so the same
configuration gives the same numbers as `dln solve` / `dln train`.

Arrays are column-major with samples as columns, as in the library and the .npy files the
CLI reads: X is (dx, m), Y is (dy, m), weight W_i is (d_i, d_{i-1})."""
import ctypes as C
import numbers
import os

import numpy as np

from . import _lib
from ._errors import MAX_DIM, data_of, fail, raise_for
from ._experiment import Experiment, Handle

L = _lib.lib
PRECISIONS = {"fp64": (_lib.F64, _lib.MATH_DEFAULT), "fp32": (_lib.F32, _lib.MATH_DEFAULT),
              "tf32": (_lib.F32, _lib.MATH_TF32)}


def _int(name, v, lo, hi):
    """v as an int in [lo, hi] (bools and floats refused: a C int must not be truncated)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        fail("%s: expected an integer, got %r" % (name, v))
    if not lo <= int(v) <= hi:
        fail("%s: must be between %d and %d (got %d)" % (name, lo, hi, int(v)))
    return int(v)


def _num(name, v, lo, hi):
    """v as a finite float in [lo, hi]."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        fail("%s: expected a number, got %r" % (name, v))
    v = float(v)
    if not (lo <= v <= hi):
        fail("%s: must be between %g and %g (got %r)" % (name, lo, hi, v))
    return v


def _choice(name, v, table):
    if v not in table:
        fail("%s: expected one of %s, got %r" % (name, ", ".join(map(str, table)), v))
    return table[v]


def _path(name, v):
    """A directory argument as bytes for the library (None stays None)."""
    if v is None:
        return None
    if not isinstance(v, (str, bytes, os.PathLike)):
        fail("%s: expected a path, got %r" % (name, v))
    return os.fsencode(v)


LOSSES = ("square", "lp", "huber", "logistic", "softmax")
LABELS = {"values": 0, "binary": 1, "classes": 2}  # dln_labels


def _loss_params(loss, p, delta):
    """The loss by name (bytes) and its parameters as the library takes them, checked as
    `dln train --loss/--p/--delta` checks them: p is lp's exponent (default 4), delta
    huber's threshold (default 1), each only with its loss."""
    if loss not in LOSSES:
        fail("loss: expected one of %s, got %r" % (", ".join(LOSSES), loss))
    if p is not None and loss != "lp":
        fail("p: the lp loss's exponent: give loss='lp' (the loss is %s)" % loss)
    if delta is not None and loss != "huber":
        fail("delta: the huber loss's threshold: give loss='huber' (the loss is %s)" % loss)
    params = _lib.ObjectiveParams()
    if loss == "lp":
        params.p = _num("p", 4.0 if p is None else p, 2, 64)
    if loss == "huber":
        params.delta = _num("delta", 1.0 if delta is None else delta, 0, 1e300)
        if params.delta <= 0:
            fail("delta: must be > 0 (got %r)" % params.delta)
    return loss.encode(), params


class _Objective(Handle):
    """The library's objective for a loss, for the duration of one call."""

    def __init__(self, loss, p, delta):
        name, params = _loss_params(loss, p, delta)
        self.err, self.ptr = _lib.Error(), C.c_void_p()
        raise_for(L.dln_objective_create(name, C.byref(params), C.byref(self.ptr), C.byref(self.err)), self.err)

    def _free(self, ptr):
        L.dln_objective_destroy(ptr)


class _Backend(Handle):
    """A dln backend for the duration of one call (its error record outlives it)."""

    def __init__(self, backend, precision):
        kind = _choice("backend", backend, _lib.BACKENDS)
        self.dtype, math_mode = _choice("precision", precision, PRECISIONS)
        self.err, self.ptr, note = _lib.Error(), C.c_void_p(), C.c_char_p()
        raise_for(L.dln_backend_create(kind, C.byref(self.err), C.byref(self.ptr), C.byref(note)), self.err)
        self.name = L.dln_backend_name(self.ptr).decode()
        if math_mode == _lib.MATH_TF32 and not L.dln_backend_supports(self.ptr, _lib.CAP_TF32):
            self.close()
            fail("precision tf32 needs the cuda backend (this run is on the %s backend)" % self.name)
        rc = L.dln_backend_set_math(self.ptr, math_mode)
        if rc:
            self.close()
            raise_for(rc, self.err)

    def _free(self, ptr):
        L.dln_backend_destroy(ptr)


def backends():
    """The backends compiled into libdln.so, whether a CUDA device can be used, and the devices found."""
    buf = C.create_string_buffer(512)
    L.dln_devices_describe(buf, len(buf))
    return {"compiled": L.dln_backends_compiled().decode().split(","),
            "cuda_available": bool(L.dln_backend_available(_lib.BACKENDS["cuda"])),
            "devices": buf.value.decode(), "library": _lib.path}


def synthetic(dx=32, dy=32, samples=256, teacher_rank=8, noise=0.1, seed=1, labels="values"):
    """The CLI's synthetic problem (defaults as `dln train`): X ~ N(0,1) (dx, samples),
    Y = T X + noise N(0,1) with a teacher T of rank teacher_rank; labels="binary" makes
    Y = 1 where that is positive, else 0 (what `dln train --loss logistic` fits), "classes"
    one-hot columns at each column's largest entry (--loss softmax's). Returns (X, Y),
    float64, Fortran order (so they are handed to the library without a copy)."""
    o = _lib.SynthOpts(_int("dx", dx, 1, MAX_DIM), _int("dy", dy, 1, MAX_DIM),
                       _int("samples", samples, 1, MAX_DIM), _int("teacher_rank", teacher_rank, 1, MAX_DIM),
                       _num("noise", noise, 0, 1e150), _int("seed", seed, 0, 2 ** 64 - 1),
                       _choice("labels", labels, LABELS))
    d, err = _lib.Data(), _lib.Error()
    raise_for(L.dln_synth_make(C.byref(o), C.byref(d), C.byref(err)), err)
    try:
        raise_for(L.dln_data_validate(C.byref(d), C.byref(err)), err)
        X = _copy_matrix(d.X, d.dx, d.m)
        Y = _copy_matrix(d.Y, d.dy, d.m)
    finally:
        L.dln_data_free(C.byref(d))
    return X, Y


def _copy_matrix(ptr, rows, cols):
    """A fresh (rows, cols) Fortran-order copy of the column-major buffer at ptr."""
    flat = np.ctypeslib.as_array(ptr, shape=(rows * cols,))
    return np.array(flat.reshape((rows, cols), order="F"), order="F", copy=True)


def _experiment_opts(command, d, backend, precision, solver, rank_tol):
    """The experiment's options on the arrays of d (a dln_data viewing them; None: none), with the
    execution and solver settings every command shares."""
    o = _lib.ExperimentOpts()
    L.dln_experiment_opts_default(C.byref(o))
    o.command = _lib.COMMANDS[command]
    if d is not None:  # else a matrix problem's observations (dln._matrix)
        o.X, o.Y, o.dx, o.dy, o.m = d.X, d.Y, d.dx, d.dy, d.m
    o.backend = _choice("backend", backend, _lib.BACKENDS)
    o.train.dtype, o.math = _choice("precision", precision, PRECISIONS)
    route = C.c_int()
    if not isinstance(solver, str) or L.dln_solver_route_parse(solver.encode(), C.byref(route)):
        fail("solver: expected auto, svd or qr, got %r" % (solver,))
    o.route = route.value
    o.rank_tol = 0.0 if rank_tol is None else _num("rank_tol", rank_tol, 1e-300, 1)
    return o


def solve(X, Y, rank=None, rank_tol=None, solver="auto", backend="auto", save_solution=None, loss="square", p=None,
          delta=None, shallow_restarts=None):
    """The shallow optimum L* of min 1/2 ||R X - Y||^2 with rank(R) <= rank (None: no
    constraint), in closed form: every field of `dln solve`'s summary (the memory estimate
    included), with optimum_by_rank the rank path L*_j, plus the singular values of X and of
    the compressed target M. save_solution=DIR writes R* as DIR/R.npy (as --save-solution).
    loss="lp" (p=), "huber" (delta=), "logistic" or "softmax": min L(R X), as `dln solve
    --loss`: without an active rank bound a convex problem solved by Newton's method (optimum,
    optimum_kind "convex", or "unattained" on separable classification data, and the solver's
    iterations and gradient norm); with rank < min(dx, dy) the convex value as
    optimum_lower_bound and the best value certified by shallow_restarts (default 20) rank-k
    restarts as optimum_best_known, with the distinct local minima they reached
    (shallow_local_minima: value and count)."""
    d, keep = data_of(X, Y)
    keep = list(keep)
    o = _experiment_opts("solve", d, backend, "fp64", solver, rank_tol)
    o.rank = 0 if rank is None else _int("rank", rank, 1, MAX_DIM)
    o.solution_dir = _path("save_solution", save_solution)
    o.loss, o.loss_params = _loss_params(loss, p, delta)
    if shallow_restarts is not None:
        if loss == "square":
            fail("shallow_restarts: for the losses without a closed-form optimum (the square loss's is exact)")
        o.shallow_restarts = _int("shallow_restarts", shallow_restarts, 0, 100000)
    keep.append(o.loss)
    with Experiment(o, keep) as e:
        e.run()
        out = e.summary(0, _lib.SUMMARY_SPECTRA)
        e.commit()
    return out
