#!/usr/bin/env bash
# bench_smoke.sh EMU_BUILD: every benchmark once on the emulated CUDA device, on shapes small
# enough for the emulator (a few seconds each), with --json: each must exit 0 after its own
# checks (bench/batch: every member equal to its single run; bench/step: loss, gradient and
# steps against the host; bench/solve: the routes against each other), name the emulated
# device, and write a JSON file that parses with a non-empty result list. Their CUDA paths
# (graph capture, batched GEMMs, the bare-call baselines) execute here before a GPU ever runs
# them; the times are the emulator's and mean nothing.
set -uo pipefail
EMU=${1:?usage: bench_smoke.sh EMU_BUILD}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
QUICK=(--backend cuda --reps 2 --warmup 1 --min-time 0.001)
pass=0 fail=0
run() { # name, then the benchmark's arguments
    local name=$1
    shift
    local t0=$SECONDS
    if "$EMU/bench/$name" "${QUICK[@]}" "$@" --json "$OUT/$name.json" >"$OUT/$name.log" 2>&1 &&
        grep -q "emulated" "$OUT/$name.log" "$OUT/$name.json" &&
        python3 - "$OUT/$name.json" <<'PY'; then
import json, sys
j = json.load(open(sys.argv[1]))
lists = [v for v in j.values() if isinstance(v, list)]
assert j.get("machine") and any(len(v) > 0 for v in lists), "no results in %s" % sys.argv[1]
PY
        echo "ok   - bench/$name on the emulated device ($((SECONDS - t0)) s)"
        pass=$((pass + 1))
    else
        echo "FAIL - bench/$name on the emulated device:"
        tail -20 "$OUT/$name.log"
        fail=$((fail + 1))
    fi
}
run step --widths 8 --depths 2,3
run solve --sizes 32 --dy 8
run converge --dx 8 --dy 8 --m 64 --depth 2 --width 4 --eps 1e-2 --steps 3000
run batch --widths 4 --depths 3 --members 3 --steps 20 --procs 1 --dln "$EMU/dln"
run lr_quality --dx 8 --classes 3 --m 40 --width 4 --depths 2 --conds 1 --steps 100 --grid-lo 0.03 --grid-hi 0.5
echo "bench smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
