#!/usr/bin/env python3
"""arora_lp.py: Arora, Cohen & Hazan (2018), "On the optimization of deep networks: implicit
acceleration by overparameterization", their l4-versus-l2 regression experiment on dln's
numbers. Linear regression of a scalar target (sklearn's diabetes data: 10 standardised
features, 442 samples, the target standardised) with the l2 loss (1/2 sum r^2, `--loss
square`) and the l4 loss ((1/4) sum r^4, `--loss lp --p 4`), by a linear network of depth 1
(the linear model itself), 2 and 3 (hidden width 10: no rank bound), from a near-zero
balanced start (`--init balanced --init-scale S`), by gradient descent with a fixed step: for
each loss and depth one batch over a grid of steps (`--lr a,b,...`), the best step the one
that reaches rel_gap 1e-6 in the fewest steps (then: ends lowest; diverged runs excluded). Their finding: depth accelerates l4 and not
l2 (the end-to-end update of a deep linear network is a preconditioned one whose
preconditioner grows with the product's norm, like an adaptive step). Writes traces.jsonl.gz
(every member's trace), best.json (the best step per loss and depth, its final rel_gap and the
steps it needed to reach rel_gap 1e-2, 1e-4, 1e-6, 1e-8), figure.png (rel_gap against steps for the
best step of each depth, one panel per loss, as their Figure) into --out; prints best.json.

usage: bench/arora_lp.py --out DIR [--steps 3000] [--init-scale 0.01] [--log-every 10]"""
import argparse
import gzip
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DLN = os.environ.get("DLN_BIN", os.path.join(ROOT, "build", "dln"))
LOSSES = {"l2": ["--loss", "square"], "l4": ["--loss", "lp", "--p", "4"]}
LRS = ["%.3g" % v for v in np.logspace(-5, -1.5, 29)]  # ratio 10^(1/8) = 1.33 between neighbours
TARGET = 1e-6  # the best step reaches rel_gap <= TARGET first (the last rel_gaps sit at rounding)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--init-scale", type=float, default=0.01)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--depths", default="1,2,3")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    from sklearn.datasets import load_diabetes
    ds = load_diabetes()
    X = (ds.data - ds.data.mean(0)) / ds.data.std(0)
    y = (ds.target - ds.target.mean()) / ds.target.std()
    xp, yp = os.path.join(a.out, "X.npy"), os.path.join(a.out, "Y.npy")
    np.save(xp, np.asfortranarray(X.T))
    np.save(yp, np.asfortranarray(y[None, :]))
    best, traces = {}, {}
    out = gzip.open(os.path.join(a.out, "traces.jsonl.gz"), "wt")
    for loss, largs in LOSSES.items():
        for depth in [int(d) for d in a.depths.split(",")]:
            log = os.path.join(a.out, "log-%s-%d.jsonl" % (loss, depth))
            cmd = [DLN, "train", "--x", xp, "--y", yp] + largs + [
                "--depth", str(depth), "--width", "10", "--init", "balanced", "--init-scale", str(a.init_scale),
                "--lr", ",".join(LRS), "--steps", str(a.steps), "--tol", "0", "--log", log, "--log-every",
                str(a.log_every), "--quiet", "--backend", "cpu", "--no-certify"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                sys.exit("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr))
            runs = [json.loads(line) for line in r.stdout.splitlines()]
            ok = {x["member"]: x for x in runs if not x["diverged"] and x["rel_gap"] is not None}
            member_tr = {}
            for line in open(log):
                t = json.loads(line)
                out.write(json.dumps(dict(t, loss_name=loss, depth=depth)) + "\n")
                member_tr.setdefault(t["member"], {})[t["step"]] = t["rel_gap"]
            os.remove(log)

            def first_at(tr, level):
                hit = [s for s in sorted(tr) if tr[s] is not None and tr[s] <= level]
                return hit[0] if hit else None

            def key(m):
                s_ = first_at(member_tr[m], TARGET)
                return (s_ if s_ is not None else float("inf"), ok[m]["rel_gap"])
            b = ok[min(ok, key=key)]
            tr = member_tr[b["member"]]
            steps = sorted(tr)
            reach = {"steps_to_%g" % level: first_at(tr, level) for level in (1e-2, 1e-4, 1e-6, 1e-8)}
            best["%s depth %d" % (loss, depth)] = dict(
                lr=b["lr"], rel_gap=b["rel_gap"], optimum=b["optimum"], reference=b["reference"],
                diverged=sum(x["diverged"] for x in runs), members=len(runs), **reach)
            traces[(loss, depth)] = (steps, [tr[s] for s in steps])
    out.close()
    with open(os.path.join(a.out, "best.json"), "w") as f:
        json.dump(best, f, indent=1)
    print(json.dumps(best, indent=1))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, loss in zip(axes, LOSSES):
        for (l, depth), (s, v) in sorted(traces.items()):
            if l == loss:
                ax.semilogy(s, v, label="depth %d (lr %s)" % (depth, best["%s depth %d" % (l, depth)]["lr"]))
        ax.set_title("%s loss: (L - L*) / L(0), best fixed step per depth" % loss, fontsize=8)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("rel_gap")
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "figure.png"), dpi=130)


if __name__ == "__main__":
    main()
