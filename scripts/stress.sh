#!/usr/bin/env bash
# scripts/stress.sh — owns the trace's full-size load test (issue 9, point 8; docs/reliability.md):
# THREADS threads x EVENTS events each through the real shim on the simulated device (tests/programs/
# thread_stress: cudaMalloc/cudaFree pairs, 3 allocations per thread kept live), traced to a file,
# optionally with busy processes starving the writer thread. Checks that the exit report and
# `vramtrace report` of the trace give the same exact totals, and prints one line for the table of
# docs/reliability.md: events written, events lost, wall time, machine. Exits 1 when an event was
# lost or a total differs. The CI-sized version is tests/integration/test_trace_load.c.
#
# Knobs (environment): STRESS_THREADS (32), STRESS_EVENTS (events per thread, 1000000),
# STRESS_LOAD (busy processes running alongside, 0), STRESS_DIR (where the trace goes, a fresh
# directory under /tmp; removed at the end unless STRESS_KEEP=1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
threads=${STRESS_THREADS:-32}
events=${STRESS_EVENTS:-1000000}
load=${STRESS_LOAD:-0}
kept=3
pairs=$((events / 2))

if [[ ! -f build/build.ninja ]]; then
    ./scripts/build.sh
fi
ninja -C build src/cli/vramtrace src/shim/libvramtrace.so tests/programs/thread_stress >/dev/null

work=${STRESS_DIR:-$(mktemp -d /tmp/vramtrace-stress.XXXXXX)}
mkdir -p "$work"
busy=()
cleanup() {
    for pid in "${busy[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    [[ ${STRESS_KEEP:-0} == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT
for ((i = 0; i < load; i++)); do
    (while :; do :; done) &
    busy+=($!)
done

trace=$work/stress.trace
echo "==> $threads threads x $events events ($pairs pairs, $kept kept) traced to $trace, $load busy process(es)" >&2
start=$(date +%s.%N)
build/src/cli/vramtrace run --simulate --report=none -o "$trace" -- \
    build/tests/programs/thread_stress "$threads" "$pairs" "$kept" >/dev/null 2>"$work/exit-report.txt"
end=$(date +%s.%N)
build/src/cli/vramtrace report "$trace" >"$work/report.txt" 2>"$work/report-warnings.txt"

line() { grep -m1 "^$2" "$1" || true; }
status=0
expected_calls="$((threads * (pairs + kept))) allocation(s), $((threads * pairs)) free(s), 0 free(s) of unknown addresses"
expected_summary="SUMMARY: vramtrace: $((threads * kept * 4096)) byte(s) leaked in $((threads * kept)) allocation(s)."
for file in exit-report.txt report.txt; do
    if ! grep -qF "$expected_calls" "$work/$file" || ! grep -qF "$expected_summary" "$work/$file"; then
        echo "FAIL: $file does not give the exact totals ($expected_calls; $expected_summary):" >&2
        line "$work/$file" "Calls: " >&2
        line "$work/$file" "SUMMARY: " >&2
        status=1
    fi
done
written=$(sed -n 's/^Trace: [^;]*; \([0-9]*\) event(s).*/\1/p' "$work/report.txt")
lost=$(sed -n 's/^Lost: \([0-9]*\) event(s).*/\1/p' "$work/report.txt")
exit_lost=$(sed -n 's/^The trace is INCOMPLETE: \([0-9]*\) event(s).*/\1/p' "$work/exit-report.txt")
if [[ -n $lost || -n $exit_lost ]]; then
    echo "FAIL: events lost (trace: ${lost:-0}, exit report: ${exit_lost:-0})" >&2
    status=1
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
printf '| %d threads x %d events, %d busy process(es) | %s | %s | %.1f s | %d CPUs, %s, %s |\n' \
    "$threads" "$events" "$load" "${written:-?}" "${lost:-0}" "$(echo "$end - $start" | bc)" "$(nproc)" \
    "${cpu:-unknown CPU}" "$(date -u +%Y-%m-%d)"
exit $status
