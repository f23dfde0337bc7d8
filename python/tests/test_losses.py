"""test_losses.py: every loss of `dln train --loss` against an independent numpy implementation
of its formulas: the loss, gradient and Hessian-vector products of dln.loss / dln.gradient /
dln.hvp (1e-12), and whole trajectories: `dln train --load W0 --lr LR --steps 1000` (single
runs and a batch of two step sizes) against plain gradient descent in numpy from the same
weights. The CLI tests run on the backend DLN_TEST_BACKEND (default cpu; `make test-cuda-emu`
runs them again with the emulated device's dln and cuda)."""
import os

import numpy as np
import pytest

from conftest import cli, load_set, save_set

BACKEND = os.environ.get("DLN_TEST_BACKEND", "cpu")
LOSSES = [("square", {}), ("lp", {"p": 4.0}), ("lp", {"p": 3.0}), ("huber", {"delta": 0.7}), ("logistic", {}),
          ("softmax", {})]


def problem(rng, name, dx=6, dy=4, m=50):
    """X ~ N(0, 1) and a target the loss takes: values, 0/1 labels, or soft labels on the simplex."""
    X = rng.standard_normal((dx, m))
    T = rng.standard_normal((dy, dx)) @ X / np.sqrt(dx)
    if name == "logistic":
        Y = (T + 0.3 * rng.standard_normal(T.shape) > 0).astype(float)
        Y[:, ::5] = rng.uniform(size=(dy, Y[:, ::5].shape[1]))  # soft labels too
    elif name == "softmax":
        Y = np.exp(2 * T)
        Y /= Y.sum(axis=0)
    else:
        Y = T + 0.3 * rng.standard_normal(T.shape)
    return X, Y


def loss_grad(name, Z, Y, p=4.0, delta=1.0):
    """The loss of Z against Y and dL/dZ, from the definitions (numpy, float64)."""
    E = Z - Y
    if name == "square":
        return 0.5 * np.sum(E * E), E
    if name == "lp":
        return np.sum(np.abs(E) ** p) / p, np.sign(E) * np.abs(E) ** (p - 1)
    if name == "huber":
        a = np.abs(E)
        return np.sum(np.where(a <= delta, 0.5 * E * E, delta * (a - 0.5 * delta))), np.clip(E, -delta, delta)
    if name == "logistic":
        return np.sum(np.logaddexp(0.0, Z) - Y * Z), 0.5 * (1.0 + np.tanh(0.5 * Z)) - Y
    m = Z.max(axis=0)  # softmax
    lse = m + np.log(np.exp(Z - m).sum(axis=0))
    return np.sum(lse - (Y * Z).sum(axis=0)), np.exp(Z - lse) - Y


def loss_hess(name, Z, Y, D, p=4.0, delta=1.0):
    """(d^2 L / dZ^2) D."""
    E = Z - Y
    if name == "square":
        return D
    if name == "lp":
        return (p - 1) * np.abs(E) ** (p - 2) * D
    if name == "huber":
        return np.where(np.abs(E) <= delta, D, 0.0)
    if name == "logistic":
        s = 0.5 * (1.0 + np.tanh(0.5 * Z))
        return s * (1 - s) * D
    P = np.exp(Z - Z.max(axis=0))
    P /= P.sum(axis=0)
    return P * (D - (P * D).sum(axis=0))


def forward(X, W):
    A = [X]
    for w in W:
        A.append(w @ A[-1])
    return A


def deep_grad(name, X, Y, W, **kw):
    A = forward(X, W)
    value, B = loss_grad(name, A[-1], Y, **kw)
    G = [None] * len(W)
    for k in range(len(W) - 1, -1, -1):
        G[k] = B @ A[k].T
        B = W[k].T @ B
    return value, G


def deep_hvp(name, X, Y, W, V, **kw):
    """H V by the chain rule (forward tangents, then the backward chain and its tangent)."""
    A, dA = [X], [np.zeros_like(X)]
    for w, v in zip(W, V):
        dA.append(v @ A[-1] + w @ dA[-1])
        A.append(w @ A[-1])
    _, B = loss_grad(name, A[-1], Y, **kw)
    dB = loss_hess(name, A[-1], Y, dA[-1], **kw)
    HV = [None] * len(W)
    for k in range(len(W) - 1, -1, -1):
        HV[k] = dB @ A[k].T + B @ dA[k].T
        B, dB = W[k].T @ B, V[k].T @ B + W[k].T @ dB
    return HV


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def weights(rng, dims, scale=1.0):
    return [scale * rng.standard_normal((dims[i + 1], dims[i])) / np.sqrt(dims[i]) for i in range(len(dims) - 1)]


@pytest.mark.parametrize("name,kw", LOSSES)
def test_loss_gradient_and_hvp_agree_with_numpy(rng, name, kw):
    import dln
    X, Y = problem(rng, name)
    W, V = weights(rng, [6, 5, 3, 4]), weights(rng, [6, 5, 3, 4])
    value, G = deep_grad(name, X, Y, W, **kw)
    # the same sums in another order, exp/log from another library: 1e-12
    assert abs(dln.loss(X, Y, W, backend="cpu", loss=name, **kw) - value) <= 1e-12 * value
    for g, want in zip(dln.gradient(X, Y, W, backend="cpu", loss=name, **kw), G):
        assert rel(g, want) <= 1e-12
    for hv, want in zip(dln.hvp(X, Y, W, V, backend="cpu", loss=name, **kw), deep_hvp(name, X, Y, W, V, **kw)):
        assert rel(hv, want) <= 1e-12


