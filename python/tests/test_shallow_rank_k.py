"""The shallow problem with an active rank bound for losses other than the square (`dln solve
--loss L --rank k`, src/solver/rank_k.c) against an independent solver written here: scipy's
L-BFGS on the factors R = U V^T from 50 random starts, its best value; dln's best-known
value may never be above it by more than 1e-8 relative, nor below the convex lower bound.
And the certificate (`dln train --certify`, src/solver/certify.c) end to end: a converged
run's product is a shallow local minimum, a planted saddle of the shallow problem is not."""
import json
import os
import subprocess

import numpy as np
import pytest

from test_shallow_convex import DLN, loss_parts


def factored_best(name, X, Y, k, starts, rng, **kw):
    """Best of `starts` L-BFGS runs on f(U V^T) from Gaussian factors."""
    minimize = pytest.importorskip("scipy.optimize").minimize  # requirements.txt has it; a bare GPU host may not
    dx, dy = X.shape[0], Y.shape[0]

    def fg(z):
        U, V = z[: dy * k].reshape(dy, k), z[dy * k:].reshape(dx, k)
        v, dZ, _ = loss_parts(name, U @ V.T @ X, Y, **kw)
        G = dZ @ X.T
        return v, np.concatenate([(G @ V).ravel(), (G.T @ U).ravel()])

    best = np.inf
    for _ in range(starts):
        z0 = rng.standard_normal((dy + dx) * k) * 0.5
        r = minimize(fg, z0, jac=True, method="L-BFGS-B", options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-16})
        best = min(best, r.fun)
    return best


def run(tmp_path, command, X, Y, *extra):
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", Y)
    r = subprocess.run([DLN, command, "--x", str(tmp_path / "X.npy"), "--y", str(tmp_path / "Y.npy"), "--quiet",
                        "--backend", "cpu"] + list(extra), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


@pytest.mark.parametrize("name,extra,kw", [("lp", ["--p", "4"], {"p": 4.0}), ("huber", ["--delta", "0.5"], {"delta": 0.5}),
                                           ("softmax", [], {})])
def test_best_known_is_not_above_independent_restarts(tmp_path, name, extra, kw):
    seed = int.from_bytes(os.urandom(4), "little")  # fresh inputs each run, named on failure
    rng = np.random.default_rng(seed)
    dx, dy, m, k = 6, 4, 80, 2
    X = rng.standard_normal((dx, m))
    if name == "softmax":
        Y = np.eye(dy)[:, rng.integers(0, dy, m)]
    else:
        Y = rng.standard_normal((dy, dx)) @ X / 2 + 0.3 * rng.standard_normal((dy, m))
    got = run(tmp_path, "solve", X, Y, "--loss", name, "--rank", str(k), "--shallow-restarts", "50", *extra)[0]
    want = factored_best(name, X, Y, k, 50, rng, **kw)
    assert got["optimum_kind"] == "best_known" and got["shallow_certified"] >= 1, (seed, got)
    assert got["optimum_best_known"] <= want + 1e-8 * abs(want), (seed, got["optimum_best_known"], want)
    assert got["optimum_lower_bound"] <= got["optimum_best_known"], (seed, got)
    counts = sum(g["count"] for g in got["shallow_local_minima"])
    assert counts == got["shallow_certified"] and got["shallow_local_minima"][0]["value"] == got["optimum"]


def test_converged_runs_are_certified_and_a_planted_saddle_is_not(tmp_path):
    import dln
    seed = int.from_bytes(os.urandom(4), "little")
    rng = np.random.default_rng(seed)
    dx, dy, k = 6, 5, 2
    X = np.eye(dx)  # f(R) = 1/2 ||R - Y||^2: the rank-2 critical points are sums of two SVD terms of Y
    Y = rng.standard_normal((dy, dx))
    runs = run(tmp_path, "train", X, Y, "--depth", "3", "--width", str(k), "--seeds", "1,2,3", "--certify",
               "--steps", "50000", "--save", str(tmp_path / "w"))
    for r in runs:
        if r["verdict"] == "global":
            assert r["shallow_local_min"] and r["shallow_verdict"] == "global", (seed, r)
    assert any(r["verdict"] == "global" for r in runs), (seed, [r["verdict"] for r in runs])
    b = [r["verdict"] for r in runs].index("global")  # `dln hessian` certifies the saved weights the same
    h = run(tmp_path, "hessian", X, Y, "--load", str(tmp_path / "w" / str(b)), "--certify")[0]
    assert h["shallow_local_min"] and h["shallow_verdict"] == "global", (seed, h)
    assert h["certify_value"] == runs[b]["certify_value"] and h["product_rank"] == runs[b]["product_rank"], (seed, h)
    U, s, VT = np.linalg.svd(Y)
    # modes 1 and 3: a critical point of the shallow problem with negative curvature
    W1 = np.vstack([VT[0], VT[2]]) * np.sqrt(s[[0, 2]])[:, None]
    W2 = U[:, [0, 2]] * np.sqrt(s[[0, 2]])[None, :]
    got = dln.train(X, Y, depth=2, width=k, weights=[W1, W2], steps=0, certify=True, backend="cpu")
    assert got["shallow_local_min"] is False and got["shallow_verdict"] == "not a shallow local minimum", (seed, got)
    assert got["certify_hess_min"] < 0 and got["certify_grad_rel"] <= 1e-8, (seed, got)
