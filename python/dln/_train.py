"""_train.py: dln.train: one run (dln_train) or a batch of seeds trained together
(dln_train_batch, each member exactly the run it would be alone), with the CLI's defaults
and summary fields, the trace as arrays, and the final weights; and weights in and out."""
import ctypes as C
import math
import time

import numpy as np

from . import _lib
from ._api import TRACE_COLUMNS, _Backend, _choice, _copy_matrix, _int, _num, _problem, _shallow_fields, _solve
from ._errors import MAX_DIM, as_matrix, data_of, fail, raise_for

L = _lib.lib


class _Shape:
    """A dln_shape (freed on close) from depth and widths, or from given weights."""

    def __init__(self, dx, dy, depth, width, widths, weights):
        if weights is not None:
            if not isinstance(weights, (list, tuple)) or not weights:
                fail("weights: expected a list of 2-D arrays W1..WH")
            dims = [dx] + [np.shape(w)[0] if np.ndim(w) == 2 else -1 for w in weights]
            if dims[-1] != dy:
                fail("weights: the last layer has %d rows but Y has %d" % (dims[-1], dy))
            hidden = dims[1:-1]
            depth = len(weights)
        else:
            if widths is not None:
                hidden = [_int("widths[%d]" % i, w, 1, MAX_DIM) for i, w in enumerate(widths)]
                depth = len(hidden) + 1 if depth is None else depth
            else:
                depth = 4 if depth is None else depth
                hidden = [_int("width", width, 1, MAX_DIM)] * (max(_int("depth", depth, 1, 10000), 1) - 1)
        depth = _int("depth", depth, 1, 10000)
        self.s, err = _lib.Shape(), _lib.Error()
        arr = (C.c_int * max(len(hidden), 1))(*hidden)
        raise_for(L.dln_shape_make(depth, dx, dy, arr, len(hidden), C.byref(self.s), C.byref(err)), err)
        self.dims = [self.s.dims[i] for i in range(depth + 1)]
        self.depth = depth

    def close(self):
        L.dln_shape_free(C.byref(self.s))


class _Weights:
    """Host weights W[0..depth-1] allocated by the library (freed on close)."""

    def __init__(self, shape):
        self.shape, self.W = shape, _lib.DPP()

    def init(self, kind, scale, seed):
        err = _lib.Error()
        raise_for(L.dln_init_weights(C.byref(self.shape.s), kind, scale, seed, C.byref(self.W), C.byref(err)), err)

    def set(self, arrays):
        err = _lib.Error()
        raise_for(L.dln_weights_alloc(C.byref(self.shape.s), C.byref(self.W), C.byref(err)), err)
        dims = self.shape.dims
        for i, a in enumerate(arrays):
            a = as_matrix("weights[%d]" % i, a, rows=dims[i + 1])
            if a.shape[1] != dims[i]:
                fail("weights[%d]: expected shape (%d, %d), got %s" % (i, dims[i + 1], dims[i], a.shape))
            if not np.all(np.isfinite(a)):
                fail("weights[%d]: not finite" % i)
            dst = np.ctypeslib.as_array(self.W[i], shape=(a.size,))
            dst[:] = a.ravel(order="F")

    def arrays(self):
        d = self.shape.dims
        return [_copy_matrix(self.W[i], d[i + 1], d[i]) for i in range(self.shape.depth)]

    def balancedness(self):
        if not L.dln_balancedness_cheap(C.byref(self.shape.s)):
            return math.nan
        return L.dln_weights_balancedness(C.byref(self.shape.s), self.W)

    def close(self):
        if self.W:
            L.dln_weights_free(self.shape.depth, self.W)
            self.W = _lib.DPP()


