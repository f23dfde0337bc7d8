"""_errors.py: dln's failures as Python exceptions, and the checks made on arrays before
any call into the library (so that bad input raises, never crashes the interpreter)."""
import ctypes as C

import numpy as np

from . import _lib


class Error(Exception):
    """A failure reported by dln; str() is dln's own message, .code its status."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class InputError(Error, ValueError):
    """Bad input: shapes, values, options, files (the CLI's exit status 2)."""


class RuntimeFailure(Error, RuntimeError):
    """A library or device failure while running (the CLI's exit status 1)."""


class OutOfMemory(Error, MemoryError):
    """Out of host or device memory."""


def raise_for(rc, err):
    """Raises the exception for a non-zero dln status, with the message in err."""
    if rc == _lib.OK:
        return
    msg = err.msg.decode("utf-8", "replace") or "failed (no message)"
    cls = {_lib.EINPUT: InputError, _lib.ENOMEM: OutOfMemory}.get(rc, RuntimeFailure)
    raise cls(msg, rc)


def fail(msg):
    """An input error found by the package itself (before calling the library)."""
    raise InputError(msg, _lib.EINPUT)


MAX_DIM = 1 << 24  # DLN_MAX_DIM


def as_matrix(name, a, rows=None):
    """a as a column-major float64 matrix the library can read in place. float64 arrays in
    Fortran order (e.g. the transpose of a C-order (m, d) array) are used without a copy;
    float32, C-order and non-contiguous arrays are copied once. Anything else (other ranks
    or dtypes, empty or oversized arrays, a row count other than `rows`) raises InputError."""
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except Exception as e:  # ragged lists and the like
            fail("%s: not an array (%s)" % (name, e))
    if a.ndim != 2:
        fail("%s: expected a 2-D array (features, samples), got %d dimension(s)" % (name, a.ndim))
    if a.dtype not in (np.float64, np.float32):
        fail("%s: expected float64 or float32, got %s (convert with .astype(float))" % (name, a.dtype))
    if a.shape[0] < 1 or a.shape[1] < 1:
        fail("%s: empty array of shape %s" % (name, a.shape))
    if max(a.shape) > MAX_DIM:
        fail("%s: shape %s exceeds the largest dimension %d" % (name, a.shape, MAX_DIM))
    if rows is not None and a.shape[0] != rows:
        fail("%s: expected %d rows, got shape %s" % (name, rows, a.shape))
    return np.asfortranarray(a, dtype=np.float64)


def data_of(X, Y):
    """A dln_data viewing X (dx, m) and Y (dy, m), and the arrays it points into (keep them
    alive while it is used). Checked by the library: finiteness, Y not zero, norms in range."""
    X, Y = as_matrix("X", X), as_matrix("Y", Y)
    if X.shape[1] != Y.shape[1]:
        fail("X and Y must have the same number of columns (samples): X is %s, Y is %s" % (X.shape, Y.shape))
    d = _lib.Data(X.shape[0], Y.shape[0], X.shape[1], X.ctypes.data_as(_lib.DP), Y.ctypes.data_as(_lib.DP))
    err = _lib.Error()
    raise_for(_lib.lib.dln_data_validate(C.byref(d), C.byref(err)), err)
    return d, (X, Y)
