"""The package against the CLI on the same configuration: the same summary numbers, trace
and weights, bit for bit on the CPU backend (both run the same library code on the same
inputs; only the wall-clock fields may differ)."""
import math

import numpy as np

import dln
from conftest import cli, save_npy, teacher

CLOCKS = {"seconds", "solve_seconds"}
CLI_ONLY = {"memory_estimate", "memory_backend", "memory_phase", "data", "teacher_rank", "noise", "data_seed"}


def same(a, b):
    """Equal as JSON numbers are: NaN/inf print as null in dln's JSON."""
    if isinstance(a, float) and not math.isfinite(a):
        return b is None
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def assert_summary_equal(py, line):
    compared = 0
    for key, want in line.items():
        if key in CLOCKS or key in CLI_ONLY:
            continue
        assert key in py, "field %s missing from the package's result" % key
        assert same(py[key], want), "%s: package %r, CLI %r" % (key, py[key], want)
        compared += 1
    assert compared >= 40


def trace_of(py):
    t = py["trace"]
    return {c: np.asarray(t[c]) for c in ("step", "loss", "gap", "rel_gap", "grad_norm", "lr", "lambda_max")}


def assert_trace_equal(py, log_lines):
    t = trace_of(py)
    assert list(t["step"]) == [r["step"] for r in log_lines]
    for c in ("loss", "gap", "rel_gap", "grad_norm", "lr", "lambda_max"):
        assert list(t[c]) == [r[c] for r in log_lines], c


def read_log(path):
    import json
    return [json.loads(line) for line in open(path)]


def test_the_default_experiment_equals_the_cli(tmp_path):
    log = tmp_path / "t.jsonl"
    _, (line,), _ = cli("train", "--quiet", "--log", log, "--save", tmp_path / "w")
    run = dln.train(*dln.synthetic(seed=1))
    assert_summary_equal(run, line)
    assert_trace_equal(run, read_log(log))
    assert line["rel_gap"] <= 1e-6 and run["verdict"] == "global"
    for i, W in enumerate(run["weights"]):
        assert np.array_equal(W, np.load(tmp_path / "w" / ("W%d.npy" % (i + 1))))


def test_arrays_equal_the_cli_on_npy_files(tmp_path, rng):
    X, Y = teacher(rng, 7, 5, 50)
    seed = int(rng.integers(1, 10 ** 6))
    args = dict(depth=3, width=3, init="gaussian", init_scale=0.7, seed=seed, steps=3000, log_every=50)
    log = tmp_path / "t.jsonl"
    _, (line,), _ = cli("train", "--quiet", "--x", save_npy(tmp_path / "X.npy", X), "--y",
                        save_npy(tmp_path / "Y.npy", Y), "--depth", 3, "--width", 3, "--init", "gaussian",
                        "--init-scale", 0.7, "--seed", seed, "--steps", 3000, "--log", log, "--log-every", 50,
                        "--save", tmp_path / "w")
    # a C-order copy and a float32-exact copy go through the package's conversion
    for Xa, Ya in ((X, Y), (np.ascontiguousarray(X), np.ascontiguousarray(Y))):
        run = dln.train(Xa, Ya, **args)
        assert_summary_equal(run, line)
        assert_trace_equal(run, read_log(log))
        for i, W in enumerate(run["weights"]):
            assert np.array_equal(W, np.load(tmp_path / "w" / ("W%d.npy" % (i + 1))))


def test_a_batch_of_seeds_equals_the_cli_and_single_runs(tmp_path, rng):
    X, Y = teacher(rng, 6, 4, 40)
    seeds = [int(s) for s in rng.integers(1, 10 ** 6, size=3)]
    _, lines, _ = cli("train", "--quiet", "--x", save_npy(tmp_path / "X.npy", X), "--y",
                      save_npy(tmp_path / "Y.npy", Y), "--depth", 3, "--width", 2, "--steps", 2000, "--seeds",
                      ",".join(map(str, seeds)))
    runs = dln.train(X, Y, depth=3, width=2, steps=2000, seeds=seeds)
    assert [r["member"] for r in runs] == [0, 1, 2] and [r["seed"] for r in runs] == seeds
    for b, (run, line) in enumerate(zip(runs, lines)):
        assert_summary_equal(run, line)
        alone = dln.train(X, Y, depth=3, width=2, steps=2000, seed=seeds[b])
        for key in ("loss", "rel_gap", "steps", "lr", "grad_norm", "verdict"):
            assert run[key] == alone[key], key
        for Wb, Wa in zip(run["weights"], alone["weights"]):
            assert np.array_equal(Wb, Wa)


