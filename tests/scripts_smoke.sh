#!/usr/bin/env bash
# scripts_smoke.sh: CI smoke test of scripts/sweep and scripts/plot (a few seconds).
#
#   tests/scripts_smoke.sh            # uses $DLN_BIN, else build/dln
#   DLN_BIN=build-cpu/dln tests/scripts_smoke.sh
#
# Runs a 2x2 grid (depths 1,2; widths 2,4; 2 seeds) on a small synthetic problem on the CPU,
# in batches (one dln process per depth and width), checks runs.csv (8 rows, the header
# columns, every status 0), re-runs it to check that the resume skips every cell, resumes a
# single deleted cell of a batch, compares every cell's summary and trace with the same grid
# run one process per cell (--no-batch), checks --dry-run, --merge and a failing cell (a row
# with status != 0, not a crash), then runs scripts/plot (the sweep's figures, verdicts.png
# included, and --trace on an --observe trace) and checks that the PNGs are non-empty valid
# PNGs.
# Prints "ok"/"FAIL" per check and a final "smoke: N passed, M failed"; exits 1 on any failure.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
dln=${DLN_BIN:-$root/build/dln}
case $dln in /*) ;; *) dln=$PWD/$dln ;; esac
export DLN_BIN=$dln
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dln-smoke.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=$tmp/sweep
pass=0
fail=0
t0=$(date +%s%N)

check() {  # check NAME COMMAND...: run COMMAND, count and report the result
    local name=$1
    shift
    if "$@" >"$tmp/check.log" 2>&1; then
        pass=$((pass + 1))
        echo "ok   - $name"
    else
        fail=$((fail + 1))
        echo "FAIL - $name"
        sed 's/^/       /' "$tmp/check.log" | tail -20
    fi
}

if [ ! -x "$dln" ]; then
    echo "smoke: no dln binary at $dln (build it, or set DLN_BIN)" >&2
    echo "smoke: 0 passed, 1 failed"
    exit 1
fi

grid=(--depths "1,2" --widths "2,4" --seeds 2 --dx 8 --dy 8 --samples 40 --teacher-rank 3
      --steps 2000 --backend cpu --eps "1e-2,1e-4,1e-6")

# csv_check FILE ROWS [STATUS]: FILE has ROWS data rows, the expected header columns, and
# (when STATUS is given) that status in every row
csv_check() {
    python3 - "$@" <<'EOF'
import csv, sys
path, nrows = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(path, newline="")))
need = ["depth", "widths", "init", "init_scale", "lr", "lr_used", "momentum", "seed", "backend",
        "precision", "dx", "dy", "samples", "loss", "optimum", "rel_gap", "converged",
        "diverged", "steps", "seconds", "steps_to_1e-02", "steps_to_1e-04", "steps_to_1e-06",
        "seconds_to_1e-02", "seconds_to_1e-04", "seconds_to_1e-06", "rank_x", "rank_y",
        "hypotheses", "status", "error"]
missing = [c for c in need if c not in (rows[0].keys() if rows else [])]
assert not missing, "missing columns: %s" % missing
assert len(rows) == nrows, "%d data rows, expected %d" % (len(rows), nrows)
if len(sys.argv) > 3:
    bad = [r["cell"] for r in rows if r["status"] != sys.argv[3]]
    assert not bad, "status != %s in %s" % (sys.argv[3], bad)
print("%s: %d rows, header ok" % (path, len(rows)))
EOF
}

# 1. the sweep runs and writes 8 rows, in 4 batches of 2 seeds
batched() { "$root/scripts/sweep" "${grid[@]}" --out "$out" 2>&1 | tee "$tmp/first.log"; grep -q "8 cells in 4 dln processes" "$tmp/first.log"; }
check "sweep runs a 2x2x2 grid in 4 batches" batched
check "runs.csv: 8 rows, header, status 0" csv_check "$out/runs.csv" 8 0
check "converged rows have steps_to_1e-06" python3 -c "
import csv, sys
rows = list(csv.DictReader(open('$out/runs.csv')))
assert all(r['steps_to_1e-06'] for r in rows if r['converged'] == 'true'), 'empty steps_to'
assert all(r['converged'] == 'true' for r in rows), 'a run did not converge'
assert all(r['widths'] == ('' if r['depth'] == '1' else r['width']) for r in rows), 'widths'"

# 2. resume: nothing is re-run
before=$(cat "$out"/cells/*/result.json | cksum)
resume() {
    local t log
    t=$(date +%s%N)
    log=$("$root/scripts/sweep" "${grid[@]}" --out "$out" 2>&1) || { echo "$log"; return 1; }
    echo "$log"
    grep -q "skipped 8 of 8" <<<"$log" && grep -q "0 cells run" <<<"$log" || return 1
    echo "$(grep "skipped" <<<"$log" | head -1) in $((($(date +%s%N) - t) / 1000000)) ms" \
        >"$tmp/resume.msg"
}
check "re-run skips all 8 cells" resume && sed 's/^/       /' "$tmp/resume.msg"
check "re-run left the results unchanged" test "$before" = "$(cat "$out"/cells/*/result.json | cksum)"
dry_run() { "$root/scripts/sweep" "${grid[@]}" --out "$out" --dry-run | grep "^8 cells (8 done"; }
check "--dry-run lists 8 done cells" dry_run

