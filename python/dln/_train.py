"""_train.py: dln.train: one run, or a batch of runs trained together (each member exactly
the run it would be alone), as the library's `dln train` experiment with the CLI's defaults:
the same memory check, summary fields, Hessian at the end, observables, perturbation and
saved outputs; the trace as columns and the final weights as arrays. Also weights in and out."""
import ctypes as C
import math

import numpy as np

from . import _lib
from ._api import _choice, _copy_matrix, _experiment_opts, _int, _loss_params, _num, _path
from ._errors import MAX_DIM, as_matrix, data_of, fail, raise_for
from ._experiment import Experiment, _Trace

L = _lib.lib
TRACE_COLUMNS = ("step", "loss", "gap", "rel_gap", "grad_norm", "lr", "time", "lambda_max", "lr_lambda", "seconds")


def _listed(v):
    return isinstance(v, (list, tuple, range, np.ndarray))


def _members(init, init_scale, lr, momentum, seed, seeds, weights):
    """The lists among init, init_scale, lr, momentum and seeds, each checked, as the C
    arrays of the experiment (the library makes their product in the CLI's member order:
    init outermost, seed innermost), and whether they form a batch (any list given)."""
    lists = [list(v) if _listed(v) else [v] for v in (init, init_scale, lr, momentum)]
    lists.append(list(seeds) if seeds is not None else [seed])
    batch = seeds is not None or any(_listed(v) for v in (init, init_scale, lr, momentum))
    for name, values in zip(("init", "init_scale", "lr", "momentum", "seeds"), lists):
        if not values:
            fail("%s: an empty list" % name)
    if weights is not None and (len(lists[0]) > 1 or len(lists[1]) > 1 or len(lists[4]) > 1):
        fail("weights: every member would start from them; lists of inits, scales or seeds do not apply")
    kinds = []
    for name in lists[0]:
        kind = C.c_int()
        if weights is None and L.dln_init_parse(str(name).encode(), C.byref(kind)):
            fail("init: expected gaussian, orthogonal, identity or balanced, got %r" % (name,))
        kinds.append(kind.value)
    scales = [_num("init_scale", v, 0, 1e100) for v in lists[1]]
    rates, rules = [], []
    for v in lists[2]:
        if isinstance(v, str):
            rates.append(0.0)
            rules.append(_choice("lr", v, {"auto": _lib.LR_SHARPNESS, "arora": _lib.LR_ARORA}))
        else:
            rates.append(_num("lr", v, 1e-300, 1e300))
            rules.append(_lib.LR_SHARPNESS)
    moms = [_num("momentum", v, 0, math.nextafter(1, 0)) for v in lists[3]]
    seeds_ = [_int("seeds" if seeds is not None else "seed", v, 0, 2 ** 64 - 1) for v in lists[4]]
    arrays = dict(inits=(C.c_int * len(kinds))(*kinds), scales=(C.c_double * len(scales))(*scales),
                  lrs=(C.c_double * len(rates))(*rates), lr_rules=(C.c_int * len(rules))(*rules),
                  moms=(C.c_double * len(moms))(*moms), seeds=(C.c_uint64 * len(seeds_))(*seeds_))
    return arrays, batch


def _shape(o, dx, dy, depth, width, widths, weights, keep):
    """depth and the hidden widths into the experiment's options: from the given weights
    (checked: 2-D, chained, finite; copied into Fortran-order float64), else from depth and
    width(s). The arrays live in keep."""
    if weights is not None:
        if not isinstance(weights, (list, tuple)) or not weights:
            fail("weights: expected a list of 2-D arrays W1..WH")
        dims = [dx] + [np.shape(w)[0] if np.ndim(w) == 2 else -1 for w in weights]
        if dims[-1] != dy:
            fail("weights: the last layer has %d rows but Y has %d" % (dims[-1], dy))
        arrays = []
        for i, w in enumerate(weights):
            a = as_matrix("weights[%d]" % i, w, rows=dims[i + 1])
            if a.shape[1] != dims[i]:
                fail("weights[%d]: expected shape (%d, %d), got %s" % (i, dims[i + 1], dims[i], a.shape))
            if not np.all(np.isfinite(a)):
                fail("weights[%d]: not finite" % i)
            arrays.append(a)
        hidden, depth = dims[1:-1], len(weights)
        ptrs = (_lib.DP * depth)(*[a.ctypes.data_as(_lib.DP) for a in arrays])
        o.weights = ptrs
        keep += [arrays, ptrs]
    elif widths is not None:
        hidden = [_int("widths[%d]" % i, w, 1, MAX_DIM) for i, w in enumerate(widths)]
        depth = len(hidden) + 1 if depth is None else depth
    else:
        depth = 4 if depth is None else depth
        hidden = None
        o.width = _int("width", width, 1, MAX_DIM)
    o.depth = _int("depth", depth, 1, 10000)
    if hidden is not None:
        if len(hidden) != o.depth - 1:
            fail("depth %d needs %d hidden widths, got %d" % (o.depth, o.depth - 1, len(hidden)))
        arr = (C.c_int * max(len(hidden), 1))(*hidden)
        o.widths = C.cast(arr, C.POINTER(C.c_int))
        keep.append(arr)