def test_solve_equals_the_cli(tmp_path, rng):
    X, Y = teacher(rng, 9, 6, 30)
    for rank, route in ((None, "auto"), (2, "svd"), (3, "qr")):
        args = ["solve", "--quiet", "--x", save_npy(tmp_path / "X.npy", X), "--y", save_npy(tmp_path / "Y.npy", Y),
                "--solver", route] + (["--rank", rank] if rank else [])
        _, (line,), _ = cli(*args)
        sol = dln.solve(X, Y, rank=rank, solver=route)
        compared = [key for key in line if key not in CLOCKS and key not in CLI_ONLY]
        for key in compared:
            assert same(sol[key], line[key]), "%s: package %r, CLI %r" % (key, sol[key], line[key])
        assert len(compared) >= 15
        # the optimum against an independent computation: numpy's SVD of the same problem
        U, s, Vt = np.linalg.svd(X, full_matrices=False)
        M = Y @ Vt.T
        sm = np.linalg.svd(M, compute_uv=False)
        k = rank or min(X.shape[0], Y.shape[0])
        want = 0.5 * (np.sum(Y ** 2) - np.sum(M ** 2)) + 0.5 * np.sum(sm[k:] ** 2)
        # cond(X) is small here, so L* is well conditioned: a few hundred ulps of ||Y||^2
        assert abs(sol["optimum"] - want) <= 1e-12 * np.sum(Y ** 2), (sol["optimum"], want)
        assert np.allclose(sol["singular_values_x"], s, rtol=1e-12, atol=0)


def test_lists_make_the_clis_members_in_its_order(tmp_path, rng):
    X, Y = teacher(rng, 5, 4, 30)
    seeds = [int(s) for s in rng.integers(1, 10 ** 6, size=2)]
    _, lines, _ = cli("train", "--quiet", "--x", save_npy(tmp_path / "X.npy", X), "--y",
                      save_npy(tmp_path / "Y.npy", Y), "--depth", 2, "--width", 3, "--steps", 300,
                      "--init", "gaussian,orthogonal", "--init-scale", "0.5,1", "--lr", "3e-3,auto",
                      "--momentum", "0,0.5", "--seeds", ",".join(map(str, seeds)))
    runs = dln.train(X, Y, depth=2, width=3, steps=300, init=["gaussian", "orthogonal"], init_scale=[0.5, 1],
                     lr=[3e-3, "auto"], momentum=[0, 0.5], seeds=seeds)
    assert len(runs) == len(lines) == 32
    for run, line in zip(runs, lines):
        assert (run["init"], run["init_scale"], run["momentum"], run["seed"], run["lr_rule"]) == \
            (line["init"], line["init_scale"], line["momentum"], line["seed"], line["lr_rule"])
        assert_summary_equal(run, line)


def test_a_batch_on_threads_equals_it_on_one(rng):
    # the members spread over 1, 2 and 5 threads (the CLI's --threads): the same numbers
    X, Y = teacher(rng, 6, 5, 40)
    seeds = [int(s) for s in rng.integers(1, 10 ** 6, size=12)]
    runs = {t: dln.train(X, Y, depth=3, width=3, steps=500, seeds=seeds, lr=["auto", 2e-3], threads=t)
            for t in (1, 2, 5)}
    for t in (2, 5):
        for a, b in zip(runs[t], runs[1]):
            for key in ("loss", "steps", "lr", "sharpness", "grad_norm", "verdict"):
                assert a[key] == b[key] or (a[key] != a[key] and b[key] != b[key]), (t, key, a[key], b[key])
            for Wa, Wb in zip(a["weights"], b["weights"]):
                assert np.array_equal(Wa, Wb)
