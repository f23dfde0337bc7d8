#!/usr/bin/env python3
"""saxe_staircase.py: Saxe, McClelland & Ganguli 2014's mode-by-mode learning, with dln's
gradient flow (`dln train --flow T --observe`). Whitened inputs (X X^T = I: X's rows are
orthonormal), a target T = U diag(s) V^T with s = 4, 3, 2, 1, and the decoupled, balanced start
of their analysis (W_1 = a^(1/N) V^T, hidden layers a^(1/N) I, W_N = U a^(1/N): every mode at
strength a = 1e-3 in the product). Each mode's strength then follows the scalar flow
d sigma / dt = N sigma^(2 - 2/N) (s - sigma) (Saxe et al. for N = 2; Arora, Cohen & Hazan 2018's
end-to-end dynamics for every depth N), so the time at which it reaches s/2 is the integral
t(s) = int_a^(s/2) d sigma / (N sigma^(2 - 2/N) (s - sigma)) (scipy quad): the closed-form
prediction the measured times (the product's singular values on the trace, interpolated at
s/2) are checked against, for depths 2..12. Writes results.json, README.md, staircase.png.

usage: bench/saxe_staircase.py OUTDIR [--dln build/dln] [--depths 2,3,4,6,8,12]"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy.integrate import quad

S = np.array([4.0, 3.0, 2.0, 1.0])
A0 = 1e-3
D = 8
M = 64


def predicted(s, N, a0=A0):
    f = lambda x: 1.0 / (N * x ** (2.0 - 2.0 / N) * (s - x))
    return quad(f, a0, s / 2, limit=500, epsabs=0, epsrel=1e-12)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--dln", default="build/dln")
    ap.add_argument("--depths", default="2,3,4,6,8,12")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(2014)
    Q = np.linalg.qr(rng.standard_normal((M, D)))[0].T  # (D, M), orthonormal rows: X X^T = I
    U = np.linalg.qr(rng.standard_normal((D, D)))[0]
    V = np.linalg.qr(rng.standard_normal((D, D)))[0]
    s_full = np.r_[S, np.zeros(D - len(S))]
    T = U @ np.diag(s_full) @ V.T
    X, Y = Q, T @ Q
    tmp = tempfile.mkdtemp()
    np.save(os.path.join(tmp, "X.npy"), X)
    np.save(os.path.join(tmp, "Y.npy"), Y)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    res = {"meta": {"date": datetime.datetime.now().isoformat(timespec="seconds"), "commit": commit, "cpu": cpu,
                    "command": " ".join(sys.argv), "a0": A0, "s": S.tolist()}, "depths": {}}
    for N in map(int, a.depths.split(",")):
        c = A0 ** (1.0 / N)
        W = [c * V.T] + [c * np.eye(D) for _ in range(N - 2)] + [c * U] if N > 1 else [A0 * U @ V.T]
        wd = os.path.join(tmp, "W%d" % N)
        os.makedirs(wd, exist_ok=True)
        for i, w in enumerate(W):
            np.save(os.path.join(wd, "W%d.npy" % (i + 1)), np.asfortranarray(w))
        pred = [predicted(s, N) for s in S]
        Tend = 1.5 * max(pred)
        log = os.path.join(tmp, "t%d.jsonl" % N)
        p = subprocess.run([a.dln, "train", "--x", os.path.join(tmp, "X.npy"), "--y", os.path.join(tmp, "Y.npy"),
                            "--load", wd, "--flow", repr(Tend), "--tol", "0", "--steps", "10000000", "--observe",
                            "--log", log, "--log-every", "1", "--quiet", "--backend", "cpu", "--full-data"],
                           capture_output=True, text=True)
        if p.returncode:
            sys.exit("dln: %s" % p.stderr)
        summary = json.loads(p.stdout)
        rows = [json.loads(x) for x in open(log)]
        t = np.array([r["time"] for r in rows])
        sv = np.array([r["product_sv"][:len(S)] for r in rows])
        meas = []
        for i, s in enumerate(S):
            k = int(np.argmax(sv[:, i] >= s / 2))
            # linear interpolation between the traced times around the crossing
            t0, t1, y0, y1 = t[k - 1], t[k], sv[k - 1, i], sv[k, i]
            meas.append(float(t0 + (s / 2 - y0) * (t1 - t0) / (y1 - y0)))
        res["depths"][N] = {"predicted": pred, "measured": meas, "T": Tend, "steps": summary["steps"],
                            "rejected": summary["flow_rejected"], "evaluations": summary["flow_evaluations"],
                            "time": t.tolist(), "sv": sv.tolist()}
        print("depth %2d: t(s/2) measured %s, predicted %s, max rel. difference %.2e (%d flow steps)" % (
            N, np.round(meas, 4), np.round(pred, 4), max(abs(x - y) / y for x, y in zip(meas, pred)),
            summary["steps"]), flush=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f)
    figure(res, a.out)


def figure(res, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    depths = sorted(res["depths"], key=int)
    show = [d for d in depths if int(d) in (2, 4, 8)] or depths[:3]
    fig, axes = plt.subplots(1, len(show) + 1, figsize=(4.6 * (len(show) + 1), 4))
    for ax, d in zip(axes, show):
        r = res["depths"][d]
        sv = np.array(r["sv"])
        for i, s in enumerate(res["meta"]["s"]):
            ax.plot(r["time"], sv[:, i] / s, label="s = %g" % s)
            ax.axvline(r["predicted"][i], color="0.6", lw=0.7, ls=":")
        ax.set_title("depth %s: mode strength / s" % d)
        ax.set_xlabel("flow time")
        ax.legend(fontsize=8)
    ax = axes[-1]
    for i, s in enumerate(res["meta"]["s"]):
        ax.plot([int(d) for d in depths], [res["depths"][d]["predicted"][i] for d in depths], "k:", lw=0.8)
        ax.plot([int(d) for d in depths], [res["depths"][d]["measured"][i] for d in depths], "o", label="s = %g" % s)
    ax.set_yscale("log")
    ax.set_xlabel("depth")
    ax.set_ylabel("time to s/2 (dots: measured; dotted: closed form)")
    ax.legend(fontsize=8)
    fig.suptitle("Saxe et al. 2014: each mode learnt at its own time (whitened data, decoupled start a = 1e-3)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "staircase.png"), dpi=110)


if __name__ == "__main__":
    main()
