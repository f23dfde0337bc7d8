"""_matrix.py: dln.complete and dln.sense: deep matrix completion and sensing, where the
product W_H...W_1 is the (rows, cols) matrix itself, as `dln train --entries` and `dln train
--sensing` run them (the same library experiment, defaults and summary fields), with the
observations given as arrays."""
import ctypes as C

import numpy as np

from . import _lib
from ._api import _int
from ._errors import MAX_DIM, fail
from ._train import train

_TRAIN_ONLY = ("loss", "p", "delta", "_matrix")


def _entries(name, E):
    """E as a (k, 3) Fortran-order float64 array (the library checks its indices and values)."""
    a = np.asarray(E, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3 or a.shape[0] < 1:
        fail("%s: expected a (k, 3) array of (row, col, value) with k >= 1, got shape %s" % (name, a.shape))
    return np.asfortranarray(a)


def _shape_of(shape):
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        fail("shape: expected (rows, cols), got %r" % (shape,))
    return _int("shape[0]", shape[0], 1, MAX_DIM), _int("shape[1]", shape[1], 1, MAX_DIM)


def _common(o, keep, kind, rows, cols, test_entries, nuclear):
    o.matrix, o.rows, o.cols = kind, rows, cols
    if test_entries is not None:
        T = _entries("test_entries", test_entries)
        keep.append(T)
        o.test_entries, o.n_test = T.ctypes.data_as(_lib.DP), T.shape[0]
    if nuclear is not None:
        if not isinstance(nuclear, bool):
            fail("nuclear: expected True, False or None (where cheap), got %r" % (nuclear,))
        o.nuclear = int(nuclear)
    return cols, rows  # the network maps d_0 = cols to d_H = rows


def _check_kwargs(kw):
    for k in _TRAIN_ONLY:
        if k in kw:
            fail("%s: a matrix problem's loss is the square loss on its observations" % k)


def complete(entries, shape, test_entries=None, nuclear=None, **kw):
    """Deep matrix completion (`dln train --entries`): gradient descent on
    1/2 sum over the observed entries (i, j, v) of ((W_H...W_1)_ij - v)^2, the product the
    (rows, cols) = shape matrix itself. entries: a (k, 3) array of (row, col, value), 0-based
    (indices integral, in range and distinct; k >= 1); test_entries: held-out entries of the
    same form. Every keyword of dln.train applies (depth, width(s), init, init_scale, seeds
    and the other lists for a batch, lr, steps, tol, log_every, observe, hessian, save, ...).
    Returns dln.train's dict (or list of dicts for a batch) with, besides its fields, the
    final product's test_error (||P_T(R - R*)||_F / ||P_T(R*)||_F over the held-out entries),
    effective_rank (exp of the entropy of sigma / sum sigma), nuclear_norm and train_rmse, the
    same three on every trace row, and with nuclear=True (None: where rows x cols <= 65536)
    the nuclear-norm minimisation baseline: nuclear_min_value, nuclear_min_test_error,
    nuclear_min_effective_rank, nuclear_min_residual, nuclear_min_iterations. The shallow
    reference (optimum, optimum_kind) is min over rank(R) <= the narrowest layer: 0 without
    an active bound (kind convex), else the best value certified by shallow_restarts restarts."""
    _check_kwargs(kw)
    rows, cols = _shape_of(shape)
    E = _entries("entries", entries)

    def setup(o, keep):
        keep.append(E)
        o.entries, o.n_entries = E.ctypes.data_as(_lib.DP), E.shape[0]
        return _common(o, keep, _lib.MATRIX_COMPLETION, rows, cols, test_entries, nuclear)

    return train(None, None, _matrix=setup, **kw)


def sense(A, b, shape, test_entries=None, nuclear=None, **kw):
    """Deep matrix sensing (`dln train --sensing A.npy --b b.npy`): gradient descent on
    1/2 sum_l (<A_l, W_H...W_1> - b_l)^2, the product the (rows, cols) = shape matrix. A: a
    (k, rows * cols) array whose row l reshaped to (rows, cols) in C order (numpy's default)
    is A_l; b: k measurements. The rest as dln.complete (the nuclear-norm baseline needs
    k <= rows * cols)."""
    _check_kwargs(kw)
    rows, cols = _shape_of(shape)
    Am = np.asarray(A, dtype=np.float64)
    bv = np.asarray(b, dtype=np.float64).reshape(-1)
    if Am.ndim != 2 or Am.shape[0] < 1 or Am.shape[1] != rows * cols:
        fail("A: expected a (k, rows * cols) = (k, %d) array, got shape %s" % (rows * cols, Am.shape))
    if bv.shape[0] != Am.shape[0]:
        fail("b: %d measurements for %d sensing matrices" % (bv.shape[0], Am.shape[0]))
    Am, bv = np.asfortranarray(Am), np.ascontiguousarray(bv)

    def setup(o, keep):
        keep.extend([Am, bv])
        o.sensing_A, o.sensing_b, o.n_measurements = Am.ctypes.data_as(_lib.DP), bv.ctypes.data_as(_lib.DP), Am.shape[0]
        return _common(o, keep, _lib.MATRIX_SENSING, rows, cols, test_entries, nuclear)

    return train(None, None, _matrix=setup, **kw)