class _Recorder:
    """The observer: the trace rows (every log_every steps and the final state, as the
    CLI's --log) and the user's on_step, whose exception stops the run and is re-raised."""

    def __init__(self, count, log_every, on_step):
        self.rows = [[] for _ in range(count)]
        self.last = [-1] * count
        self.log_every, self.on_step, self.exc = log_every, on_step, None
        self.fn = _lib.OBSERVER(self._observe)

    def _observe(self, ctx, obs_ptr):
        b = ctx or 0
        try:
            o = obs_ptr.contents
            if not (o.step % self.log_every == 0 or o.final) or o.step == self.last[b]:
                return 0
            lam = o.sharpness if math.isfinite(o.sharpness) else o.sharpness_est
            row = (o.step, o.loss, o.gap, o.rel_gap, o.grad_norm, o.lr, lam, o.lr * lam, o.seconds)
            self.rows[b].append(row)
            self.last[b] = o.step
            if self.on_step is not None:
                info = dict(zip(TRACE_COLUMNS, row), final=bool(o.final))
                if len(self.rows) > 1:
                    info["member"] = b
                return 1 if self.on_step(info) else 0
        except BaseException as e:  # never let an exception cross the C frames
            if self.exc is None:
                self.exc = e
            return 1
        return 0

    def trace(self, b):
        cols = list(zip(*self.rows[b])) if self.rows[b] else [()] * len(TRACE_COLUMNS)
        t = {c: np.array(v, dtype=np.int64 if c == "step" else np.float64) for c, v in zip(TRACE_COLUMNS, cols)}
        try:
            import pandas
        except ImportError:
            return t
        return pandas.DataFrame(t)


def _opts(lr, momentum, line_search, steps, tol, check_every, data, dtype):
    o = _lib.TrainOpts()
    L.dln_train_opts_default(C.byref(o))
    if isinstance(lr, str):
        o.lr, o.lr_rule = 0.0, _choice("lr", lr, {"auto": _lib.LR_SHARPNESS, "arora": _lib.LR_ARORA})
    else:
        o.lr = _num("lr", lr, 1e-300, 1e300)
    o.momentum = _num("momentum", momentum, 0, math.nextafter(1, 0))
    o.line_search = bool(line_search)
    o.steps = _int("steps", steps, 0, 10 ** 12)
    o.tol = _num("tol", tol, 0, 1e300)
    o.check_every = 0 if check_every is None else _int("check_every", check_every, 1, 1 << 30)
    o.data_mode = _choice("data", data, _lib.DATA_MODES)
    o.dtype = dtype
    return o


def _summary(be, d, shape, sh, o, r, init, init_scale, seed, lr, bal0, bal, solve_sec):
    """The fields of `dln train`'s summary line, in its order (the memory estimate aside)."""
    out = {"command": "train", **_problem(be, d), "depth": shape.depth, "widths": shape.dims[1:-1],
           "narrowest": min(shape.dims), "init": init, "init_scale": init_scale, "seed": seed, "lr": r.lr,
           "lr_auto": isinstance(lr, str),
           "lr_rule": "given" if not isinstance(lr, str) else ("arora" if lr == "arora" else "sharpness"),
           "lr_init": r.lr_init, "sharpness_init": r.sharpness_init, "sharpness": r.sharpness,
           "lr_lambda": r.lr * r.sharpness, "lr_changes": r.lr_changes, "lr_capped": r.lr_capped,
           "momentum": o.momentum, "line_search": bool(o.line_search), "compressed": bool(r.compressed),
           "max_steps": o.steps, "tol": o.tol, "loss": r.loss, "loss_init": r.loss_init, "gap": r.gap,
           "rel_gap": r.rel_gap, "grad_norm": r.grad_norm, "steps": r.steps, "converged": bool(r.converged),
           "diverged": bool(r.diverged), "verdict": L.dln_verdict_name(r.verdict).decode()}
    if r.verdict == 1 or r.verdict_skipped:  # DLN_VERDICT_CRITICAL, or stationary off the rank path
        out["verdict_rank"] = r.verdict_rank
    if r.verdict_skipped:
        out["verdict_modes_swapped"] = [r.verdict_skipped, r.verdict_added]
    out["grad_rel"] = r.grad_rel
    if r.verdict == 3:  # DLN_VERDICT_DECREASING
        out["steps_to_tol"] = r.steps_to_tol
    out.update(seconds=r.seconds, solve_seconds=solve_sec, balancedness_init=bal0,
               balancedness=math.nan if r.diverged else bal)
    out.update(_shallow_fields(sh))
    why = C.create_string_buffer(_lib.TRAIN_NOTE_MAX)
    L.dln_train_describe(C.byref(r), C.byref(o), why, len(why))
    out["note"] = why.value.decode()
    out["stop"] = _lib.STOPS.get(r.stop, "?")
    return out


