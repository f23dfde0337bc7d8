#!/usr/bin/env python3
"""batch_python.py: 256 seeds of the default experiment from Python, the way a user writes
it, two ways: one call with seeds=[1..256] (one batch, on the CPU backend spread over
`threads`) against a loop of 256 single dln.train calls (each solving the shallow problem
and training alone, on the calling thread). Rounds alternate the two (batch, loop, batch,
loop ...); each round's loop / batch wall-time ratio is recorded and their median printed.
Before timing, every member's loss, steps, step size and final weights must equal its
single run bit for bit. Prints one JSON object (machine, date, commit, times, ratio).

usage: bench/batch_python.py [--seeds 256] [--rounds 5] [--threads 0] [--out FILE]
(the package from python/ over build/libdln.so; `make` builds it)"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
import dln  # noqa: E402
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    X, Y = dln.synthetic(seed=1)
    seeds = list(range(1, a.seeds + 1))
    batch = lambda: dln.train(X, Y, seeds=seeds, threads=a.threads)  # noqa: E731
    loop = lambda: [dln.train(X, Y, seed=s) for s in seeds]  # noqa: E731
    runs, singles = batch(), loop()  # also the warm-up
    for r, s in zip(runs, singles):
        same = all(r[k] == s[k] for k in ("loss", "steps", "lr", "grad_norm", "verdict"))
        same = same and all(np.array_equal(u, v) for u, v in zip(r["weights"], s["weights"]))
        if not same:
            sys.exit("batch_python: member %d differs from its single run: FAILED" % r["member"])
    tb, tl = [], []
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        batch()
        t1 = time.perf_counter()
        loop()
        t2 = time.perf_counter()
        tb.append(t1 - t0), tl.append(t2 - t1)
    git = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain"], capture_output=True, text=True).stdout
    res = {"benchmark": "batch_python", "seeds": a.seeds, "experiment": "dln.train defaults on dln.synthetic(seed=1)",
           "machine": {"hostname": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
                       "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")},
           "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "git_commit": git,
           "git_tree": "dirty" if dirty.strip() else "clean", "threads": a.threads, "rounds": a.rounds,
           "member_steps": sum(r["steps"] for r in runs), "batch_s": tb, "loop_s": tl,
           "batch_median_s": statistics.median(tb), "loop_median_s": statistics.median(tl),
           "loop_over_batch_median_of_rounds": statistics.median(l / b for l, b in zip(tl, tb))}
    text = json.dumps(res, indent=1) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
