"""dln_runs: helpers shared by scripts/sweep and scripts/plot (Python 3 standard library only).

A sweep directory DIR holds:
    DIR/sweep.json              the sweep's configuration (written by scripts/sweep)
    DIR/cells/<cell>/result.json  one finished cell: its configuration, argv, exit status,
                                  error message and the one-line JSON printed by `dln train`
    DIR/cells/<cell>/trace.jsonl  the `dln train --log` trace: step, loss, gap, rel_gap, ...
    DIR/runs.csv                one row per result.json (regenerated, never appended to)

This module knows those file names and formats: it writes files atomically, builds a cell's
result.json (result_record) and its runs.csv row (make_row: the steps_to_<eps>/seconds_to_<eps>
columns come from the trace), keeps runs.csv current (Table), reads traces, and finds the GPUs
(detect_gpus). Nothing here needs numpy or matplotlib.
"""

import csv
import datetime
import io
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
DEFAULT_EPS = "1e-2,1e-4,1e-6"
CELLS = "cells"
RESULT = "result.json"
TRACE = "trace.jsonl"
RUNS_CSV = "runs.csv"
SWEEP_JSON = "sweep.json"


def eps_label(eps):
    """1e-2 -> '1e-02', 2.5e-3 -> '2.5e-03': the suffix of the steps_to_/seconds_to_ columns."""
    mant, exp = ("%.6e" % float(eps)).split("e")
    mant = mant.rstrip("0").rstrip(".")
    return "%se%+03d" % (mant, int(exp))


def parse_eps_list(text):
    """'1e-2,1e-4' -> [0.01, 0.0001], sorted from largest to smallest, duplicates removed."""
    vals = []
    for tok in str(text).split(","):
        tok = tok.strip()
        if not tok:
            continue
        v = float(tok)
        if not (v > 0 and math.isfinite(v)):
            raise ValueError("eps must be positive, got %r" % tok)
        if v not in vals:
            vals.append(v)
    if not vals:
        raise ValueError("empty eps list")
    return sorted(vals, reverse=True)