def numpy_descent(name, X, Y, W, lr, steps, **kw):
    W = [w.copy() for w in W]
    for _ in range(steps):
        _, G = deep_grad(name, X, Y, W, **kw)
        W = [w - lr * g for w, g in zip(W, G)]
    return W


def flags(kw):
    return [x for k, v in kw.items() for x in ("--" + k, v)]


@pytest.mark.parametrize("name,kw", LOSSES)
def test_cli_trajectories_follow_numpy_gradient_descent(rng, tmp_path, name, kw):
    """1000 steps from --load'ed weights, a single run and a batch of two step sizes, against
    numpy: the same arithmetic in another order, rounding at ~1e-16 per step in a descent that
    does not amplify it (the step is a fraction of 2 / lambda_max): 1e-8 relative (measured at
    most 3.4e-15 over 8 seeds x 6 losses, 2026-12-07). fp32: the same run in single precision
    against the fp64 trajectory: each step rounds the weights to 6e-8 relative, and 1000 such
    roundings add up to 6e-5 even if none were damped: 1e-4 (measured at most 4.4e-6)."""
    X, Y = problem(rng, name)
    dims = [6, 5, 5, 4]
    W0 = weights(rng, dims)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)
    save_set(tmp_path / "W0", W0)
    common = ["train", "--x", tmp_path / "X.npy", "--y", tmp_path / "Y.npy", "--load", tmp_path / "W0", "--loss",
              name, *flags(kw), "--tol", 0, "--quiet", "--backend", BACKEND]
    _, (probe,), _ = cli(*common, "--steps", 0)
    lr = 0.4 / probe["sharpness_init"]  # stable: lr lambda_max = 0.4 at the start
    base = common + ["--steps", 1000]
    for precision, tol in (("fp64", 1e-8), ("fp32", 1e-4)):
        _, (run,), _ = cli(*base, "--lr", lr, "--precision", precision, "--save", tmp_path / ("one" + precision))
        assert run["steps"] == 1000 and not run["diverged"] and run["objective"] == name
        want = numpy_descent(name, X, Y, W0, lr, 1000, **kw)
        got = load_set(tmp_path / ("one" + precision), 3)
        err = max(rel(g, w) for g, w in zip(got, want))
        assert err <= tol, "%s %s: weights differ from numpy's by %.3e" % (name, precision, err)
    _, runs, _ = cli(*base, "--lr", "%r,%r" % (lr, lr / 2), "--save", tmp_path / "batch")
    assert [r["member"] for r in runs] == [0, 1]
    for b, step in enumerate((lr, lr / 2)):
        want = numpy_descent(name, X, Y, W0, step, 1000, **kw)
        got = load_set(tmp_path / "batch" / str(b), 3)
        assert max(rel(g, w) for g, w in zip(got, want)) <= 1e-8


def test_bad_losses_and_targets_raise_input_errors(rng):
    import dln
    X, Y = problem(rng, "square")
    Y[0, 0] = -abs(Y[0, 0]) - 0.1  # column 0 has a negative entry: softmax's first complaint (else 1 draw in 16
    # had column 0 positive and the sum named first)
    cases = [({"loss": "lp", "p": 1.5}, "p"), ({"loss": "huber", "delta": 0}, "delta"), ({"p": 4}, "lp"),
             ({"loss": "logistic", "delta": 1.0}, "huber"), ({"loss": "hinge"}, "loss"),
             ({"loss": "logistic"}, "[0, 1]"), ({"loss": "softmax"}, "nonnegative"),
             ({"loss": "lp", "lr": "arora"}, "curvature bound")]
    for kw, word in cases:
        with pytest.raises(dln.InputError) as e:
            dln.train(X, Y, steps=3, **kw)
        assert word in str(e.value), (kw, str(e.value))
    with pytest.raises(dln.InputError) as e:
        dln.loss(X, np.abs(Y), weights(rng, [6, 4]), loss="softmax")
    assert "sum to 1" in str(e.value)


def test_synthetic_labels_are_the_classifiers(rng):
    import dln
    X, Yb = dln.synthetic(dx=5, dy=3, samples=40, seed=4, labels="binary")
    _, Yc = dln.synthetic(dx=5, dy=3, samples=40, seed=4, labels="classes")
    _, Yv = dln.synthetic(dx=5, dy=3, samples=40, seed=4)
    assert np.array_equal(Yb, (Yv > 0).astype(float))
    assert np.array_equal(Yc, (Yv == Yv.max(axis=0)).astype(float))
    run = dln.train(X, Yc, depth=2, width=3, loss="softmax", steps=200)
    assert run["objective"] == "softmax" and np.isnan(run["gap"]) and run["loss"] < run["loss_init"]
