#!/usr/bin/env bash
# scripts/gpu-context-destroy.sh — issue 9, point 4 on a GPU machine: tests/programs/context_destroy
# (cuCtxCreate, allocations in the created and the primary context, cuCtxDestroy of both) run plain
# and under `vramtrace run` against the real driver, in both of its modes; the exit report must say
# what the simulated device's test says (tests/integration/test_context_destroy.c): 8.5 MiB left in 4
# allocations. Needs a build carried from here (scripts/build.sh, scripts/gpu-bundle.sh). Prints
# PASS/FAIL lines and the reports' key lines; files under OUT.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=${OUT:-$root/gpu-context-destroy-out}
mkdir -p "$out"
cli=$root/build/src/cli/vramtrace
program=$root/build/tests/programs/context_destroy
source scripts/gpu-checks.sh # check, prefer_real_cudart, status
prefer_real_cudart # the program links the simulated libcudart.so.13: the real one goes first
for mode in v4 v2; do
    "$program" "$mode" >"$out/plain-$mode.txt" 2>&1
    check "$mode: runs plain (exit $?)" grep -q "context_destroy: done" "$out/plain-$mode.txt"
    (cd "$out" && "$cli" run -o "$mode.trace" "$program" "$mode" >"run-$mode.txt" 2>&1)
    check "$mode: runs traced" grep -q "context_destroy: done" "$out/run-$mode.txt"
    check "$mode: exit report: 8.5 MiB left in 4 allocations" \
        grep -q "SUMMARY: vramtrace: 8912896 byte(s) leaked in 4 allocation(s)" "$out/run-$mode.txt"
    "$cli" report "$out/$mode.trace" >"$out/report-$mode.txt" 2>&1
    check "$mode: vramtrace report agrees" grep -q "SUMMARY: vramtrace: 8912896 byte(s) leaked in 4 allocation(s)" \
        "$out/report-$mode.txt"
    grep -E "SUMMARY|cuCtx|Calls|peak" "$out/run-$mode.txt" | sed "s/^/  $mode: /"
done
rm -f "$out"/*.trace
exit $status
