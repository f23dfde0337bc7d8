#!/usr/bin/env bash
# save_kill.sh: `dln train --save DIR` killed (SIGKILL) at random moments, N times (default
# 50): after every kill DIR must exist and hold one complete set, the old one or the new
# one (`dln train --load DIR --steps 0` succeeds, with the depth of one of the two runs),
# and after one more save that runs to the end, nothing but DIR may be left beside it.
# Successive runs alternate between depth 2 and depth 3, so a mix of two sets cannot pass
# for a complete one. Each kill comes at a random moment of the save: the run is watched
# until its staging directory DIR.tmp-<pid> appears, then killed after a delay uniform over
# 1.5 times the longest save of three unkilled runs watched first (so kills land while the
# set is written, at the swap, while the old set is removed, and after). A kill before the
# save (start-up, training) leaves DIR untouched by construction and tests nothing. Prints the figures: kills, how many landed before the new
# set was in place (old set found) or after (new set found), and how many left debris for
# the next run to clean. Usage: DLN_BIN=build/dln tests/save_kill.sh [N]
set -euo pipefail
DLN=${DLN_BIN:-build/dln}
N=${1:-50}
work=$(mktemp -d "${TMPDIR:-/tmp}/dln_save_kill_XXXXXX")
trap 'rm -rf "$work"' EXIT
# networks big enough for the save to take a while (32 -> 100000 -> 32: 51 MB; depth 3
# adds a layer of 16); a fixed --lr, since the step-size rule's Lanczos start (about 8 s at
# this width) is not what is tested and would make each of the 50 runs 20x longer
net=(--dx 32 --dy 32 --samples 64 --steps 0 --lr 1e-3 --quiet --backend cpu)
widths() { if [ "$1" = 2 ]; then echo 100000; else echo 100000,16; fi; }
ns() { date +%s%N; }

depth_of() { # depth of the set in $1, or "broken"
    local out
    if out=$("$DLN" train "${net[@]}" --load "$1" 2>/dev/null); then
        python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["depth"])' <<<"$out"
    else
        echo broken
    fi
}

"$DLN" train "${net[@]}" --widths "$(widths 2)" --save "$work/w" >/dev/null
exec {never}<> <(:) # a pipe nothing is written to: `read -t` on it sleeps without a fork
watch() { # one unkilled save of depth $1, watched: sets ta, tb (ns from its start)
    local t0 pid
    ta=0 tb=0 t0=$(ns)
    "$DLN" train "${net[@]}" --widths "$(widths "$1")" --save "$work/w" >/dev/null &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do # while the staging directory w.tmp-<pid> exists
        if [ -d "$work/w.tmp-$pid" ]; then
            [ "$ta" = 0 ] && ta=$(($(ns) - t0))
        elif [ "$ta" != 0 ] && [ "$tb" = 0 ]; then
            tb=$(($(ns) - t0))
        fi
        read -r -t 0.001 -u "$never" || true
    done
    wait "$pid"
    [ "$ta" != 0 ] && [ "$tb" != 0 ] || { echo "save_kill: the save was too quick to watch"; exit 1; }
}
span=0 # the longest staging (from the staging directory's appearance to the swap's end)
for d in 3 2 3; do
    watch "$d"
    if [ $((tb - ta)) -gt "$span" ]; then span=$((tb - ta)); fi
done
old=0 new=0 debris=0 fail=0 cur=3
for i in $(seq 1 "$N"); do
    want=$((5 - cur)) # the other depth
    "$DLN" train "${net[@]}" --widths "$(widths "$want")" --save "$work/w" >/dev/null 2>&1 &
    pid=$!
    # wait for the staging directory (or the end of the run), then a random part of 1.5 spans
    while kill -0 "$pid" 2>/dev/null && [ ! -d "$work/w.tmp-$pid" ]; do read -r -t 0.0005 -u "$never" || true; done
    delay_ns=$(((RANDOM * 32768 + RANDOM) % (span * 3 / 2 + 1)))
    sleep "$(printf '%d.%09d' $((delay_ns / 1000000000)) $((delay_ns % 1000000000)))"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    got=$(depth_of "$work/w")
    if [ "$got" = "$cur" ]; then
        old=$((old + 1))
    elif [ "$got" = "$want" ]; then
        new=$((new + 1)) cur=$want
    else
        fail=$((fail + 1))
        echo "save_kill: kill $i after $((delay_ns / 1000000)) ms: DIR is $got ($(ls -A "$work/w" 2>&1 | tr '\n' ' '))"
    fi
    extra=$(ls -A "$work" | { grep -vx w || true; } | wc -l)
    if [ "$extra" -gt 0 ]; then debris=$((debris + 1)); fi
done
"$DLN" train "${net[@]}" --widths "$(widths 2)" --save "$work/w" >/dev/null
left=$(ls -A "$work" | tr '\n' ' ')
echo "save_kill: $N kills 0..$((span * 3 / 2000000)) ms after the staging directory appeared (the save" \
     "takes up to $((span / 1000000)) ms): old set $old, new set $new, broken $fail;" \
     "debris after $debris kills; after one more save: $left"
[ "$fail" = 0 ] && [ "$left" = "w " ] && [ "$(depth_of "$work/w")" = 2 ]
