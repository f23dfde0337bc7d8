"""_experiment.py: an experiment of the library (include/dln/experiment.h) run from Python:
made, prepared and run by libdln.so exactly as `dln train`, `dln solve` and `dln hessian`
run it; its summaries are the records the library builds for the program too, read back as
JSON (NaN and Infinity kept as floats); its trace is collected through the observer, each
row the library's own trace line; its final weights copied out; its outputs committed. The
package only converts arguments and results: nothing here recomputes a field."""
import ctypes as C
import json

import numpy as np

from . import _lib
from ._errors import raise_for

L = _lib.lib
SPECTRA = ("singular_values_x", "singular_values_m")


def _text(fill):
    """The text a *_text call writes (asked twice: its length, then the text)."""
    n = fill(None, 0)
    if n < 0:
        return None
    buf = C.create_string_buffer(n + 1)
    fill(buf, n + 1)
    return buf.value.decode()


class _Trace:
    """The observer: each member's trace rows (as the program's --log: every log_every steps,
    where lambda_max was measured and at the final state) and the caller's on_step, whose
    exception stops the run and is re-raised by the caller."""

    def __init__(self, members, log_every, on_step):
        self.rows = [[] for _ in range(members)]
        self.last = [-1] * members
        self.log_every, self.on_step, self.exc = log_every, on_step, None
        self.batch = members > 1
        self.fn = _lib.EXPERIMENT_OBSERVER(self._observe)

    def _observe(self, ctx, member, obs_ptr):
        try:
            o = obs_ptr.contents
            if not L.dln_trace_due(obs_ptr, self.log_every, self.last[member]):
                return 0
            self.last[member] = o.step
            text = _text(lambda buf, n: L.dln_trace_text(member if self.batch else -1, obs_ptr,
                                                         _lib.SUMMARY_LITERALS, buf, n))
            row = json.loads(text)
            self.rows[member].append(row)
            if self.on_step is not None:
                return 1 if self.on_step(dict(row, final=bool(o.final))) else 0
        except BaseException as e:  # never let an exception cross the C frames
            if self.exc is None:
                self.exc = e
            return 1
        return 0

    def table(self, member, columns):
        """The member's rows as columns: a pandas DataFrame when pandas is installed, else a
        dict of arrays (NaN where a row lacks a field, such as lambda_max between estimates)."""
        rows = self.rows[member]
        keys = list(columns) + [k for r in rows for k in r if k not in columns]
        keys = list(dict.fromkeys(k for k in keys if k != "member"))
        t = {}
        for k in keys:
            vals = [r.get(k, np.nan) for r in rows]
            if k == "step":
                t[k] = np.array(vals, dtype=np.int64)
            elif all(isinstance(v, (int, float)) for v in vals):
                t[k] = np.array(vals, dtype=np.float64)
            else:
                t[k] = vals  # the observables' arrays, one list per row
        try:
            import pandas
        except ImportError:
            return t
        return pandas.DataFrame(t)


class Handle:
    """An object of the library held by a pointer, freed by close() or on leaving a with block."""
    ptr = None

    def _free(self, ptr):
        raise NotImplementedError

    def close(self):
        if self.ptr:
            self._free(self.ptr)
            self.ptr = C.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Experiment(Handle):
    """One experiment: `with Experiment(opts, keep) as e: e.run(); e.summary(b) ...`. keep
    holds every Python object the options point into, alive until the experiment ends."""

    def __init__(self, opts, keep=(), trace=None):
        self.opts, self.keep, self.trace = opts, keep, trace
        self.err, self.ptr = _lib.Error(), C.c_void_p()
        if trace is not None:
            opts.observer, opts.observer_ctx = trace.fn, None
        self._check(L.dln_experiment_create(C.byref(opts), C.byref(self.err), C.byref(self.ptr)))

    def _check(self, rc):
        if self.trace is not None and self.trace.exc is not None:
            raise self.trace.exc
        if rc and self.ptr:
            part = _lib.PARTS.get(L.dln_experiment_failed_part(self.ptr))
            if part and self.err.msg:
                self.err.msg = ((part + ": ").encode() + self.err.msg)[:511]
        raise_for(rc, self.err)

    def run(self):
        self._check(L.dln_experiment_prepare(self.ptr))
        self._check(L.dln_experiment_run(self.ptr))
        return self

    def members(self):
        return L.dln_experiment_members(self.ptr)

    def notes(self):
        return [L.dln_experiment_note(self.ptr, i).decode() for i in range(L.dln_experiment_notes(self.ptr))]

    def summary(self, member, flags=0):
        text = _text(lambda buf, n: L.dln_experiment_summary_text(self.ptr, member, flags | _lib.SUMMARY_LITERALS,
                                                                   buf, n))
        if text is None:
            raise_for(self.err.code or _lib.ERUNTIME, self.err)
        out = json.loads(text)
        for key in SPECTRA:
            if key in out:
                out[key] = np.array(out[key], dtype=np.float64)
        return out

    def weights(self, member):
        """The member's final weights (the experiment kept them), as Fortran-order arrays."""
        s = L.dln_experiment_shape(self.ptr).contents
        dims = [s.dims[i] for i in range(s.depth + 1)]
        arrays = [np.empty((dims[i + 1], dims[i]), order="F") for i in range(s.depth)]
        ptrs = (_lib.DP * s.depth)(*[a.ctypes.data_as(_lib.DP) for a in arrays])
        self._check(L.dln_experiment_weights(self.ptr, member, ptrs))
        return arrays

    def commit(self):
        self._check(L.dln_experiment_commit(self.ptr))

    def _free(self, ptr):
        L.dln_experiment_destroy(ptr)
