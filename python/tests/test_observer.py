"""on_step: called with each trace row (every log_every steps and the final state), able
to stop the run, and an exception raised in it stops the run and reaches the caller."""
import numpy as np
import pytest

import dln
from conftest import teacher


def test_on_step_sees_the_trace_rows_live(rng):
    X, Y = teacher(rng, 6, 4, 30)
    seen = []
    run = dln.train(X, Y, depth=3, width=3, steps=250, tol=0, log_every=40, on_step=seen.append)
    assert [r["step"] for r in seen] == [0, 40, 80, 120, 160, 200, 240, 250]
    assert [r["final"] for r in seen] == [False] * 7 + [True]
    assert list(run["trace"]["step"]) == [r["step"] for r in seen]
    assert list(run["trace"]["loss"]) == [r["loss"] for r in seen]
    assert seen[-1]["loss"] == run["loss"] and run["steps"] == 250 and run["stop"] == "step_limit"


def test_a_true_return_stops_the_run(rng):
    X, Y = teacher(rng, 6, 4, 30)
    run = dln.train(X, Y, depth=3, width=3, steps=1000, tol=0, log_every=10, on_step=lambda r: r["step"] >= 30)
    assert run["stop"] == "observer" and run["verdict"] == "stopped" and run["steps"] == 30


class Boom(Exception):
    pass


def test_an_exception_in_on_step_reaches_the_caller(rng):
    X, Y = teacher(rng, 6, 4, 30)
    calls = []

    def explode(row):
        calls.append(row["step"])
        if row["step"] == 20:
            raise Boom("at step 20")

    with pytest.raises(Boom, match="at step 20"):
        dln.train(X, Y, depth=3, width=3, steps=1000, tol=0, log_every=10, on_step=explode)
    assert calls == [0, 10, 20]  # stopped at once: no later row was delivered
    run = dln.train(X, Y, depth=3, width=3, steps=5)  # and the library is usable afterwards
    assert np.isfinite(run["loss"])


def test_batch_members_report_with_their_index(rng):
    X, Y = teacher(rng, 6, 4, 30)
    seen = []
    runs = dln.train(X, Y, depth=3, width=2, steps=100, tol=0, log_every=50, seeds=[3, 4], on_step=seen.append)
    for b in (0, 1):
        mine = [r for r in seen if r["member"] == b]
        assert [r["step"] for r in mine] == [0, 50, 100]
        assert [r["loss"] for r in mine] == list(runs[b]["trace"]["loss"])
