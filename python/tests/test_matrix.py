"""test_matrix.py: deep matrix completion and sensing (`dln train --entries / --sensing`,
dln.complete, dln.sense) against an independent numpy implementation of the definitions:
whole gradient-descent trajectories from --load'ed weights (single runs and a batch), the
final product's test error, effective rank and nuclear norm, the trace's, the nuclear-norm
baseline against cvxpy, and bad observation files and option combinations refused with one
`dln:` line and nothing written. The CLI tests run on DLN_TEST_BACKEND (default cpu; `make
test-cuda-emu` runs them again with the emulated device's dln and cuda)."""
import json
import os

import numpy as np
import pytest

from conftest import cli, load_set, save_set

BACKEND = os.environ.get("DLN_TEST_BACKEND", "cpu")


def low_rank(rng, rows, cols, rank):
    return rng.standard_normal((rows, rank)) @ rng.standard_normal((rank, cols)) / np.sqrt(rank)


def completion_problem(rng, rows=7, cols=6, k=25, rank=2, noise=0.05):
    """A rank-`rank` target, k observed entries (row, col, value) and the rest held out."""
    T = low_rank(rng, rows, cols, rank)
    flat = rng.permutation(rows * cols)
    i, j = np.unravel_index(flat, (rows, cols))
    E = np.c_[i[:k], j[:k], T[i[:k], j[:k]] + noise * rng.standard_normal(k)]
    H = np.c_[i[k:], j[k:], T[i[k:], j[k:]]]
    return T, E, H


def sensing_problem(rng, rows=5, cols=4, k=14, rank=2, noise=0.05):
    """A rank-`rank` target and k Gaussian measurements: row l of A reshaped (C order) is A_l."""
    T = low_rank(rng, rows, cols, rank)
    A = rng.standard_normal((k, rows * cols))
    return T, A, A @ T.ravel() + noise * rng.standard_normal(k)


def loss_grad_R(kind, R, data):
    """L(R) and dL/dR from the definitions."""
    if kind == "completion":
        E = data
        i, j = E[:, 0].astype(int), E[:, 1].astype(int)
        r = R[i, j] - E[:, 2]
        G = np.zeros_like(R)
        np.add.at(G, (i, j), r)
        return 0.5 * r @ r, G
    A, b = data
    r = A @ R.ravel() - b
    return 0.5 * r @ r, (A.T @ r).reshape(R.shape)


def product(W):
    R = W[0]
    for w in W[1:]:
        R = w @ R
    return R


def deep_grad(kind, data, W):
    A = [W[0]]
    for w in W[1:]:
        A.append(w @ A[-1])
    value, B = loss_grad_R(kind, A[-1], data)
    G = [None] * len(W)
    for k in range(len(W) - 1, 0, -1):
        G[k] = B @ A[k - 1].T
        B = W[k].T @ B
    G[0] = B
    return value, G


def descent(kind, data, W, lr, steps):
    W = [w.copy() for w in W]
    for _ in range(steps):
        _, G = deep_grad(kind, data, W)
        W = [w - lr * g for w, g in zip(W, G)]
    return W


