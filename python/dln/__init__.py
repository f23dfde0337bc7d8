"""dln: the loss landscape of deep linear networks, from Python.

    import dln
    X, Y = dln.synthetic(seed=1)                 # the CLI's default problem
    sol = dln.solve(X, Y, rank=4)                # the shallow optimum L* in closed form
    run = dln.train(X, Y, depth=4, width=4)      # gradient descent, timed against L*
    run["rel_gap"], run["verdict"], run["trace"], run["weights"]
    dln.loss(X, Y, run["weights"]), dln.gradient(...), dln.hvp(X, Y, W, V)  # exact derivatives
    run = dln.complete(entries, shape=(100, 100), depth=3, width=100)  # deep matrix completion
    run["test_error"], run["effective_rank"], run["nuclear_min_test_error"]

The same C library as the `dln` program (libdln.so, loaded with ctypes), with the same
defaults, so the same configuration gives the same numbers. Failures raise dln.InputError
(bad input), dln.RuntimeFailure or dln.OutOfMemory, carrying dln's own message."""
from ._errors import Error, InputError, OutOfMemory, RuntimeFailure
from ._api import backends, solve, synthetic
from ._derivatives import flow, gradient, hvp, loss
from ._train import load_weights, save_weights, train
from ._matrix import complete, sense

__version__ = "0.2.0"  # DLN_VERSION in include/dln/dln.h (checked by the tests)
__all__ = ["synthetic", "solve", "train", "complete", "sense", "flow", "loss", "gradient", "hvp", "save_weights", "load_weights", "backends",
           "Error", "InputError", "RuntimeFailure", "OutOfMemory"]
