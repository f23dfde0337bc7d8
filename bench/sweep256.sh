#!/usr/bin/env bash
# sweep256.sh: the CPU target of batches on threads: a sweep of 256 seeds of the default experiment
# (dln train's defaults: dx = dy = 32, m = 256, teacher rank 8, depth 4, width 4, orthogonal
# init, the sharpness rule, tol 1e-6, at most 10000 steps; data seed 1), timed four ways:
#   sweep_no_batch  scripts/sweep --no-batch: one dln process per cell (the sweep before batches)
#   sweep_batched   scripts/sweep: the 256 cells in one `dln train --seeds ...` (batches)
#   cli_processes   256 `dln train --seed S --data-seed 1` in a shell loop (no Python, no traces)
#   cli_batch       one `dln train --seeds 1-256 --data-seed 1` (no Python, no traces)
# and checks that both sweeps give the same runs.csv (but timings). The in-process loop of
# single runs against dln_train_batch on the same experiment is bench/batch:
#   build/bench/batch --widths 4 --depths 4 --members 256 --lr 0 --steps 10000 --tol 1e-6
# Usage: bench/sweep256.sh [OUT.json]   (DLN_BIN, default build/dln; SEEDS, default 256)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dln=${DLN_BIN:-$root/build/dln}
n=${SEEDS:-256}
out=${1:-/dev/stdout}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dln-sweep256.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
now() { date +%s.%N; }
grid=(--depths 4 --widths 4 --seeds "$n" --backend cpu)
t0=$(now); "$root/scripts/sweep" "${grid[@]}" --no-batch --dln "$dln" --out "$tmp/single" 2>"$tmp/single.log"; t1=$(now)
"$root/scripts/sweep" "${grid[@]}" --dln "$dln" --out "$tmp/batched" 2>"$tmp/batched.log"; t2=$(now)
for s in $(seq 1 "$n"); do "$dln" train --seed "$s" --data-seed 1 --backend cpu --quiet; done >"$tmp/procs.jsonl"; t3=$(now)
"$dln" train --seeds "1-$n" --data-seed 1 --backend cpu --quiet >"$tmp/batch.jsonl"; t4=$(now)
python3 - "$tmp" "$t0" "$t1" "$t2" "$t3" "$t4" "$n" "$out" "$root" <<'PY'
import csv, json, os, subprocess, sys
tmp, t0, t1, t2, t3, t4, n, out, root = sys.argv[1], *map(float, sys.argv[2:7]), int(sys.argv[7]), sys.argv[8], sys.argv[9]

def rows(d):
    return sorted(csv.DictReader(open(os.path.join(tmp, d, "runs.csv"))), key=lambda r: r["cell"])
a, b = rows("single"), rows("batched")
timing = lambda k: k in ("wall_seconds", "solve_seconds") or k.startswith("seconds")
same_csv = len(a) == len(b) == n and all({k: v for k, v in x.items() if not timing(k)} == {k: v for k, v in y.items() if not timing(k)} for x, y in zip(a, b))
drop = {"seconds", "solve_seconds", "memory_estimate", "memory_backend", "memory_phase", "member"}
pa = [{k: v for k, v in json.loads(l).items() if k not in drop} for l in open(os.path.join(tmp, "procs.jsonl"))]
pb = [{k: v for k, v in json.loads(l).items() if k not in drop} for l in open(os.path.join(tmp, "batch.jsonl"))]
same_cli = len(pa) == len(pb) == n and pa == pb
steps = sum(int(r["steps"]) for r in a)
conv = sum(r["converged"] == "true" for r in a)
git = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
res = {"benchmark": "sweep256", "seeds": n, "experiment": "dln train defaults, data seed 1",
       "commit": git, "member_steps": steps, "converged": conv,
       "wall_s": {"sweep_no_batch": t1 - t0, "sweep_batched": t2 - t1, "cli_processes": t3 - t2,
                  "cli_batch": t4 - t3},
       "speedup": {"sweep": (t1 - t0) / (t2 - t1), "cli": (t3 - t2) / (t4 - t3)},
       "same_runs_csv_but_timings": same_csv, "same_cli_summaries_but_timings": same_cli}
text = json.dumps(res, indent=1) + "\n"
open(out, "w").write(text) if out != "/dev/stdout" else sys.stdout.write(text)
sys.exit(0 if same_csv and same_cli else 1)
PY
