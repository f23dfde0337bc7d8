"""Bad input raises dln.InputError carrying a message (the library's own where the library
finds it), before anything runs; the interpreter never crashes."""
import numpy as np
import pytest

import dln
from conftest import teacher


@pytest.fixture
def problem(rng):
    return teacher(rng, 5, 3, 20)


@pytest.mark.parametrize("make_X, words", [
    (lambda X: X[0], "2-D"),
    (lambda X: X[None], "2-D"),
    (lambda X: X.astype(np.int64), "float64 or float32"),
    (lambda X: X.astype(np.complex128), "float64 or float32"),
    (lambda X: X.astype(object), "float64 or float32"),
    (lambda X: np.zeros((5, 0)), "empty"),
    (lambda X: X[:, :10], "same number of columns"),
    (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 7, np.nan, X), "X contains NaN at row"),
    (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X), "X contains Inf at row"),
    (lambda X: [[1.0, 2.0], [3.0]], "not an array"),
])
def test_bad_arrays_raise(problem, make_X, words):
    X, Y = problem
    for call in (lambda: dln.solve(make_X(X), Y), lambda: dln.train(make_X(X), Y, steps=5)):
        with pytest.raises(dln.InputError) as e:
            call()
        assert words in str(e.value), str(e.value)
        assert e.value.code == 2


def test_a_zero_target_is_the_librarys_message(problem):
    X, Y = problem
    with pytest.raises(dln.InputError, match="zero"):
        dln.solve(X, np.zeros_like(Y))


@pytest.mark.parametrize("kwargs, words", [
    (dict(depth=0), "depth"), (dict(width=0), "width"), (dict(width=2.5), "integer"), (dict(depth=True), "integer"),
    (dict(widths=[2, -1]), "widths"), (dict(init="he"), "init"), (dict(init_scale=-1), "init_scale"),
    (dict(lr=-1e-3), "lr"), (dict(lr="fast"), "lr"), (dict(momentum=1.0), "momentum"), (dict(steps=-1), "steps"),
    (dict(tol=float("nan")), "tol"), (dict(backend="gpu"), "backend"), (dict(precision="fp16"), "precision"),
    (dict(precision="tf32", backend="cpu"), "tf32"), (dict(solver="lu"), "solver"), (dict(seeds=[]), "seeds"),
    (dict(seeds=[1, -2]), "seeds"), (dict(threads=-1), "threads"), (dict(threads=2000), "threads"), (dict(seed=2 ** 64), "seed"), (dict(log_every=0), "log_every"),
    (dict(check_every=0), "check_every"), (dict(data="half"), "data"),
    (dict(line_search=True, momentum=0.5), "line search"), (dict(line_search=True, seeds=[1, 2]), "line search"),
    (dict(weights=[np.eye(3)]), "weights"), (dict(weights=[np.ones((4, 5)), np.ones((2, 4))]), "weights"),
    (dict(weights=[np.ones((4, 5)), np.full((3, 4), np.nan)]), "finite"),
])
def test_bad_options_raise(problem, kwargs, words):
    X, Y = problem
    with pytest.raises(dln.InputError) as e:
        dln.train(X, Y, **{"steps": 5, **kwargs})
    assert words in str(e.value), str(e.value)


def test_a_strided_view_gives_the_same_numbers(problem):
    X, Y = problem
    wide = np.zeros((X.shape[0], 2 * X.shape[1]))
    wide[:, ::2] = X  # a non-contiguous view, copied once by the package
    a = dln.train(wide[:, ::2], Y, depth=2, width=2, steps=50)
    b = dln.train(np.asfortranarray(X), Y, depth=2, width=2, steps=50)
    assert a["loss"] == b["loss"] and all(np.array_equal(p, q) for p, q in zip(a["weights"], b["weights"]))


def test_float32_input_is_widened_exactly(problem):
    X, Y = problem
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    a = dln.solve(X32, Y32)
    b = dln.solve(X32.astype(np.float64), Y32.astype(np.float64))
    assert a["optimum"] == b["optimum"]


def test_weights_round_trip_and_start_a_run(tmp_path, problem):
    X, Y = problem
    run = dln.train(X, Y, depth=3, width=2, steps=30)
    dln.save_weights(tmp_path / "w", run["weights"])
    back = dln.load_weights(tmp_path / "w", dx=5, dy=3)
    assert all(np.array_equal(p, q) for p, q in zip(back, run["weights"]))
    cont = dln.train(X, Y, weights=back, steps=30)
    assert cont["init"] == "given" and cont["depth"] == 3 and cont["loss_init"] == run["loss"]
    with pytest.raises(dln.InputError, match="none: not a directory"):
        dln.load_weights(tmp_path / "none", dx=5, dy=3)
    with pytest.raises(dln.InputError):
        dln.load_weights(tmp_path / "w", dx=4, dy=3)