# 2b. resume at the cell level: one deleted cell of a batch runs again, alone
one=$(ls "$out/cells" | grep seed2 | head -1)
rm "$out/cells/$one/result.json"
resume_one() {
    local log
    log=$("$root/scripts/sweep" "${grid[@]}" --out "$out" 2>&1) || { echo "$log"; return 1; }
    echo "$log"
    grep -q "skipped 7 of 8" <<<"$log" && grep -q "1 cells run" <<<"$log" && test -s "$out/cells/$one/result.json"
}
check "a deleted cell of a batch is run again, alone" resume_one

# 2c. every batched cell is its single run: the summary (but timings and the batch's memory
# estimate) and the trace (but seconds) equal those of --no-batch, one process per cell
check "--no-batch runs one process per cell" "$root/scripts/sweep" "${grid[@]}" --no-batch --out "$tmp/single"
same_cells() {
    python3 - "$out" "$tmp/single" <<'EOF2'
import json, os, sys
a, b = sys.argv[1], sys.argv[2]
skip = {"seconds", "solve_seconds", "memory_estimate", "memory_backend", "memory_phase", "member"}
cells = sorted(os.listdir(os.path.join(a, "cells")))
assert len(cells) == 8, cells
for c in cells:
    ra, rb = (json.load(open(os.path.join(d, "cells", c, "result.json"))) for d in (a, b))
    ja, jb = ra["result"], rb["result"]
    assert set(ja) - {"member"} == set(jb), (c, set(ja) ^ set(jb))
    bad = [k for k in jb if k not in skip and ja[k] != jb[k]]
    assert not bad, (c, [(k, ja[k], jb[k]) for k in bad])
    ta, tb = ([{k: v for k, v in json.loads(l).items() if k != "seconds"} for l in
               open(os.path.join(d, "cells", c, "trace.jsonl"))] for d in (a, b))
    assert ta == tb and ta, (c, len(ta), len(tb))
print("%d cells equal their single runs" % len(cells))
EOF2
}
check "batched cells equal their single runs" same_cells

# 3. --merge rebuilds runs.csv from the result.json files
rm -f "$out/runs.csv"
check "--merge rebuilds runs.csv" "$root/scripts/sweep" --out "$out" --merge
check "merged runs.csv: 8 rows" csv_check "$out/runs.csv" 8 0

# 4. a failing cell (dln rejects a negative init scale: exit 2) is a row, not a crash
check "a failing cell is recorded" "$root/scripts/sweep" --depths 1 --widths 2 --seeds 1 \
    --init-scales=-1 --dx 8 --dy 8 --samples 40 --steps 10 --backend cpu --out "$tmp/bad"
check "failed row has status 2 and an error" python3 -c "
import csv
r = list(csv.DictReader(open('$tmp/bad/runs.csv')))
assert len(r) == 1 and r[0]['status'] == '2' and 'init-scale' in r[0]['error'], r"

check "--extra=--hessian runs each cell alone (a batch refuses it)" "$root/scripts/sweep" --depths 2 \
    --widths 2 --seeds 2 --dx 6 --dy 5 --samples 20 --steps 200 --extra=--hessian --backend cpu \
    --out "$tmp/hess"
check "their rows have status 0, a verdict and lambda_max" python3 -c "
import csv
r = list(csv.DictReader(open('$tmp/hess/runs.csv')))
assert len(r) == 2 and all(x['status'] == '0' and x['verdict'] and float(x['lambda_max']) > 0 for x in r), r"

# 5. plots
png_check() {
    local n=0 f
    for f in "$out"/figures/rel_gap.png "$out"/figures/time_to_eps.png \
             "$out"/figures/converged.png "$out"/figures/verdicts.png "$tmp/modes.png" "$tmp/sharp.png"; do
        [ -s "$f" ] || { echo "missing or empty: $f"; return 1; }
        [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
            { echo "not a PNG: $f"; return 1; }
        n=$((n + 1))
    done
    echo "$n PNG files ok"
}
if python3 -c "import matplotlib" 2>/dev/null; then
    check "plot writes figures" "$root/scripts/plot" "$out"
    check "an --observe trace" "$dln" train --dx 8 --dy 8 --samples 40 --depth 3 --steps 200 \
        --log "$tmp/obs.jsonl" --log-every 20 --observe --quiet --backend cpu
    check "plot --trace draws its modes" "$root/scripts/plot" --trace "$tmp/obs.jsonl" \
        --out "$tmp/modes.png"
    check "a --sharpness-every trace of two step sizes" "$dln" train --dx 8 --dy 8 --samples 40 --depth 3 \
        --steps 100 --lr 0.01,0.02 --sharpness-every 20 --log "$tmp/sharp.jsonl" --log-every 20 --quiet --backend cpu
    check "plot --sharpness draws lambda_max against 2/lr" "$root/scripts/plot" --sharpness "$tmp/sharp.jsonl" \
        --out "$tmp/sharp.png"
    check "figures are non-empty PNGs" png_check
else
    no_mpl() { "$root/scripts/plot" "$out"; test $? = 2; }
    check "plot exits 2 with a message without matplotlib" no_mpl
    echo "note: matplotlib is not installed: the figures were not checked"
fi

ms=$((($(date +%s%N) - t0) / 1000000))
printf 'smoke: %d passed, %d failed (%d.%03ds)\n' "$pass" "$fail" $((ms / 1000)) $((ms % 1000))
[ "$fail" -eq 0 ]
