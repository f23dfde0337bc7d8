"""_derivatives.py: dln.loss, dln.gradient, dln.hvp and dln.flow: the loss of Z = W_H...W_1 X (the
square loss 1/2 ||Z - Y||^2 unless loss= names another, as dln.train's loss=), its gradient
with respect to every W_i and its exact Hessian-vector products at given weights, computed by the library's own chains on the chosen backend (the forward and
backward chains the trainer steps with, the Hessian-vector product its sharpness is
measured with), so that a researcher can build on dln's exact derivatives."""
import ctypes as C

import numpy as np

from . import _lib
from ._api import _Backend, _Objective
from ._errors import as_matrix, data_of, fail, raise_for
from ._train import _HostWeights, _dims_of

L = _lib.lib


def _weights(weights, dx, dy, name="weights"):
    """The weights as host arrays of the library (checked: chained from dx to dy, finite)."""
    arrays, dims = _dims_of(weights)
    if dims[0] != dx or dims[-1] != dy:
        fail("%s: they map %d -> %d but the data are %d -> %d" % (name, dims[0], dims[-1], dx, dy))
    w = _HostWeights(dims)
    for i, a in enumerate(arrays):
        if not np.all(np.isfinite(a)):
            w.close()
            fail("%s[%d]: not finite" % (name, i))
        np.ctypeslib.as_array(w.W[i], shape=(a.size,))[:] = a.ravel(order="F")
    return w, dims


def _arrays(w, dims):
    return [np.array(np.ctypeslib.as_array(w.W[i], shape=(dims[i + 1] * dims[i],)).reshape(
        (dims[i + 1], dims[i]), order="F"), order="F", copy=True) for i in range(len(dims) - 1)]


def _loss(X, Y, weights, backend, want_gradient, loss, p, delta):
    d, keep = data_of(X, Y)
    with _Objective(loss, p, delta) as obj:
        w, dims = _weights(weights, d.dx, d.dy)
        g = _HostWeights(dims) if want_gradient else None
        try:
            with _Backend(backend, "fp64") as be:
                value = C.c_double()
                raise_for(L.dln_loss_at(be.ptr, obj.ptr, C.byref(w.s), d.X, d.Y, d.m, w.W, C.byref(value),
                                        g.W if g else None, C.byref(be.err)), be.err)
            return value.value, (_arrays(g, dims) if g else None)
        finally:
            w.close()
            if g:
                g.close()
            del keep


def loss(X, Y, weights, backend="auto", loss="square", p=None, delta=None):
    """The loss at weights=[W1..WH] (W_i (d_i, d_{i-1})), on the backend: 1/2 ||W_H...W_1 X - Y||^2,
    or the loss named as in dln.train (loss="lp" with p=, "huber" with delta=, "logistic",
    "softmax")."""
    return _loss(X, Y, weights, backend, False, loss, p, delta)[0]


def gradient(X, Y, weights, backend="auto", loss="square", p=None, delta=None):
    """The gradient of the loss with respect to every W_i at the weights: a list of arrays
    shaped like the weights."""
    return _loss(X, Y, weights, backend, True, loss, p, delta)[1]


def hvp(X, Y, weights, direction, backend="auto", loss="square", p=None, delta=None):
    """The exact Hessian-vector product H V of the loss at the weights along direction=[V1..VH]
    (shaped like the weights): a list of arrays shaped like the weights."""
    d, keep = data_of(X, Y)
    obj = _Objective(loss, p, delta)
    w, dims = _weights(weights, d.dx, d.dy)
    v = hv = None
    try:
        v, vdims = _weights(direction, d.dx, d.dy, "direction")
        if vdims != dims:
            fail("direction: its shapes %s differ from the weights' %s" % (vdims, dims))
        hv = _HostWeights(dims)
        with _Backend(backend, "fp64") as be:
            raise_for(L.dln_hvp_at(be.ptr, obj.ptr, C.byref(w.s), d.X, d.Y, d.m, w.W, v.W, hv.W, C.byref(be.err)),
                      be.err)
        return _arrays(hv, dims)
    finally:
        for x in (w, v, hv, obj):
            if x:
                x.close()
        del keep


def flow(X, Y, weights, T, rtol=1e-8, backend="auto", loss="square", p=None, delta=None, max_tries=1000000):
    """The gradient flow dW/dt = -grad L(W) from weights=[W1..WH] to time T, integrated on the
    backend by the Dormand-Prince 5(4) pair with an adaptive step (error per step in the
    Frobenius norm over all layers below rtol max(||W||) plus an absolute part 1e-3 rtol
    ||W_start||; docs/maths.md section 10). Returns (the weights at T, a dict of the
    integrator's statistics: t, accepted, rejected, evaluations, last_h, loss, grad_norm)."""
    d, keep = data_of(X, Y)
    obj = _Objective(loss, p, delta)
    w, dims = _weights(weights, d.dx, d.dy)
    try:
        st = _lib.FlowStats()
        with _Backend(backend, "fp64") as be:
            raise_for(L.dln_flow_at(be.ptr, obj.ptr, C.byref(w.s), d.X, d.Y, d.m, w.W, float(T), float(rtol),
                                    int(max_tries), C.byref(st), C.byref(be.err)), be.err)
        stats = {f: getattr(st, f) for f, _ in _lib.FlowStats._fields_ if f != "reached"}
        return _arrays(w, dims), stats
    finally:
        w.close()
        obj.close()
        del keep