def _listed(v):
    return isinstance(v, (list, tuple, range, np.ndarray))


def _members(init, init_scale, lr, momentum, seed, seeds, weights):
    """The runs asked for: the product of the lists among init, init_scale, lr, momentum and
    seeds, in the CLI's member order (init outermost, seed innermost: member b =
    ((((init n_scales + scale) n_lrs + lr) n_moms + mom) n_seeds + seed)), each checked; and
    whether they form a batch (any list given)."""
    lists = [list(v) if _listed(v) else [v] for v in (init, init_scale, lr, momentum)]
    lists.append(list(seeds) if seeds is not None else [seed])
    batch = seeds is not None or any(_listed(v) for v in (init, init_scale, lr, momentum))
    for name, values in zip(("init", "init_scale", "lr", "momentum", "seeds"), lists):
        if not values:
            fail("%s: an empty list" % name)
    if weights is not None and (len(lists[0]) > 1 or len(lists[1]) > 1 or len(lists[4]) > 1):
        fail("weights: every member would start from them; lists of inits, scales or seeds do not apply")
    kinds = []
    for i, name in enumerate(lists[0]):
        kind = C.c_int()
        if weights is None and L.dln_init_parse(str(name).encode(), C.byref(kind)):
            fail("init: expected gaussian, orthogonal, identity or balanced, got %r" % (name,))
        kinds.append(kind.value)
    scales = [_num("init_scale", v, 0, 1e100) for v in lists[1]]
    seeds_ = [_int("seeds" if seeds is not None else "seed", v, 0, 2 ** 64 - 1) for v in lists[4]]
    members = [{"init": str(i), "kind": k, "init_scale": sc, "lr": l, "momentum": mu, "seed": s}
               for i, k in zip(lists[0], kinds) for sc in scales for l in lists[2] for mu in lists[3] for s in seeds_]
    return members, batch