def train(X, Y, depth=None, width=4, widths=None, init="orthogonal", init_scale=1.0, seed=1, seeds=None,
          weights=None, lr="auto", momentum=0.0, line_search=False, steps=10000, tol=1e-6, check_every=None,
          data="auto", solver="auto", rank_tol=None, backend="auto", precision="fp64", log_every=100,
          on_step=None, threads=0, batch_size=None, hessian=False, hessian_iters=None, observe=False,
          sharpness_every=None, perturb=None, perturb_dir=None, save=None, save_direction=None,
          save_solution=None, save_data=None, loss="square", p=None, delta=None, grad_tol=None, loss_tol=None,
          shallow_restarts=None, certify=None, flow=None, flow_rtol=None, sharpness_rtol=None, sharpness_k=None, compare_flow=False,
          _matrix=None):
    """Gradient descent on min 1/2 ||W_H...W_1 X - Y||^2 from the CLI's defaults (depth 4,
    width 4, orthogonal init of scale 1, seed 1, the sharpness rule for lr, 10000 steps, tol
    1e-6), timed against the shallow optimum for the narrowest layer: `dln train`'s experiment,
    run by the same library code.

    loss= fits another loss of Z = W_H...W_1 X (`dln train --loss`): "lp" (1/p) sum |Z - Y|^p
    (p=, default 4), "huber" (delta=, default 1), "logistic" (entries of Y in [0, 1]),
    "softmax" (columns of Y on the simplex). These train on the full data against the
    shallow problem's optimum (reference "convex": no active rank bound) or the best value
    that shallow_restarts (default 20) rank-k restarts certified ("best known"); logistic or
    softmax on separable data have none ("unattained": gap NaN, the verdict "still decreasing
    (separable data)", tol on the gradient norm relative to its start). grad_tol=T stops at
    ||G|| <= T ||G_0||, loss_tol=T when the loss changed by at most T |L| between checks
    (--grad-tol, --loss-tol). certify=True/False: whether each member's product is tested as a
    local minimum of the shallow problem (shallow_local_min, shallow_verdict and the
    certify_* fields; None: where cheap, as `dln train`).

    One run: a dict with every field of `dln train`'s summary (memory estimate included),
    `trace` (step, loss, gap, rel_gap, grad_norm, lr, time, lambda_max, lr_lambda, seconds
    every log_every steps and at the end, with the observables when observe=True: a pandas
    DataFrame when pandas is installed, else a dict of arrays) and `weights` (the final
    W_1..W_H). With seeds=[...] or a list for any of init, init_scale, lr, momentum: a list of
    such dicts, one per member of the lists' product in the CLI's order (each with `member`),
    trained together as batches of at most batch_size (None: as many as memory allows); each
    equals its single run (bit for bit on the CPU backend). weights=[W1..WH] starts from those
    (depth and widths from their shapes; init 'given'), perturb=S from W + S v (v a unit
    direction: perturb_dir's weights, else a random one from seed). hessian=True adds the
    Hessian's extremes at the final weights (`dln train --hessian`), observe=True the
    observables to the trace (--observe), sharpness_every=K lambda_max to the trace every K
    steps (--sharpness-every; Lanczos with hessian_iters steps, default 20). save, save_direction,
    save_solution and save_data are directories written as the CLI's --save, --save-direction,
    --save-solution and --save-data write them. on_step(row) is called with each trace row (a
    dict; `final` set on the last); a true return value stops the run; an exception raised in
    it stops the run and is re-raised here (on_step is called on the calling thread). threads:
    on the CPU backend a batch's members, and the pieces of a run's long products on full
    data, are spread over this many threads (0: one per CPU; the results do not depend on it).
    flow=T follows the gradient flow dW/dt = -grad L(W) to time T instead of gradient descent
    (`dln train --flow T`: Dormand-Prince 5(4) steps of each member's own adaptive size to the
    relative tolerance flow_rtol, default 1e-8; a step is an accepted one, `time` flow time;
    lr, momentum and line_search do not apply). sharpness_rtol=R: sharpness_every's lambda_max
    by Lanczos until its residual bound is within R of it (--sharpness-rtol); sharpness_k=K the
    top K eigenvalues too (lambda_top, --sharpness-k). compare_flow=True
    adds flow_distance (and flow_distance_rel) to the trace: ||W - W_flow(t)|| against the flow
    from the same start at each row's flow time (--compare-flow). (_matrix: dln.complete's and dln.sense's
    observations, set into the options instead of X, Y.)"""
    d, keep = data_of(X, Y) if _matrix is None else (None, ())
    keep = list(keep)
    log_every = _int("log_every", log_every, 1, 1 << 30)
    arrays, batch = _members(init, init_scale, lr, momentum, seed, seeds, weights)
    o = _experiment_opts("train", d, backend, precision, solver, rank_tol)
    o.loss, o.loss_params = _loss_params(loss, p, delta)
    keep.append(o.loss)
    dx, dy = (d.dx, d.dy) if _matrix is None else _matrix(o, keep)
    _shape(o, dx, dy, depth, width, widths, weights, keep)
    for name, arr in arrays.items():
        setattr(o, name, arr)
        keep.append(arr)
    o.n_inits, o.n_scales, o.n_lrs = len(arrays["inits"]), len(arrays["scales"]), len(arrays["lrs"])
    o.n_moms, o.n_seeds = len(arrays["moms"]), len(arrays["seeds"])
    o.init, o.init_scale, o.seed = arrays["inits"][0], arrays["scales"][0], arrays["seeds"][0]
    o.train.lr, o.train.lr_rule, o.train.momentum = arrays["lrs"][0], arrays["lr_rules"][0], arrays["moms"][0]
    o.train.line_search = bool(line_search)
    if flow is not None:
        if line_search or momentum != 0.0 or lr != "auto":
            fail("flow: the gradient flow takes steps of its own: no lr, momentum or line_search")
        o.train.flow = _num("flow", flow, 1e-300, 1e100)
    o.compare_flow = bool(compare_flow)
    if compare_flow and flow is not None:
        fail("compare_flow: compares gradient descent with the flow: not with flow=T")
    if flow_rtol is not None:
        if flow is None and not compare_flow:
            fail("flow_rtol: needs flow=T or compare_flow=True")
        o.train.flow_rtol = _num("flow_rtol", flow_rtol, 1e-300, 0.999999)
    o.train.steps = _int("steps", steps, 0, 10 ** 12)
    o.train.tol = _num("tol", tol, 0, 1e300)
    o.train.grad_tol = 0.0 if grad_tol is None else _num("grad_tol", grad_tol, 0, 1e300)
    o.train.loss_tol = 0.0 if loss_tol is None else _num("loss_tol", loss_tol, 0, 1e300)
    if shallow_restarts is not None:
        if loss == "square" and _matrix is None:
            fail("shallow_restarts: for the losses without a closed-form optimum (the square loss's is exact)")
        o.shallow_restarts = _int("shallow_restarts", shallow_restarts, 0, 100000)
    if certify is not None:
        if not isinstance(certify, bool):
            fail("certify: expected True, False or None (where cheap), got %r" % (certify,))
        o.certify = int(certify)
    o.train.check_every = 0 if check_every is None else _int("check_every", check_every, 1, 1 << 30)
    o.train.data_mode = _choice("data", data, _lib.DATA_MODES)
    o.train.sharpness_every = 0 if sharpness_every is None else _int("sharpness_every", sharpness_every, 1, 1 << 30)
    if sharpness_rtol is not None:
        if sharpness_every is None:
            fail("sharpness_rtol: the accuracy of sharpness_every's lambda_max: give both")
        o.train.sharpness_rtol = _num("sharpness_rtol", sharpness_rtol, 1e-300, 0.999999)
    if sharpness_k is not None:
        if sharpness_every is None:
            fail("sharpness_k: the top eigenvalues where sharpness_every measures lambda_max: give both")
        o.train.sharpness_k = _int("sharpness_k", sharpness_k, 1, 1000)
    o.threads = _int("threads", threads, 0, 1024)
    o.batch_size = 0 if batch_size is None else _int("batch_size", batch_size, 1, 1 << 20)
    o.hessian, o.observe = bool(hessian), bool(observe)
    o.hessian_iters = 0 if hessian_iters is None else _int("hessian_iters", hessian_iters, 1, 100000)
    if perturb is not None:
        o.perturb_set, o.perturb = 1, _num("perturb", perturb, -1e100, 1e100)
    o.perturb_dir = _path("perturb_dir", perturb_dir)
    o.save_dir, o.direction_dir = _path("save", save), _path("save_direction", save_direction)
    o.solution_dir, o.data_dir = _path("save_solution", save_solution), _path("save_data", save_data)
    o.keep_weights = 1
    o.observe_every = log_every
    members = len(arrays["inits"]) * len(arrays["scales"]) * len(arrays["lrs"]) * len(arrays["moms"]) * \
        len(arrays["seeds"])
    trace = _Trace(members, log_every, on_step)
    with Experiment(o, keep, trace) as e:
        e.run()
        runs = []
        for b in range(members):
            out = e.summary(b, _lib.SUMMARY_SPECTRA | (_lib.SUMMARY_MEMBER if batch else 0))
            out["trace"], out["weights"] = trace.table(b, TRACE_COLUMNS), e.weights(b)
            runs.append(out)
        e.commit()
    return runs if batch else runs[0]


