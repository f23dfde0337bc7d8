#!/usr/bin/env python3
"""shallow_minima.py: Lu & Kawaguchi beyond the square loss, on real data. For sklearn's
digits (64 pixels, 10 classes, 1797 samples) and breast cancer (30 features, 2 classes, 569
samples), features standardised, then PCA-whitened (components above 1e-6 of the largest
variance), targets one-hot, and the losses lp (p = 4),
huber (delta 1) and softmax: the shallow problem's reference (`dln solve --loss L [--rank k]
--shallow-restarts R`: the convex optimum, or with an active rank bound the lower bound, the
best known value and the distinct local minima the restarts reached), then deep networks of
each depth and width trained from `--seeds` seeds in one batch (`dln train --seeds 1..N
--certify`, the default orthogonal init of scale 1 and the sharpness rule): per cell, how many runs converged (rel_gap <= tol against the
reference), and how many of all runs end at a certified shallow local minimum, at the best
known value ("global") or above it (a bad shallow minimum, inherited). Appends to cells.jsonl
(every run's summary), rows.jsonl (a row per cell) and minima.json in --out, and writes
table.md and figure.png from all rows there (so datasets and losses may run separately). The data come with scikit-learn (no download); a benchmark dependency only.

usage: bench/shallow_minima.py --out DIR [--seeds 50] [--steps 10000] [--tol 1e-5] [--restarts 50]
                               [--depths 2,4,8] [--datasets digits,breast_cancer] [--losses lp,huber,softmax]"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DLN = os.environ.get("DLN_BIN", os.path.join(ROOT, "build", "dln"))
LOSSES = {"lp": ["--loss", "lp", "--p", "4"], "huber": ["--loss", "huber", "--delta", "1"], "softmax": ["--loss", "softmax"]}
# widths: an active rank bound (narrower than min(dx, dy)) and none
WIDTHS = {"digits": {"active": 3, "inactive": 10}, "breast_cancer": {"active": 1, "inactive": 2}}


def dataset(name, out):
    from sklearn.datasets import load_breast_cancer, load_digits
    ds = load_digits() if name == "digits" else load_breast_cancer()
    X = ds.data.astype(float)
    # PCA-whitened features (components above 1e-6 of the largest variance): gradient descent's
    # speed then depends on the loss and the network, not on the features' correlations (the
    # standardised breast-cancer features have cond(X X^T) ~ 1e6: 20000 steps left rel_gap ~3e-4)
    X = X[:, X.std(axis=0) > 0]
    X = (X - X.mean(axis=0)) / X.std(axis=0)  # standardised first: the features' units differ (breast cancer)
    w, V = np.linalg.eigh(X.T @ X / len(X))
    keep = w > 1e-6 * w.max()
    X = X @ V[:, keep] / np.sqrt(w[keep])
    Y = np.eye(int(ds.target.max()) + 1)[:, ds.target]
    paths = (os.path.join(out, name + "_X.npy"), os.path.join(out, name + "_Y.npy"))
    np.save(paths[0], np.asfortranarray(X.T))
    np.save(paths[1], np.asfortranarray(Y))
    return paths, X.T.shape, Y.shape


def dln(args):
    r = subprocess.run([DLN] + args + ["--quiet", "--backend", "cpu"], capture_output=True, text=True)
    if r.returncode:
        sys.exit("dln %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr))
    return [json.loads(line) for line in r.stdout.splitlines()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--restarts", type=int, default=50)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--depths", default="2,4,8")
    ap.add_argument("--datasets", default="digits,breast_cancer")
    ap.add_argument("--losses", default="lp,huber,softmax")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    seeds = ",".join(str(s) for s in range(1, a.seeds + 1))
    # appended to: runs for more datasets or losses add their rows (table and figure from all)
    rows_path, minima_path = os.path.join(a.out, "rows.jsonl"), os.path.join(a.out, "minima.json")
    minima = json.load(open(minima_path)) if os.path.exists(minima_path) else {}
    cells = open(os.path.join(a.out, "cells.jsonl"), "a")
    rows_out = open(rows_path, "a")
    for name in a.datasets.split(","):
        (xp, yp), xs, ys = dataset(name, a.out)
        data = ["--x", xp, "--y", yp]
        for loss in a.losses.split(","):
            for kind, width in WIDTHS[name].items():
                ref_args = ["solve"] + data + LOSSES[loss]
                if kind == "active":
                    ref_args += ["--rank", str(width), "--shallow-restarts", str(a.restarts)]
                ref = dln(ref_args)[0]
                minima["%s %s width %d" % (name, loss, width)] = {k: ref.get(k) for k in (
                    "optimum", "optimum_kind", "optimum_lower_bound", "optimum_best_known", "shallow_local_minima",
                    "shallow_certified", "shallow_saddles", "shallow_unconverged", "shallow_unattained", "seconds")}
                for depth in [int(d) for d in a.depths.split(",")]:
                    t0 = time.time()
                    runs = dln(["train"] + data + LOSSES[loss] + [
                        "--depth", str(depth), "--width", str(width), "--seeds", seeds, "--tol", str(a.tol),
                        "--steps", str(a.steps), "--certify", "--shallow-restarts", str(a.restarts)])
                    wall = time.time() - t0
                    for r in runs:
                        r["dataset"] = name
                        cells.write(json.dumps(r) + "\n")
                    conv = [r for r in runs if r["stop"] == "converged"]
                    cert = [r for r in runs if r.get("shallow_local_min")]
                    row = {"dataset": name, "loss": loss, "depth": depth, "width": width, "bound": kind,
                           "reference": runs[0]["reference"], "runs": len(runs), "converged": len(conv),
                           "shallow_min": len(cert),
                           "at_best": sum(r.get("shallow_verdict") == "global" for r in runs),
                           "above_best": sum(r.get("shallow_verdict") == "shallow local minimum above the best known"
                                             for r in runs),
                           "converged_certified": sum(bool(r.get("shallow_local_min")) for r in conv),
                           "distinct_minima": len(ref.get("shallow_local_minima") or []) if kind == "active" else 1,
                           "median_rel_gap": float(np.median([r["rel_gap"] if r["rel_gap"] is not None else np.nan
                                                              for r in runs])),
                           "wall_s": round(wall, 1)}
                    rows_out.write(json.dumps(row) + "\n")
                    rows_out.flush()
                    cells.flush()
                    print(json.dumps(row), flush=True)
    cells.close()
    rows_out.close()
    rows = [json.loads(line) for line in open(rows_path)]
    with open(os.path.join(a.out, "minima.json"), "w") as f:
        json.dump(minima, f, indent=1)
    head = ["dataset", "loss", "depth", "width", "bound", "reference", "runs", "converged", "converged_certified",
            "shallow_min", "at_best", "above_best", "distinct_minima", "median_rel_gap", "wall_s"]
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
        for r in rows:
            f.write("| " + " | ".join(("%.3g" % r[h]) if isinstance(r[h], float) else str(r[h]) for h in head) + " |\n")
    figure(rows, os.path.join(a.out, "figure.png"))


def figure(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    groups = sorted({(r["dataset"], r["bound"]) for r in rows})
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.6), squeeze=False, sharey=True)
    for ax, (name, bound) in zip(axes[0], groups):
        sel = [r for r in rows if r["dataset"] == name and r["bound"] == bound]
        labels = ["%s\nH=%d" % (r["loss"], r["depth"]) for r in sel]
        x = np.arange(len(sel))
        n = np.array([r["runs"] for r in sel], float)
        ax.bar(x, [r["at_best"] for r in sel] / n, color="tab:green", label="shallow min, at best known")
        ax.bar(x, [r["above_best"] for r in sel] / n, bottom=[r["at_best"] for r in sel] / n, color="tab:red",
               label="shallow min, above best known")
        ax.plot(x, [r["converged"] for r in sel] / n, "k_", markersize=14, label="converged (rel_gap <= tol)")
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=6)
        ax.set_title("%s, %s rank bound (width %d)" % (name, bound, sel[0]["width"]), fontsize=8)
        ax.set_ylim(0, 1.05)
    axes[0][0].set_ylabel("fraction of runs")
    axes[0][0].legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=130)


if __name__ == "__main__":
    main()
