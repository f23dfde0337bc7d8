#!/usr/bin/env python3
"""matrix_completion.py: Arora, Cohen, Hu & Luo 2019 ("Implicit regularization in deep matrix
factorization"), Figure 1's setting with dln: a 100 x 100 rank-5 matrix (||R*||_F = 100, as
their gen_gt.py), 2,000 and 5,000 observed entries, depths 2, 3, 4 (width 100), gaussian
initialisation at end-to-end scales 1e-3 .. 1e-6 (their init_scale, "the average magnitude
of the product's entries": each layer N(0, init_scale^(2/depth) / 100), which is dln's
--init gaussian --init-scale init_scale^(1/depth)), seeds 1..10 trained together as one
batch per cell, plain gradient descent at a fixed step (their loss is the mean over the
observed entries, dln's the sum: a step lr here is their lr x k), until the loss is 1e-7 of
the zero matrix's or the step limit; beside the nuclear-norm minimisation baseline (`dln
solve`, ADMM to relative residuals 1e-8). Records each run's test error (relative Frobenius
error over the unobserved entries), effective rank, nuclear norm, steps and verdict, writes
results.json, a summary table (README.md) and the figures.

usage: bench/matrix_completion.py OUTDIR [--dln build/dln] [--seeds 10] [--steps 60000]
       [--lrk 10] [--observed 2000,5000] [--depths 2,3,4] [--scales 1e-3,1e-4,1e-5,1e-6]
A cell already in OUTDIR/results.json with the same step is kept (a run can be resumed);
bench/matrix_completion.py --figures OUTDIR redraws the figures."""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

import numpy as np


