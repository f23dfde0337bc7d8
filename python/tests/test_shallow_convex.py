"""`dln solve --loss L` (the shallow problem without a rank bound for a loss other than the
square, src/solver/convex.c) against an independent Newton's method written here in numpy
with the dense Hessian (formed from the loss's second derivatives in Z, a least-squares
solve where it is singular: softmax is invariant to adding a vector to every row of R) and a
backtracking line search, to a gradient norm of 1e-13 of its start. The two optima must
agree to 1e-9 relative; separable logistic data must come back as unattained."""
import json
import os
import subprocess

import numpy as np
import pytest

DLN = os.environ.get("DLN_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "dln"))


def softplus(z):
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def sigmoid(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


def loss_parts(name, Z, Y, p=4.0, delta=0.5):
    """value, dL/dZ (dy, m), and d2L/dZ2 per column as (dy, dy, m)."""
    dy, m = Z.shape
    E = Z - Y
    Hz = np.zeros((dy, dy, m))
    idx = np.arange(dy)
    if name == "lp":
        Hz[idx, idx, :] = (p - 1) * np.abs(E) ** (p - 2)
        return np.sum(np.abs(E) ** p) / p, np.sign(E) * np.abs(E) ** (p - 1), Hz
    if name == "huber":
        a = np.abs(E)
        Hz[idx, idx, :] = (a <= delta).astype(float)
        v = np.sum(np.where(a <= delta, 0.5 * E * E, delta * (a - 0.5 * delta)))
        return v, np.clip(E, -delta, delta), Hz
    if name == "logistic":
        s = sigmoid(Z)
        Hz[idx, idx, :] = s * (1 - s)
        return np.sum(softplus(Z) - Y * Z), s - Y, Hz
    if name == "softmax":
        c = Z.max(axis=0, keepdims=True)
        e = np.exp(Z - c)
        P = e / e.sum(axis=0, keepdims=True)
        for j in range(m):
            Hz[:, :, j] = np.diag(P[:, j]) - np.outer(P[:, j], P[:, j])
        v = np.sum(c + np.log(e.sum(axis=0, keepdims=True))) - np.sum(Y * Z)
        return v, P - Y, Hz
    raise ValueError(name)


def numpy_newton(name, X, Y, **kw):
    dx, m = X.shape
    dy = Y.shape[0]
    R = np.zeros((dy, dx))

    def parts(R):
        v, dZ, Hz = loss_parts(name, R @ X, Y, **kw)
        G = dZ @ X.T
        # H[(i,k),(a,l)] = sum_j X[k,j] X[l,j] Hz[i,a,j], vec(R) column-major: index i + dy k
        H = np.einsum("kj,lj,iaj->ikal", X, X, Hz).reshape(dy * dx, dy * dx, order="F")
        return v, G, H

    v, G, H = parts(R)
    g0 = np.linalg.norm(G)
    for _ in range(200):
        if np.linalg.norm(G) <= 1e-13 * g0:
            break
        step = -np.linalg.lstsq(H, G.ravel(order="F"), rcond=None)[0].reshape(dy, dx, order="F")
        t = 1.0
        while t > 1e-12:
            vt, Gt, Ht = parts(R + t * step)
            if vt <= v + 1e-4 * t * np.sum(G * step) or (abs(vt - v) <= 1e-14 * abs(v) and np.linalg.norm(Gt) < np.linalg.norm(G)):
                break
            t *= 0.5
        R, v, G, H = R + t * step, vt, Gt, Ht
    return v


def run_solve(tmp_path, X, Y, *extra):
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)
    r = subprocess.run([DLN, "solve", "--x", str(tmp_path / "X.npy"), "--y", str(tmp_path / "Y.npy"), "--quiet",
                        "--backend", "cpu"] + list(extra), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("name,extra,kw", [("lp", ["--p", "4"], {"p": 4.0}), ("huber", ["--delta", "0.5"], {"delta": 0.5}),
                                           ("logistic", [], {}), ("softmax", [], {})])
def test_solve_matches_an_independent_newton(tmp_path, name, extra, kw):
    seed = int.from_bytes(os.urandom(4), "little")  # fresh inputs each run, named on failure
    rng = np.random.default_rng(seed)
    dx, dy, m = 4, 3, 300
    X = rng.standard_normal((dx, m))
    if name == "logistic":  # labels independent of X: not separable
        Y = (rng.random((dy, m)) < 0.5).astype(float)
    elif name == "softmax":
        Y = np.eye(dy)[:, rng.integers(0, dy, m)]
    else:
        Y = rng.standard_normal((dy, dx)) @ X / 2 + 0.3 * rng.standard_normal((dy, m))
    got = run_solve(tmp_path, X, Y, "--loss", name, *extra)
    want = numpy_newton(name, X, Y, **kw)
    assert got["optimum_kind"] == "convex" and got["solver_converged"], (seed, got)
    assert abs(got["optimum"] - want) <= 1e-9 * abs(want), (seed, got["optimum"], want)


def test_separable_logistic_is_unattained(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3, 40))
    Y = ((rng.standard_normal((2, 3)) @ X) > 0).astype(float)
    got = run_solve(tmp_path, X, Y, "--loss", "logistic")
    assert got["optimum_kind"] == "unattained" and got["optimum"] == 0.0
    assert got["solver_value"] <= 1e-10 * got["zero_loss"]


def test_the_package_solves_the_same(tmp_path):
    import dln
    rng = np.random.default_rng(int.from_bytes(os.urandom(4), "little"))
    X = rng.standard_normal((4, 200))
    Y = rng.standard_normal((3, 4)) @ X + 0.2 * rng.standard_normal((3, 200))
    got = dln.solve(X, Y, loss="lp", p=4, backend="cpu")
    cli = run_solve(tmp_path, X, Y, "--loss", "lp", "--p", "4")
    assert got["optimum_kind"] == "convex" and got["optimum"] == cli["optimum"]
    with pytest.raises(dln.InputError):
        dln.solve(X, Y, loss="square", shallow_restarts=3, backend="cpu")
