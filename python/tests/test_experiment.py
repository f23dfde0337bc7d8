"""The package runs the library's experiment, so it has everything the program has: the
landscape options (the Hessian at the end, the observables, the sharpness every K steps),
the memory check, the perturbation and the saved outputs, each equal to the CLI's bit for
bit on the CPU backend; and the library's exact derivatives (dln.loss, dln.gradient,
dln.hvp) against an independent numpy computation."""
import math

import numpy as np
import pytest

import dln
from conftest import cli, save_npy, teacher
from test_cli_equal import CLI_ONLY, CLOCKS, assert_summary_equal, read_log, same

HESSIAN_CLOCKS = CLOCKS | {"hessian_seconds"}


def assert_rows_equal(trace, log_lines):
    """Every field of every --log line equals the package's trace row, bit for bit (the
    observables' arrays element by element); the clock aside."""
    assert len(trace["step"]) == len(log_lines)
    for k, line in enumerate(log_lines):
        for key, want in line.items():
            if key == "seconds":
                continue
            got = trace[key][k] if key in trace else None
            got = list(got) if isinstance(got, (list, np.ndarray)) else got
            assert same(got, want), "row %d, %s: package %r, CLI %r" % (k, key, got, want)


@pytest.mark.parametrize("lr", [1e-3, 2e-4])
def test_the_landscape_options_equal_the_cli(tmp_path, lr):
    # lr 1e-3 (lr lambda_max 2.65) diverges on the default problem, 2e-4 does not: both ends compared
    log = tmp_path / "t.jsonl"
    _, (line,), _ = cli("train", "--quiet", "--hessian", "--observe", "--sharpness-every", 10, "--lr", lr, "--log",
                        log, "--steps", 300, check=False)
    run = dln.train(*dln.synthetic(seed=1), hessian=True, observe=True, sharpness_every=10, lr=lr, steps=300)
    for key, want in line.items():
        if key not in HESSIAN_CLOCKS and key not in CLI_ONLY:
            assert same(run[key], want), "%s: package %r, CLI %r" % (key, run[key], want)
    rows = read_log(log)
    assert_rows_equal({c: (list(run["trace"][c]) if c in run["trace"] else None) for c in run["trace"]}, rows)
    if not run["diverged"]:
        assert "lambda_min" in run and run["hessian_params"] == 4 * 32 + 4 * 4 * 2 + 4 * 32
        # lambda_max on the trace every 10 steps (and only there, the rule being off), the
        # observables on every line
        measured = [r["step"] for r in rows if "lambda_max" in r]
        assert measured == list(range(0, run["steps"] + 1, 10)) and len(measured) > 10
        assert all("product_sv" in r and "layer_norms" in r for r in rows)
    else:
        assert "lambda_min" not in run and run["verdict"] == "diverged"


def test_the_flow_time_is_the_sum_of_the_steps(rng):
    X, Y = teacher(rng, 6, 4, 30)
    run = dln.train(X, Y, depth=3, width=3, lr=2e-3, steps=200, tol=0, log_every=20)
    t = run["trace"]
    # a fixed step: time = step x lr, summed one update at a time (rounding only: 200 additions)
    assert np.allclose(t["time"], t["step"] * 2e-3, rtol=1e-13, atol=0)
    assert run["time"] == np.asarray(t["time"])[-1]
    # a changing step: a row reports the lr of the update that led to it (a decision at step t shows
    # at step t + 1), so each update adds the next row's lr, exactly. The line search changes its step
    # on every problem; the sharpness rule may keep its first step for 200 steps (it does on some
    # seeds), so it is held to the sum only
    for opts in ({"line_search": True}, {}):
        a = dln.train(X, Y, depth=3, width=3, steps=200, tol=0, log_every=1, **opts)["trace"]
        lr, time = np.asarray(a["lr"]), np.asarray(a["time"])
        assert np.array_equal(time[1:], time[:-1] + lr[1:])
        assert len(set(lr)) > 1 or not opts


def test_a_batch_traces_the_sharpness_of_every_member(rng):
    X, Y = teacher(rng, 6, 4, 30)
    runs = dln.train(X, Y, depth=3, width=3, lr=1e-3, seeds=[3, 4], steps=40, tol=0, sharpness_every=8,
                     log_every=1000)
    for b, run in enumerate(runs):
        t = run["trace"]
        steps = list(t["step"])
        assert steps == [0, 8, 16, 24, 32, 40], steps  # the sharpness steps and the end (log_every 1000)
        assert all(math.isfinite(v) for v in t["lambda_max"])
        alone = dln.train(X, Y, depth=3, width=3, lr=1e-3, seed=[3, 4][b], steps=40, tol=0, sharpness_every=8,
                          log_every=1000)
        assert list(alone["trace"]["lambda_max"]) == list(t["lambda_max"])