def run(dln, args):
    p = subprocess.run([dln, *map(str, args)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("dln %s: exit %d: %s" % (" ".join(map(str, args)), p.returncode, p.stderr))
    return [json.loads(x) for x in p.stdout.splitlines() if x.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--dln", default="build/dln")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=60000)
    ap.add_argument("--lrk", type=float, default=10.0)
    ap.add_argument("--tol", type=float, default=1e-7)
    ap.add_argument("--observed", default="2000,5000")
    ap.add_argument("--depths", default="2,3,4")
    ap.add_argument("--scales", default="1e-3,1e-4,1e-5,1e-6")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    problem = ["--complete", "--rows", 100, "--cols", 100, "--target-rank", 5, "--data-seed", 1]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "commit": commit, "cpu": cpu,
            "cores": os.cpu_count(), "host": platform.node(), "lr_times_k": a.lrk, "steps": a.steps,
            "tol": a.tol, "seeds": a.seeds, "backend": "cpu", "precision": "fp64"}
    path = os.path.join(a.out, "results.json")
    old = json.load(open(path)) if os.path.exists(path) else {"runs": []}
    results = {"meta": meta, "nuclear": {}, "runs": []}
    for k in map(int, a.observed.split(",")):
        lr = a.lrk / k
        (s,) = run(a.dln, ["solve", *problem, "--observed", k, "--nuclear", "--quiet", "--backend", "cpu"])
        results["nuclear"][k] = {f: s[f] for f in ("nuclear_min_value", "nuclear_min_test_error",
                                                   "nuclear_min_effective_rank", "nuclear_min_residual",
                                                   "nuclear_min_iterations", "nuclear_min_seconds")}
        print("observed %d: nuclear-norm baseline test error %.4g, effective rank %.3f" %
              (k, s["nuclear_min_test_error"], s["nuclear_min_effective_rank"]), flush=True)
        for depth in map(int, a.depths.split(",")):
            for scale in map(float, a.scales.split(",")):
                layer = scale ** (1.0 / depth)
                kept = [r for r in old["runs"] if r["observed"] == k and r["depth"] == depth and
                        r["init_scale"] == scale and r.get("lr") == lr and r.get("steps_max") == a.steps]
                if len(kept) == a.seeds:
                    results["runs"] += kept
                    continue
                cmd = ["train", *problem, "--observed", k, "--depth", depth, "--width", 100, "--init", "gaussian",
                       "--init-scale", repr(layer), "--seeds", "1-%d" % a.seeds, "--lr", repr(lr), "--steps", a.steps,
                       "--tol", a.tol, "--no-nuclear", "--quiet", "--backend", "cpu"]
                runs = run(a.dln, cmd)
                for r in runs:
                    results["runs"].append({"observed": k, "depth": depth, "init_scale": scale, "layer_scale": layer,
                                            "lr": lr, "steps_max": a.steps,
                                            **{f: r[f] for f in ("seed", "steps", "verdict", "loss", "rel_gap",
                                                                 "test_error", "effective_rank", "nuclear_norm",
                                                                 "seconds")}})
                te = [np.inf if r["test_error"] is None else r["test_error"] for r in runs]
                print("observed %d depth %d init %.0e: test error median %.4g [%.4g, %.4g], effective rank median "
                      "%.3f, %d/%d reached tol, %.1f s" % (k, depth, scale, np.median(te), min(te), max(te),
                                                          np.median([np.nan if r["effective_rank"] is None else
                                                                     r["effective_rank"] for r in runs]),
                                                          sum(r["verdict"] == "global" for r in runs), len(runs),
                                                          runs[0]["seconds"]), flush=True)
                with open(path, "w") as f:
                    json.dump(results, f, indent=1)
    meta["command"] = " ".join(sys.argv)
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    figures(results, a.out)


def figures(results, out):
    """test error and effective rank against depth, one line per init scale, the nuclear
    baseline dashed; one panel per observed count."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs = [{f: (np.nan if v is None else v) for f, v in r.items()} for r in results["runs"]]
    ks = sorted({r["observed"] for r in runs})
    fig, ax = plt.subplots(2, len(ks), figsize=(5 * len(ks), 7), squeeze=False)
    for c, k in enumerate(ks):
        for scale in sorted({r["init_scale"] for r in runs}, reverse=True):
            depths = sorted({r["depth"] for r in runs})
            for row, field in enumerate(("test_error", "effective_rank")):
                med = [np.nanmedian([r[field] for r in runs if r["observed"] == k and r["depth"] == d and
                                  r["init_scale"] == scale]) for d in depths]
                lo = [np.nanmin([r[field] for r in runs if r["observed"] == k and r["depth"] == d and
                              r["init_scale"] == scale]) for d in depths]
                hi = [np.nanmax([r[field] for r in runs if r["observed"] == k and r["depth"] == d and
                              r["init_scale"] == scale]) for d in depths]
                ax[row, c].errorbar(depths, med, yerr=[np.subtract(med, lo), np.subtract(hi, med)], marker="o",
                                    capsize=3, label="init %.0e" % scale)
        nb = results["nuclear"][k] if k in results["nuclear"] else results["nuclear"][str(k)]
        ax[0, c].axhline(nb["nuclear_min_test_error"], color="k", ls="--", label="nuclear norm min")
        ax[1, c].axhline(nb["nuclear_min_effective_rank"], color="k", ls="--", label="nuclear norm min")
        ax[0, c].set_yscale("log")
        ax[0, c].set_title("%d observed entries of 10,000" % k)
        ax[0, c].set_ylabel("test error ||P_T(R - R*)|| / ||P_T R*||")
        ax[1, c].set_ylabel("effective rank")
        ax[1, c].set_xlabel("depth")
        for r in range(2):
            ax[r, c].set_xticks(sorted({x["depth"] for x in runs}))
            ax[r, c].legend(fontsize=7)
    fig.suptitle("deep matrix completion, 100 x 100 rank 5 (median, min-max over seeds)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "completion_depth.png"), dpi=110)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--figures":
        figures(json.load(open(os.path.join(sys.argv[2], "results.json"))), sys.argv[2])
    else:
        main()