class _HostWeights:
    """Host weights W[0..depth-1] allocated by the library for a shape (freed on close)."""

    def __init__(self, dims):
        self.depth, self.err = len(dims) - 1, _lib.Error()
        self.s, self.W = _lib.Shape(), _lib.DPP()
        hidden = (C.c_int * max(len(dims) - 2, 1))(*dims[1:-1])
        raise_for(L.dln_shape_make(self.depth, dims[0], dims[-1], hidden, len(dims) - 2, C.byref(self.s),
                                   C.byref(self.err)), self.err)
        raise_for(L.dln_weights_alloc(C.byref(self.s), C.byref(self.W), C.byref(self.err)), self.err)

    def close(self):
        if self.W:
            L.dln_weights_free(self.depth, self.W)
            self.W = _lib.DPP()
        L.dln_shape_free(C.byref(self.s))


def _dims_of(weights):
    """The layer widths d_0..d_H of a list of weight matrices (checked to chain)."""
    if not isinstance(weights, (list, tuple)) or not weights:
        fail("weights: expected a list of 2-D arrays W1..WH")
    arrays = [as_matrix("weights[%d]" % i, w) for i, w in enumerate(weights)]
    dims = [arrays[0].shape[1]] + [a.shape[0] for a in arrays]
    for i, a in enumerate(arrays):
        if a.shape[1] != dims[i]:
            fail("weights[%d]: expected shape (%d, %d), got %s" % (i, dims[i + 1], dims[i], a.shape))
    return arrays, dims