def now_iso():
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def fmt_duration(sec):
    """Seconds as '45s', '1m20s', '2h05m'."""
    if sec is None or not math.isfinite(sec):
        return "?"
    sec = int(round(max(0.0, sec)))
    if sec < 60:
        return "%ds" % sec
    if sec < 3600:
        return "%dm%02ds" % (sec // 60, sec % 60)
    return "%dh%02dm" % (sec // 3600, (sec % 3600) // 60)


def atomic_write_text(path, text):
    """Write text to path through a temporary file in the same directory and a rename."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_many(items):
    """atomic_write_text for many (path, text) pairs with one sync: every temporary file is
    written, the data flushed to disk once (os.sync), then each renamed into place, in order."""
    if len(items) == 1:
        return atomic_write_text(*items[0])
    tmps = []
    try:
        for path, text in items:
            d = os.path.dirname(os.path.abspath(path))
            os.makedirs(d, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
            tmps.append(tmp)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        if tmps:
            os.sync()
        for (path, _), tmp in zip(items, tmps):
            os.replace(tmp, path)
    except BaseException:
        for tmp in tmps:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_trace(path, final=None):
    """The trace as a list of dicts (step, rel_gap, seconds, ...), sorted by step.

    Unreadable lines (a trace cut short by a kill) are skipped. `final` is the dln train JSON:
    its last point (steps, rel_gap, seconds) is appended when the trace stops before it, since
    dln logs every --log-every steps and the last update is usually between two log points.
    """
    pts = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    p = json.loads(line)
                except ValueError:
                    continue
                if isinstance(p, dict) and "step" in p:
                    pts.append(p)
    except OSError:
        pass
    pts.sort(key=lambda p: p["step"])
    if final and isinstance(final.get("steps"), (int, float)) and final.get("rel_gap") is not None:
        if not pts or final["steps"] > pts[-1]["step"]:
            pts.append({"step": final["steps"], "rel_gap": final["rel_gap"],
                        "loss": final.get("loss"), "seconds": final.get("seconds"), "final": True})
    return pts


def first_reach(points, eps):
    """(step, seconds) of the first point with rel_gap <= eps, or (None, None)."""
    for p in points:
        g = p.get("rel_gap")
        if isinstance(g, (int, float)) and g <= eps:
            return p.get("step"), p.get("seconds")
    return None, None


def result_files(out_dir):
    """Paths of every DIR/cells/*/result.json, sorted."""
    base = os.path.join(out_dir, CELLS)
    if not os.path.isdir(base):
        return []
    found = []
    for name in sorted(os.listdir(base)):
        p = os.path.join(base, name, RESULT)
        if os.path.isfile(p):
            found.append(p)
    return found


def csv_text(header, rows):
    """CSV text for dict rows; None -> empty, bool -> true/false, floats at full precision."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        out = []
        for k in header:
            v = r.get(k)
            if v is None:
                out.append("")
            elif isinstance(v, bool):
                out.append("true" if v else "false")
            elif isinstance(v, float):
                out.append(repr(v))
            else:
                out.append(str(v))
        w.writerow(out)
    return buf.getvalue()


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def to_float(s):
    """CSV field -> float, or None when empty or not a number."""
    if s is None or s == "":
        return None
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def width_sort_key(label):
    """Order width labels '4' < '16' < '8-4-8' numerically, element by element."""
    try:
        return (0, tuple(int(x) for x in str(label).split("-") if x != ""))
    except ValueError:
        return (1, (str(label),))


# ---------------------------------------------------------------- runs.csv

BASE_COLS = ["cell", "depth", "width", "widths", "init", "init_scale", "lr", "lr_used",
             "momentum", "seed", "data_seed", "backend", "precision", "dx", "dy", "samples",
             "max_steps", "tol", "loss", "optimum", "gap", "rel_gap", "converged", "diverged",
             "steps", "seconds", "solve_seconds", "wall_seconds"]
# where a run ended (dln's verdict; saddle and lambda_min/max with --extra="--hessian")
LANDSCAPE_COLS = ["verdict", "verdict_rank", "grad_rel", "saddle", "lambda_min", "lambda_max"]
TAIL_COLS = (["rank_x", "rank_y", "rank", "constrained", "hypotheses"] + LANDSCAPE_COLS
             + ["note", "status", "error"])


def make_row(res, eps_list, trace_path):
    """One runs.csv row from a result.json (and its trace, for the steps_to_/seconds_to_ columns)."""
    c, j = res.get("config", {}), res.get("result") or {}
    prob = res.get("fixed", {}).get("problem", {})
    row = {k: c.get(k) for k in ("depth", "width", "init", "init_scale", "lr", "momentum", "seed")}
    row.update(cell=res.get("cell"), widths="-".join(map(str, c.get("widths") or [])),
               lr_used=j.get("lr"), data_seed=None if "x" in prob else prob.get("data_seed"),
               backend=j.get("backend", res.get("fixed", {}).get("backend")),
               precision=j.get("precision", res.get("fixed", {}).get("precision")),
               max_steps=j.get("max_steps", res.get("fixed", {}).get("steps")),
               tol=j.get("tol", res.get("fixed", {}).get("tol")),
               wall_seconds=res.get("wall_seconds"), status=res.get("status"),
               error=res.get("error") or None)
    for k in ("dx", "dy", "samples"):
        row[k] = j.get(k, prob.get(k))
    for k in ("loss", "optimum", "gap", "rel_gap", "converged", "diverged", "steps", "seconds",
              "solve_seconds", "rank_x", "rank_y", "rank", "constrained", "hypotheses", "note"):
        row[k] = j.get(k)
    for k in LANDSCAPE_COLS:
        row[k] = j.get(k)
    pts = read_trace(trace_path, j) if j else []
    for e in eps_list:
        row["steps_to_" + eps_label(e)], row["seconds_to_" + eps_label(e)] = first_reach(pts, e)
    return row


def result_record(c, r, fixed, log_every, cell_timeout):
    """The result.json of a finished cell, or None when it was interrupted (SIGINT/TERM/HUP).

    c: the cell (name, depth, width, widths, init, init_scale, lr, momentum, seed); r: how the
    process ended (argv, rc, out, err, wall, gpu, timed_out). status is dln's exit status, 124
    for a --cell-timeout, 128+N for signal N, 1 for an exit 0 without a JSON summary on stdout.
    """
    rc = r["rc"]
    if rc is not None and rc < 0 and -rc in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) \
            and not r["timed_out"]:
        return None
    lines = [l for l in r["err"].splitlines() if l.strip()]
    summary, error = None, None
    if r["timed_out"]:
        rc, error = 124, "timed out after %gs (--cell-timeout)" % cell_timeout
    elif rc < 0:
        rc, error = 128 - rc, "killed by signal %d" % -rc
    elif rc != 0:
        dl = [l for l in lines if l.startswith("dln:")]
        error = (dl or lines or ["exit status %d" % rc])[-1]
    else:
        outl = [l for l in r["out"].splitlines() if l.strip()]
        try:
            summary = json.loads(outl[-1])
            assert isinstance(summary, dict)
        except (IndexError, ValueError, AssertionError):
            rc, error, summary = 1, "dln exited 0 but printed no JSON summary on stdout", None
    return {"cell": c["name"], "config": {k: c[k] for k in ("depth", "width", "widths", "init",
            "init_scale", "lr", "momentum", "seed")}, "fixed": fixed, "status": rc,
            "error": error, "wall_seconds": round(r["wall"], 6), "argv": r["argv"],
            "gpu": r["gpu"], "host": socket.gethostname(), "finished": now_iso(),
            "log_every": log_every, "result": summary, "stderr_tail": r["err"][-2000:]}


def csv_header(eps_list):
    return (BASE_COLS + ["steps_to_" + eps_label(e) for e in eps_list]
            + ["seconds_to_" + eps_label(e) for e in eps_list] + TAIL_COLS)


def row_key(r):
    """Rows ordered by depth, width, init, scale, lr (auto first), momentum, seed."""
    lr = r.get("lr") or "auto"
    return (r.get("depth") or 0, width_sort_key(r.get("width") or ""), r.get("init") or "",
            to_float(r.get("init_scale")) or 0.0, (lr != "auto", to_float(lr) or 0.0),
            to_float(r.get("momentum")) or 0.0, r.get("seed") or 0, r.get("cell") or "")


class Table:
    """result.json rows cached in memory; runs.csv rewritten atomically from them."""

    def __init__(self, eps_list, csv_path):
        self.eps_list, self.path, self.rows, self.status = eps_list, csv_path, {}, {}
        self.last_cost = self.last_write = 0.0

    def load(self, path):
        try:
            res = read_json(path)
        except (OSError, ValueError) as e:
            print("sweep: skipping unreadable %s: %s" % (path, e), file=sys.stderr)
            return None
        d = os.path.dirname(path)
        self.rows[d] = make_row(res, self.eps_list, os.path.join(d, TRACE))
        self.status[d] = res.get("status")
        return res

    def write(self, force=True, only=None):
        # Rewriting costs O(rows): when that is slow, write at most ~10% of the time.
        t = time.monotonic()
        if not force and t - self.last_write < 10 * self.last_cost:
            return
        rows = [r for r in self.rows.values() if only is None or r["cell"] in only]
        atomic_write_text(self.path, csv_text(csv_header(self.eps_list), sorted(rows, key=row_key)))
        self.last_write = time.monotonic()
        self.last_cost = self.last_write - t


def detect_gpus(backend, gpus):
    """GPU ids for CUDA_VISIBLE_DEVICES; [] means run on the CPU with --jobs.

    gpus: "auto" (those visible: $CUDA_VISIBLE_DEVICES if set, else `nvidia-smi -L`) or a count
    (the first that many visible; 0..N-1 when none can be seen; ValueError when fewer are).
    """
    if backend == "cpu" or gpus == 0:
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [x.strip() for x in visible.split(",") if x.strip() and x.strip() != "-1"]
    elif shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        ids = [str(i) for i in range(sum(1 for l in out.splitlines() if l.startswith("GPU ")))]
    else:
        ids = []
    if gpus == "auto":
        return ids
    if ids and gpus > len(ids):
        raise ValueError("--gpus %d: only %d visible (%s)" % (gpus, len(ids), ",".join(ids)))
    return ids[:gpus] if ids else [str(i) for i in range(gpus)]
