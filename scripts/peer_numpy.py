"""Peer implementation for scripts/peers: the deep linear network trained by plain
full-batch gradient descent, written plainly in numpy (CPU).

Same mathematics and the same order of operations as dln's trainer (src/trainer/,
src/model/): forward A_i = W_i A_{i-1}, B_H = dL/dZ at Z = A_H (the loss's derivative,
dloss below: Z - Y for the square loss), backward G_i = B_i A_{i-1}^T,
B_{i-1} = W_i^T B_i (with the W_i of this step), and the update W_i <- W_i - lr G_i.
Every peer module exposes

    variants(opts) -> list of (name, runner or None, note)

where runner(X, Y, Ws, lr, steps) returns (final weights as float64 numpy arrays,
final loss, seconds of the training loop); opts.loss, opts.p and opts.delta name the loss.
"""
import time

import numpy as np


def loss_value(Z, Y, name="square", p=4.0, delta=1.0):
    """The loss of docs/maths.md section 4.1 at the prediction Z, in fp64 on the host, with
    the stable forms (softplus(z) = max(z, 0) + log1p(exp(-|z|)), logsumexp shifted by the
    column's largest entry)."""
    Z, Y = np.asarray(Z, dtype=np.float64), np.asarray(Y, dtype=np.float64)
    E = Z - Y
    if name == "square":
        return 0.5 * float(np.sum(E * E))
    if name == "lp":
        return float(np.sum(np.abs(E) ** p) / p)
    if name == "huber":
        a = np.abs(E)
        return float(np.sum(np.where(a <= delta, 0.5 * E * E, delta * (a - 0.5 * delta))))
    if name == "logistic":
        return float(np.sum(np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z))) - Y * Z))
    if name == "softmax":
        c = Z.max(axis=0, keepdims=True)
        return float(np.sum(c + np.log(np.sum(np.exp(Z - c), axis=0, keepdims=True))) - np.sum(Y * Z))
    raise ValueError("unknown loss %r" % name)


def loss(X, Y, Ws, name="square", p=4.0, delta=1.0):
    """The loss of W_H ... W_1 X against Y (the product in the arrays' own precision, the
    loss in fp64), returned as a float."""
    A = X
    for W in Ws:
        A = W @ A
    return loss_value(A, Y, name, p, delta)


def make_dloss(name, p=4.0, delta=1.0, *, tanh, clip, colmax, colsum, exp, sign, absf):
    """dL/dZ (Z, Y) for the loss `name`, written with the given framework's functions so
    that numpy, PyTorch and JAX run the same formulas: square Z - Y; lp
    sign(E) |E|^(p-1); huber clip(E, -delta, delta); logistic sigmoid(Z) - Y with
    sigmoid(z) = (1 + tanh(z/2)) / 2 (no overflow); softmax softmax(Z) - Y per column,
    shifted by the column's largest entry."""
    if name == "square":
        return lambda Z, Y: Z - Y
    if name == "lp":
        return lambda Z, Y: sign(Z - Y) * absf(Z - Y) ** (p - 1)
    if name == "huber":
        return lambda Z, Y: clip(Z - Y, -delta, delta)
    if name == "logistic":
        return lambda Z, Y: 0.5 * (1 + tanh(0.5 * Z)) - Y

    def softmax(Z, Y):
        e = exp(Z - colmax(Z))
        return e / colsum(e) - Y

    if name == "softmax":
        return softmax
    raise ValueError("unknown loss %r" % name)


def numpy_dloss(opts):
    return make_dloss(getattr(opts, "loss", "square"), getattr(opts, "p", 4.0), getattr(opts, "delta", 1.0),
                      tanh=np.tanh, clip=np.clip, exp=np.exp, sign=np.sign, absf=np.abs,
                      colmax=lambda Z: Z.max(axis=0, keepdims=True), colsum=lambda Z: Z.sum(axis=0, keepdims=True))


def opts_loss(opts):
    """(name, p, delta) of the run's loss, for loss()."""
    return getattr(opts, "loss", "square"), getattr(opts, "p", 4.0), getattr(opts, "delta", 1.0)


def functional_step(Ws, X, Y, lr, dloss=lambda Z, Y: Z - Y):
    """One plain GD update, returning new weights; only `@`, `.T` and `-` on the arrays (and
    dloss's functions), so the same code serves numpy, PyTorch (torch.compile) and JAX (jit)."""
    H = len(Ws)
    A = [X]
    for W in Ws:
        A.append(W @ A[-1])
    B = dloss(A[H], Y)
    new = [None] * H
    for i in range(H - 1, -1, -1):
        G = B @ A[i].T
        if i > 0:
            B = Ws[i].T @ B  # with W_i before its update
        new[i] = Ws[i] - lr * G
    return new


def gd(X, Y, Ws, lr, steps, dloss):
    """`steps` plain GD updates of Ws in place (arrays of one dtype)."""
    H = len(Ws)
    lr = Ws[0].dtype.type(lr)
    for _ in range(steps):
        A = [X]
        for W in Ws:
            A.append(W @ A[-1])
        B = dloss(A[H], Y)
        for i in range(H - 1, -1, -1):
            G = B @ A[i].T
            if i > 0:
                B = Ws[i].T @ B  # with W_i before its update
            Ws[i] -= lr * G
    return Ws