def test_memory_perturbation_and_saved_outputs_equal_the_cli(tmp_path, rng):
    X, Y = teacher(rng, 5, 4, 25)
    xp, yp = save_npy(tmp_path / "X.npy", X), save_npy(tmp_path / "Y.npy", Y)
    _, (start,), _ = cli("train", "--quiet", "--x", xp, "--y", yp, "--depth", 3, "--width", 2, "--steps", 50,
                         "--save", tmp_path / "w0")
    w0 = dln.load_weights(tmp_path / "w0", dx=5, dy=4)
    _, (line,), _ = cli("train", "--quiet", "--x", xp, "--y", yp, "--load", tmp_path / "w0", "--perturb", 0.3,
                        "--steps", 80, "--save", tmp_path / "w1", "--save-solution", tmp_path / "sol")
    run = dln.train(X, Y, weights=w0, perturb=0.3, steps=80, save=tmp_path / "p1", save_solution=tmp_path / "psol",
                    save_data=tmp_path / "pdata")
    skip = {"init"}  # "loaded" by the program, "given" by the package
    for key, want in line.items():
        if key not in CLOCKS and key not in CLI_ONLY and key not in skip:
            assert same(run[key], want), "%s: package %r, CLI %r" % (key, run[key], want)
    assert run["loss_init"] != start["loss"]  # the perturbation moved the start
    assert run["memory_estimate"] > 0 and run["memory_phase"] in ("data", "initial weights", "solver", "training")
    for i in range(3):
        name = "W%d.npy" % (i + 1)
        assert np.array_equal(np.load(tmp_path / "p1" / name), np.load(tmp_path / "w1" / name))
        assert np.array_equal(np.load(tmp_path / "p1" / name), run["weights"][i])
    assert np.array_equal(np.load(tmp_path / "psol" / "R.npy"), np.load(tmp_path / "sol" / "R.npy"))
    assert np.array_equal(np.load(tmp_path / "pdata" / "X.npy"), X)
    assert np.array_equal(np.load(tmp_path / "pdata" / "Y.npy"), Y)


def test_a_bad_output_directory_names_the_argument(tmp_path, rng):
    X, Y = teacher(rng, 4, 3, 12)
    (tmp_path / "file").write_text("x")
    with pytest.raises(dln.InputError, match="^save_solution: .*file: exists and is not a directory"):
        dln.train(X, Y, steps=5, save_solution=tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"
    with pytest.raises(dln.InputError, match="single run"):
        dln.train(X, Y, steps=5, seeds=[1, 2], hessian=True)


# ---- the derivatives against numpy -------------------------------------------------------


def numpy_derivatives(X, Y, W, V):
    """The loss 1/2 ||W_H..W_1 X - Y||^2, its gradient and the Hessian-vector product along V,
    in numpy: forward A_k = W_k A_{k-1}, B_H = E, B_{k-1} = W_k^T B_k, G_k = B_k A_{k-1}^T; and
    the directional derivatives dA_k = V_k A_{k-1} + W_k dA_{k-1}, dB_H = dA_H,
    dB_{k-1} = V_k^T B_k + W_k^T dB_k, (H V)_k = dB_k A_{k-1}^T + B_k dA_{k-1}^T."""
    A, dA = [X], [np.zeros_like(X)]
    for Wk, Vk in zip(W, V):
        A.append(Wk @ A[-1])
        dA.append(Vk @ A[-2] + Wk @ dA[-1])
    E = A[-1] - Y
    B, dB = E, dA[-1]
    G, HV = [None] * len(W), [None] * len(W)
    for k in range(len(W) - 1, -1, -1):
        G[k] = B @ A[k].T
        HV[k] = dB @ A[k].T + B @ dA[k].T
        B, dB = W[k].T @ B, V[k].T @ B + W[k].T @ dB
    return 0.5 * np.sum(E * E), G, HV


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_loss_gradient_and_hvp_agree_with_numpy(rng):
    X, Y = teacher(rng, 7, 5, 23)
    dims = [7, 6, 3, 4, 5]
    W = [rng.standard_normal((dims[i + 1], dims[i])) / np.sqrt(dims[i]) for i in range(4)]
    V = [rng.standard_normal(w.shape) for w in W]
    L, G, HV = numpy_derivatives(X, Y, W, V)
    # the same products in another order (BLAS blocking): rounding of a few ulps per product,
    # no cancellation at these random weights: 1e-12 relative
    assert abs(dln.loss(X, Y, W) - L) <= 1e-12 * L
    for g, want in zip(dln.gradient(X, Y, W), G):
        assert g.shape == want.shape and rel(g, want) <= 1e-12
    for h, want in zip(dln.hvp(X, Y, W, V), HV):
        assert h.shape == want.shape and rel(h, want) <= 1e-12
    # and an independent check of the Hessian's symmetry: u^T H v = v^T H u (exact in exact arithmetic)
    U = [rng.standard_normal(w.shape) for w in W]
    uhv = sum(np.sum(u * h) for u, h in zip(U, dln.hvp(X, Y, W, V)))
    vhu = sum(np.sum(v * h) for v, h in zip(V, dln.hvp(X, Y, W, U)))
    assert abs(uhv - vhu) <= 1e-11 * (abs(uhv) + abs(vhu))


def test_the_derivatives_refuse_bad_weights(rng):
    X, Y = teacher(rng, 4, 3, 10)
    with pytest.raises(dln.InputError, match="weights"):
        dln.loss(X, Y, [np.ones((2, 5)), np.ones((3, 2))])
    with pytest.raises(dln.InputError, match="direction"):
        dln.hvp(X, Y, [np.ones((2, 4)), np.ones((3, 2))], [np.ones((3, 4)), np.ones((3, 3))])
    with pytest.raises(dln.InputError, match="finite"):
        dln.gradient(X, Y, [np.full((3, 4), np.nan)])
