"""Peer implementation for scripts/peers: the deep linear network trained by plain
full-batch gradient descent, written plainly in numpy (CPU).

Same mathematics and the same order of operations as dln's trainer (src/trainer/,
src/model/): forward A_i = W_i A_{i-1}, residual E = A_H - Y, backward
G_i = B_i A_{i-1}^T, B_{i-1} = W_i^T B_i (with the W_i of this step), and the update
W_i <- W_i - lr G_i. Every peer module exposes

    variants(opts) -> list of (name, runner or None, note)

where runner(X, Y, Ws, lr, steps) returns (final weights as float64 numpy arrays,
final loss, seconds of the training loop).
"""
import time

import numpy as np


def loss(X, Y, Ws):
    """1/2 ||W_H ... W_1 X - Y||^2 in the arrays' own precision, returned as a float."""
    A = X
    for W in Ws:
        A = W @ A
    E = A - Y
    return 0.5 * float(np.sum(E.astype(np.float64) ** 2))


def functional_step(Ws, X, Y, lr):
    """One plain GD update, returning new weights; only `@`, `.T` and `-` on the arrays, so
    the same code serves numpy, PyTorch (torch.compile) and JAX (jit)."""
    H = len(Ws)
    A = [X]
    for W in Ws:
        A.append(W @ A[-1])
    B = A[H] - Y
    new = [None] * H
    for i in range(H - 1, -1, -1):
        G = B @ A[i].T
        if i > 0:
            B = Ws[i].T @ B  # with W_i before its update
        new[i] = Ws[i] - lr * G
    return new


def gd(X, Y, Ws, lr, steps):
    """`steps` plain GD updates of Ws in place (arrays of one dtype)."""
    H = len(Ws)
    lr = Ws[0].dtype.type(lr)
    for _ in range(steps):
        A = [X]
        for W in Ws:
            A.append(W @ A[-1])
        B = A[H] - Y
        for i in range(H - 1, -1, -1):
            G = B @ A[i].T
            if i > 0:
                B = Ws[i].T @ B  # with W_i before its update
            Ws[i] -= lr * G
    return Ws


def runner(dtype):
    def run(X, Y, Ws, lr, steps):
        X = np.asarray(X, dtype=dtype)
        Y = np.asarray(Y, dtype=dtype)
        Ws = [np.array(W, dtype=dtype, order="C") for W in Ws]
        t0 = time.perf_counter()
        gd(X, Y, Ws, lr, steps)
        sec = time.perf_counter() - t0
        return [W.astype(np.float64) for W in Ws], loss(X, Y, Ws), sec

    return run


def variants(opts):
    dtype = np.float64 if opts.precision == "fp64" else np.float32
    return [("numpy", runner(dtype), "cpu, numpy %s" % np.__version__)]