def runner(dtype, opts):
    dloss = numpy_dloss(opts)

    def run(X, Y, Ws, lr, steps):
        X = np.asarray(X, dtype=dtype)
        Y = np.asarray(Y, dtype=dtype)
        Ws = [np.array(W, dtype=dtype, order="C") for W in Ws]
        t0 = time.perf_counter()
        gd(X, Y, Ws, lr, steps, dloss)
        sec = time.perf_counter() - t0
        return [W.astype(np.float64) for W in Ws], loss(X, Y, Ws, *opts_loss(opts)), sec

    return run


def variants(opts):
    dtype = np.float64 if opts.precision == "fp64" else np.float32
    return [("numpy", runner(dtype, opts), "cpu, numpy %s" % np.__version__)]


# ---------------------------------------------------------------------------------------
# Deep matrix completion (scripts/peers --completion; Arora, Cohen, Hu & Luo 2019): no input
# X, the product R = W_H ... W_1 is the (rows, cols) matrix itself (W_1 is (width, cols), W_H
# (rows, width)); observed entries E, an (k, 3) float64 array of (row, col, value), 0-based;
# L = 1/2 sum_(i,j,v) in E (R_ij - v)^2 (a sum, not a mean); dL/dR = M o (R - Yobs), M the 0/1
# mask, Yobs the observed values (0 elsewhere). Forward A_1 = W_1, A_i = W_i A_(i-1) (A_0 = I),
# backward G_i = B_i A_(i-1)^T (G_1 = B_1), B_(i-1) = W_i^T B_i with the W_i of this step,
# all layers updated from the same step's gradients: W_i <- W_i - lr G_i.
#
#     completion_variants(opts)       -> list of (name, runner or None, note),
#                                        runner(E, Ws, lr, steps) -> (Ws, loss, seconds)
#     completion_batch_variants(opts) -> list of (name, runner or None, note),
#                                        runner(E, [Ws, ...], lr, steps) -> ([Ws, ...], [loss, ...], seconds)
# ---------------------------------------------------------------------------------------


def completion_mask(E, rows, cols):
    """The 0/1 mask M and the dense observed values Yobs (0 where unobserved) of entries E."""
    E = np.asarray(E, dtype=np.float64)
    r, c = E[:, 0].astype(np.int64), E[:, 1].astype(np.int64)
    M = np.zeros((rows, cols))
    Yobs = np.zeros((rows, cols))
    M[r, c] = 1.0
    Yobs[r, c] = E[:, 2]
    return M, Yobs


def completion_loss(E, Ws):
    """1/2 sum over the entries of (R_ij - v)^2, R = W_H ... W_1, in fp64."""
    R = np.asarray(Ws[0], dtype=np.float64)
    for W in Ws[1:]:
        R = np.asarray(W, dtype=np.float64) @ R
    E = np.asarray(E, dtype=np.float64)
    d = R[E[:, 0].astype(np.int64), E[:, 1].astype(np.int64)] - E[:, 2]
    return 0.5 * float(d @ d)


def completion_gd(Ws, M, Yobs, lr, steps, trace=None, stop_below=None):
    """`steps` plain GD updates of Ws in place. With a list `trace`, the loss at the weights of
    every step is appended (trace[s] = loss after s updates, the last one included); with
    stop_below, the loop ends at the first step whose loss is <= stop_below."""
    H = len(Ws)
    lr = Ws[0].dtype.type(lr)
    for s in range(steps + 1):
        A = [Ws[0]]
        for W in Ws[1:]:
            A.append(W @ A[-1])
        B = M * (A[H - 1] - Yobs)
        if trace is not None:
            L = 0.5 * float(np.sum(B * B))
            trace.append(L)
            if stop_below is not None and L <= stop_below:
                break
        if s == steps:
            break
        for i in range(H - 1, -1, -1):
            if i > 0:
                G = B @ A[i - 1].T
                B = Ws[i].T @ B  # with W_i before its update
            else:
                G = B
            Ws[i] -= lr * G
    return Ws


def _threads_note(opts):
    """numpy's BLAS threads limited to opts.threads with threadpoolctl where installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None, "numpy's BLAS threads: its default (threadpoolctl not installed)"
    return threadpool_limits, "%d BLAS threads (threadpoolctl)" % opts.threads


def completion_variants(opts):
    limits, tnote = _threads_note(opts)
    rows, cols = opts.rows, opts.cols

    def run(E, Ws, lr, steps):
        M, Yobs = completion_mask(E, rows, cols)
        Ws = [np.array(W, dtype=np.float64, order="C") for W in Ws]
        with (limits(limits=opts.threads, user_api="blas") if limits else _nothing()):
            t0 = time.perf_counter()
            completion_gd(Ws, M, Yobs, lr, steps)
            sec = time.perf_counter() - t0
        return Ws, completion_loss(E, Ws), sec

    return [("numpy", run, "cpu, numpy %s, %s" % (np.__version__, tnote))]


def completion_batch_variants(opts):
    """numpy as one would loop it: the members one after the other in one process."""
    limits, tnote = _threads_note(opts)
    rows, cols = opts.rows, opts.cols

    def run(E, members, lr, steps):
        M, Yobs = completion_mask(E, rows, cols)
        members = [[np.array(W, dtype=np.float64, order="C") for W in Ws] for Ws in members]
        with (limits(limits=opts.threads, user_api="blas") if limits else _nothing()):
            t0 = time.perf_counter()
            for Ws in members:
                completion_gd(Ws, M, Yobs, lr, steps)
            sec = time.perf_counter() - t0
        return members, [completion_loss(E, Ws) for Ws in members], sec

    return [("numpy (sequential)", run, "cpu, numpy %s, %s, members one after another" % (np.__version__, tnote))]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