def train(X, Y, depth=None, width=4, widths=None, init="orthogonal", init_scale=1.0, seed=1, seeds=None,
          weights=None, lr="auto", momentum=0.0, line_search=False, steps=10000, tol=1e-6, check_every=None,
          data="auto", solver="auto", rank_tol=None, backend="auto", precision="fp64", log_every=100,
          on_step=None, threads=0):
    """Gradient descent on min 1/2 ||W_H...W_1 X - Y||^2 from the CLI's defaults (depth 4,
    width 4, orthogonal init of scale 1, seed 1, the sharpness rule for lr, 10000 steps, tol
    1e-6), timed against the shallow optimum for the narrowest layer.

    One run: a dict with every field of `dln train`'s summary (but the memory estimate) and
    `stop`, `trace` (step, loss, gap, rel_gap, grad_norm, lr, lambda_max, lr_lambda, seconds
    every log_every steps and at the end: a pandas DataFrame when pandas is installed, else a
    dict of arrays) and `weights` (the final W_1..W_H). With seeds=[...] or a list for any
    of init, init_scale, lr, momentum: a list of such dicts, one per member of the lists'
    product in the CLI's order (each with `member`), trained together as one batch; each
    equals its single run (bit for bit on the CPU backend). weights=[W1..WH] starts from those
    (depth and widths from their shapes; init 'given'). on_step(row) is called with each
    trace row (a dict; `final` set on the last); a true return value stops the run; an
    exception raised in it stops the run and is re-raised here (on_step is called on the
    calling thread). threads: on the CPU backend a batch's members are spread over this many
    threads (0: one per CPU; the results do not depend on it)."""
    d, keep = data_of(X, Y)
    log_every = _int("log_every", log_every, 1, 1 << 30)
    members, batch = _members(init, init_scale, lr, momentum, seed, seeds, weights)
    if rank_tol is not None:
        rank_tol = _num("rank_tol", rank_tol, 1e-300, 1)
    threads = _int("threads", threads, 0, 1024)
    with _Backend(backend, precision) as be:
        if batch:  # a single run uses no threads of dln's
            raise_for(L.dln_backend_set_threads(be.ptr, threads), be.err)
        n = len(members)
        opts = (_lib.TrainOpts * n)()
        rec = _Recorder(n, log_every, on_step)
        for b, m in enumerate(members):
            o = _opts(m["lr"], m["momentum"], line_search, steps, tol, check_every, data, be.dtype)
            o.observer, o.observer_ctx, o.observe_every = rec.fn, b, log_every
            C.memmove(C.byref(opts[b]), C.byref(o), C.sizeof(o))
        shape = _Shape(d.dx, d.dy, depth, width, widths, weights)
        Ws, sh = [], None
        try:
            for m in members:
                w = _Weights(shape)
                Ws.append(w)
                w.set(weights) if weights is not None else w.init(m["kind"], m["init_scale"], m["seed"])
            bal0 = [w.balancedness() for w in Ws]
            t0 = time.perf_counter()
            sh = _solve(be, d, min(shape.dims), rank_tol or 0.0, solver, 1)
            solve_sec = time.perf_counter() - t0
            res, err = (_lib.TrainResult * n)(), _lib.Error()
            fit, ref = _lib.Fit(), _lib.Reference()
            Wp = (_lib.DPP * n)(*[w.W for w in Ws])
            rc = L.dln_shallow_problem(C.byref(sh), C.byref(d), C.byref(fit), C.byref(ref), C.byref(err))
            if rc == 0:
                rc = L.dln_train(be.ptr, C.byref(fit), C.byref(ref), C.byref(shape.s), n, Wp, opts, res, C.byref(err))
            L.dln_reference_free(C.byref(ref))
            if rec.exc is not None:
                raise rec.exc
            raise_for(rc, err)
            runs = []
            for b, m in enumerate(members):
                given = weights is not None
                out = _summary(be, d, shape, sh, opts[b], res[b], "given" if given else m["init"],
                               math.nan if given else m["init_scale"], m["seed"], m["lr"], bal0[b],
                               Ws[b].balancedness(), solve_sec)
                if batch:
                    out = {"command": "train", "member": b, **{k: v for k, v in out.items() if k != "command"}}
                out["trace"], out["weights"] = rec.trace(b), Ws[b].arrays()
                runs.append(out)
        finally:
            for w in Ws:
                w.close()
            if sh is not None:
                L.dln_shallow_free(C.byref(sh))
            shape.close()
    del keep
    return runs if batch else runs[0]


def save_weights(path, weights):
    """Saves W1..WH as path/W1.npy..WH.npy the way `dln train --save` does: path holds, at
    every instant, the complete old set or the complete new one."""
    if not isinstance(weights, (list, tuple)) or not weights:
        fail("weights: expected a list of 2-D arrays W1..WH")
    first = as_matrix("weights[0]", weights[0])
    last = as_matrix("weights[%d]" % (len(weights) - 1), weights[-1])
    shape = _Shape(first.shape[1], last.shape[0], None, None, None, weights)
    w = _Weights(shape)
    try:
        w.set(weights)
        err = _lib.Error()
        raise_for(L.dln_weights_save(str(path).encode(), C.byref(shape.s), w.W, C.byref(err)), err)
    finally:
        w.close()
        shape.close()


def load_weights(path, dx, dy):
    """W1..WH from path/W1.npy..WH.npy (as `dln train --load`), checked to map dx -> dy."""
    dx, dy = _int("dx", dx, 1, MAX_DIM), _int("dy", dy, 1, MAX_DIM)
    s, W, err = _lib.Shape(), _lib.DPP(), _lib.Error()
    raise_for(L.dln_weights_load(str(path).encode(), dx, dy, C.byref(s), C.byref(W), C.byref(err)), err)
    try:
        return [_copy_matrix(W[i], s.dims[i + 1], s.dims[i]) for i in range(s.depth)]
    finally:
        L.dln_weights_free(s.depth, W)
        L.dln_shape_free(C.byref(s))