def save_weights(path, weights):
    """Saves W1..WH as path/W1.npy..WH.npy the way `dln train --save` does: path holds, at
    every instant, the complete old set or the complete new one."""
    arrays, dims = _dims_of(weights)
    w = _HostWeights(dims)
    try:
        for i, a in enumerate(arrays):
            if not np.all(np.isfinite(a)):
                fail("weights[%d]: not finite" % i)
            np.ctypeslib.as_array(w.W[i], shape=(a.size,))[:] = a.ravel(order="F")
        raise_for(L.dln_weights_save(_path("path", path), C.byref(w.s), w.W, C.byref(w.err)), w.err)
    finally:
        w.close()


def load_weights(path, dx, dy):
    """W1..WH from path/W1.npy..WH.npy (as `dln train --load`), checked to map dx -> dy."""
    dx, dy = _int("dx", dx, 1, MAX_DIM), _int("dy", dy, 1, MAX_DIM)
    s, W, err = _lib.Shape(), _lib.DPP(), _lib.Error()
    raise_for(L.dln_weights_load(_path("path", path), dx, dy, C.byref(s), C.byref(W), C.byref(err)), err)
    try:
        return [_copy_matrix(W[i], s.dims[i + 1], s.dims[i]) for i in range(s.depth)]
    finally:
        L.dln_weights_free(s.depth, W)
        L.dln_shape_free(C.byref(s))