def metrics(R, held):
    """test error over the held-out entries, effective rank, nuclear norm."""
    i, j = held[:, 0].astype(int), held[:, 1].astype(int)
    test = np.linalg.norm(R[i, j] - held[:, 2]) / np.linalg.norm(held[:, 2])
    s = np.linalg.svd(R, compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return test, np.exp(-np.sum(p * np.log(p))), s.sum()


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def files_of(rng, tmp_path, kind):
    """The problem as the CLI's files, its flags, the data for numpy, the held-out entries."""
    if kind == "completion":
        T, E, H = completion_problem(rng)
        np.save(tmp_path / "E.npy", E)
        flags, data = ["--entries", tmp_path / "E.npy"], E
    else:
        T, A, b = sensing_problem(rng)
        i, j = np.unravel_index(np.arange(T.size), T.shape)
        H = np.c_[i, j, T[i, j]]
        np.save(tmp_path / "A.npy", A)
        np.save(tmp_path / "b.npy", b)
        flags, data = ["--sensing", tmp_path / "A.npy", "--b", tmp_path / "b.npy"], (A, b)
    np.save(tmp_path / "H.npy", H)
    return T, flags + ["--rows", T.shape[0], "--cols", T.shape[1], "--test-entries", tmp_path / "H.npy"], data, H


@pytest.mark.parametrize("kind", ["completion", "sensing"])
def test_cli_trajectories_follow_numpy_and_measure_the_product(rng, tmp_path, kind):
    """1000 steps from --load'ed weights, a single run and a batch of two step sizes, against
    numpy: the same arithmetic in another order, rounding ~1e-16 per step in a descent at
    lr lambda_max = 0.4 that does not amplify it: 1e-8 relative (fp32: 1e-4). The final product's test
    error, effective rank and nuclear norm against numpy's of the weights saved (the same
    bits; an SVD by another LAPACK driver, sums in another order): 1e-12; the trace's last
    line carries the same."""
    T, flags, data, H = files_of(rng, tmp_path, kind)
    rows, cols = T.shape
    dims = [cols, 5, 4, rows]
    W0 = [rng.standard_normal((dims[i + 1], dims[i])) / np.sqrt(dims[i]) for i in range(3)]
    save_set(tmp_path / "W0", W0)
    common = ["train", *flags, "--load", tmp_path / "W0", "--tol", 0, "--quiet", "--backend", BACKEND]
    _, (probe,), _ = cli(*common, "--steps", 0)
    lr = 0.4 / probe["sharpness_init"]
    base = common + ["--steps", 1000]
    _, (run,), _ = cli(*base, "--lr", lr, "--save", tmp_path / "one", "--log", tmp_path / "t.jsonl", "--log-every", 250)
    assert run["steps"] == 1000 and not run["diverged"] and run["objective"] == kind and run["problem"] == kind
    assert run["observed"] == (len(data) if kind == "completion" else len(data[1])) and run["test_entries"] == len(H)
    want = descent(kind, data, W0, lr, 1000)
    got = load_set(tmp_path / "one", 3)
    err = max(rel(g, w) for g, w in zip(got, want))
    assert err <= 1e-8, "%s: weights differ from numpy's by %.3e" % (kind, err)
    R = product(got)
    loss, _ = loss_grad_R(kind, R, data)
    assert abs(run["loss"] - loss) <= 1e-12 * run["loss_init"]
    test, erank, nuc = metrics(R, H)
    for field, value in (("test_error", test), ("effective_rank", erank), ("nuclear_norm", nuc)):
        assert abs(run[field] - value) <= 1e-12 * value, (field, run[field], value)
    last = [json.loads(x) for x in open(tmp_path / "t.jsonl")][-1]
    assert last["step"] == 1000
    for field in ("test_error", "effective_rank", "nuclear_norm"):
        assert abs(last[field] - run[field]) <= 1e-12 * run[field], field
    _, runs, _ = cli(*base, "--lr", "%r,%r" % (lr, lr / 2), "--save", tmp_path / "batch")
    assert [r["member"] for r in runs] == [0, 1]
    for b, step in enumerate((lr, lr / 2)):
        want = descent(kind, data, W0, step, 1000)
        got = load_set(tmp_path / "batch" / str(b), 3)
        assert max(rel(g, w) for g, w in zip(got, want)) <= 1e-8
    # fp32 against the fp64 trajectory: each step rounds the weights to 6e-8 relative, 1000 such
    # roundings add up to 6e-5 even undamped: 1e-4 (the masked kernel's NaN target in fp32 too)
    _, (r32,), _ = cli(*base, "--lr", lr, "--precision", "fp32", "--save", tmp_path / "fp32")
    want = descent(kind, data, W0, lr, 1000)
    err = max(rel(g, w) for g, w in zip(load_set(tmp_path / "fp32", 3), want))
    assert r32["precision"] == "fp32" and err <= 1e-4, "%s fp32: %.3e" % (kind, err)


def test_cli_synthetic_problem_saved_and_read_back_is_the_same_run(tmp_path):
    """--complete with --save-data, then the files it wrote as --entries/--test-entries: the
    same summary numbers, bit for bit (the same problem, the same start); a member of a batch
    of seeds is its single run."""
    args = ["--rows", 9, "--cols", 8, "--depth", 3, "--width", 8, "--init", "gaussian", "--init-scale", 0.1, "--steps",
            300, "--quiet", "--backend", BACKEND]
    synth = ["--complete", "--observed", 40, "--target-rank", 2]
    _, (a,), _ = cli("train", *synth, *args, "--save-data", tmp_path / "d", "--seed", 3)
    T = np.load(tmp_path / "d" / "target.npy")
    E, H = np.load(tmp_path / "d" / "entries.npy"), np.load(tmp_path / "d" / "test_entries.npy")
    assert E.shape == (40, 3) and H.shape == (72 - 40, 3) and np.linalg.matrix_rank(T) == 2
    assert abs(np.linalg.norm(T) - np.sqrt(72)) <= 1e-12 * np.sqrt(72)
    assert np.array_equal(T[E[:, 0].astype(int), E[:, 1].astype(int)], E[:, 2])  # noise 0 by default
    _, (b,), _ = cli("train", "--entries", tmp_path / "d" / "entries.npy", "--test-entries",
                     tmp_path / "d" / "test_entries.npy", *args, "--seed", 3)
    for f in ("loss", "steps", "test_error", "effective_rank", "nuclear_norm", "nuclear_min_value"):
        assert a[f] == b[f], f
    _, runs, _ = cli("train", *synth, *args, "--seeds", "2,3", "--data-seed", 3)
    assert runs[1]["loss"] == a["loss"] and runs[1]["test_error"] == a["test_error"]


def test_python_complete_and_sense_are_the_cli_runs(rng, tmp_path):
    import dln
    T, E, H = completion_problem(rng)
    np.save(tmp_path / "E.npy", E)
    np.save(tmp_path / "H.npy", H)
    kw = dict(depth=3, width=6, init="gaussian", init_scale=0.2, steps=200)
    r = dln.complete(E, shape=T.shape, test_entries=H, **kw)
    _, (c,), _ = cli("train", "--entries", tmp_path / "E.npy", "--test-entries", tmp_path / "H.npy", "--rows",
                     T.shape[0], "--cols", T.shape[1], "--depth", 3, "--width", 6, "--init", "gaussian", "--init-scale",
                     0.2, "--steps", 200, "--quiet", "--backend", "cpu")
    for f in ("loss", "steps", "test_error", "effective_rank", "nuclear_norm"):
        assert r[f] == c[f], f
    assert np.array_equal(product(r["weights"]).shape, T.shape)
    assert "test_error" in r["trace"] and len(r["trace"]["test_error"]) >= 2
    T2, A, b = sensing_problem(rng)
    runs = dln.sense(A, b, shape=T2.shape, seeds=[1, 2], depth=2, width=4, steps=100)
    alone = dln.sense(A, b, shape=T2.shape, seed=2, depth=2, width=4, steps=100)
    assert runs[1]["loss"] == alone["loss"] and runs[1]["nuclear_norm"] == alone["nuclear_norm"]
    with pytest.raises(dln.InputError, match="square loss"):
        dln.complete(E, shape=T.shape, loss="lp")
    with pytest.raises(dln.InputError, match="more than once"):
        dln.complete(np.r_[E, E[:1]], shape=T.shape)


TIGHT = {"solver": "CLARABEL", "tol_gap_abs": 1e-10, "tol_gap_rel": 1e-10, "tol_feas": 1e-10}


def test_nuclear_norm_baseline_matches_cvxpy(rng):
    """min ||R||_* subject to the observations, by dln's ADMM (relative residuals 1e-8) and by
    cvxpy with the interior-point SDP solver CLARABEL at tolerances 1e-10 (cvxpy's default
    choice and accuracy missed by 2.7e-5 on one sensing draw, where the tight solve agreed with
    dln to 8e-10): the values within 1e-5 relative."""
    cp = pytest.importorskip("cvxpy")
    if "CLARABEL" not in cp.installed_solvers():
        pytest.skip("cvxpy without CLARABEL")
    import dln
    T, E, _ = completion_problem(rng, rows=9, cols=8, k=40, rank=2, noise=0.0)
    r = dln.complete(E, shape=T.shape, steps=0, nuclear=True, depth=2, width=8)
    X = cp.Variable(T.shape)
    i, j = E[:, 0].astype(int), E[:, 1].astype(int)
    prob = cp.Problem(cp.Minimize(cp.normNuc(X)), [X[i, j] == E[:, 2]])
    want = prob.solve(**TIGHT)
    assert r["nuclear_min_converged"] and abs(r["nuclear_min_value"] - want) <= 1e-5 * want, (r["nuclear_min_value"], want)
    assert r["nuclear_min_residual"] <= 1e-6
    T2, A, b = sensing_problem(rng, rows=6, cols=5, k=20, noise=0.1)
    s = dln.sense(A, b, shape=T2.shape, steps=0, nuclear=True, depth=2, width=5)
    Y = cp.Variable(T2.shape)
    want = cp.Problem(cp.Minimize(cp.normNuc(Y)), [A @ cp.vec(Y, order="C") == b]).solve(**TIGHT)
    assert abs(s["nuclear_min_value"] - want) <= 1e-5 * want, (s["nuclear_min_value"], want)


def bad_cases(tmp_path):
    """(name, arguments) of inputs that must be refused."""
    ok = np.array([[0, 1, 1.0], [2, 3, -2.0], [1, 1, 0.5]])

    def npy(name, a):
        np.save(tmp_path / name, a)
        return tmp_path / name

    E = npy("ok.npy", ok)
    shape = ["--rows", 4, "--cols", 5]
    bad = {"two_columns": ok[:, :2], "nan": np.where(ok == 0.5, np.nan, ok), "duplicate": np.r_[ok, ok[:1]],
           "row_out": np.r_[ok, [[4, 0, 1.0]]], "col_fraction": np.r_[ok, [[0, 2.5, 1.0]]],
           "empty": np.zeros((0, 3)), "neg": np.r_[ok, [[-1, 0, 1.0]]]}
    cases = [(k, ["--entries", npy(k + ".npy", v), *shape]) for k, v in bad.items()]
    A, b = np.ones((3, 20)), np.ones(3)
    cases += [("A_width", ["--sensing", npy("A19.npy", np.ones((3, 19))), "--b", npy("b.npy", b), *shape]),
              ("b_length", ["--sensing", npy("A.npy", A), "--b", npy("b2.npy", np.ones(2)), *shape]),
              ("b_matrix", ["--sensing", npy("A.npy", A), "--b", npy("bm.npy", np.ones((3, 2))), *shape]),
              ("no_b", ["--sensing", npy("A.npy", A), *shape]),
              ("b_alone", ["--complete", "--b", npy("b.npy", b)]),
              ("no_shape", ["--entries", E]),
              ("with_x", ["--entries", E, *shape, "--x", E, "--y", E]),
              ("two_problems", ["--entries", E, "--complete", *shape]),
              ("loss", ["--complete", "--loss", "lp"]),
              ("synthetic_test", ["--complete", "--test-entries", E]),
              ("files_rank", ["--entries", E, *shape, "--target-rank", 2]),
              ("too_many", ["--complete", "--rows", 3, "--cols", 3, "--observed", 10]),
              ("rows_alone", ["--rows", 4]),
              ("compressed", ["--complete", "--compressed"])]
    return cases


def test_cli_bad_matrix_inputs_exit_2_with_one_line_and_write_nothing(tmp_path):
    for name, args in bad_cases(tmp_path):
        log, save = tmp_path / ("%s.jsonl" % name), tmp_path / ("%s.save" % name)
        rc, out, err = cli("train", *args, "--steps", 5, "--log", log, "--save", save, "--quiet", check=False)
        assert rc == 2, (name, rc, err)
        assert out == [] and err.startswith("dln: ") and err.count("\n") == 1, (name, err)
        assert not os.path.exists(log) and not os.path.exists(save), name


def test_cli_rank_bound_reference_is_zero_on_exact_low_rank_data():
    """Noise-free rank-2 data under a rank-2 bound (`dln solve --rank 2`, and a depth-3 network
    of width 2): the rank-k restarts certify the value 0 (to 1e-16 of the zero matrix's loss:
    the trust region's stopping gradient) as the best known, and a deep run reaches it."""
    args = ["--complete", "--rows", 20, "--cols", 15, "--observed", 150, "--target-rank", 2, "--quiet", "--backend",
            "cpu", "--no-nuclear"]
    _, (s,), _ = cli("solve", *args, "--rank", 2, "--shallow-restarts", 5)
    assert s["reference"] == "best known" and s["rank"] == 2 and s["shallow_certified"] >= 1
    assert s["optimum_best_known"] <= 1e-16 * s["zero_loss"]
    _, (r,), _ = cli("train", *args, "--depth", 3, "--width", 2, "--shallow-restarts", 5, "--init", "gaussian",
                     "--init-scale", 0.5, "--steps", 20000)
    assert r["optimum_kind"] == "best_known" and r["verdict"] == "global" and r["test_error"] < 1e-2, r["note"]
