#!/usr/bin/env bash
# scripts/bench-analyze.sh — owns the "Analysis at scale" measurement of docs/performance.md: makes
# churn traces (bench/alloc_bench churn on the simulated device: 10,000 live, 1,000 call sites) of
# each size in BENCH_ANALYZE_EVENTS (default "1000000 10000000 30000000" events), then runs
# `vramtrace report`, `timeline`, `flame --peak`, `diff TRACE TRACE` and `merge TRACE` on each under
# /usr/bin/time and prints one table of wall time, CPU time and peak RSS. The analysis commands
# stream a trace's events (src/trace/event_store.h): their memory should stay flat as the events
# grow.
#
# Side by side with heaptrack (Debian's `heaptrack`; skipped, saying so, when it is not installed):
# the same churn with malloc/free (`alloc_bench churn --host`) recorded by `heaptrack`, then
# `heaptrack_print` of it under /usr/bin/time, as one more row per size (BENCH_ANALYZE_HEAPTRACK=0:
# not run). DEBUGINFOD_URLS is emptied for heaptrack: its symbolization would otherwise try the
# network for every module.
#
# The rows measure the full pass over the file (VRAMTRACE_INDEX=off); with BENCH_ANALYZE_INDEX=1 (the
# default) each command gets one more row: run again with the index beside the trace (TRACE.vtindex,
# written by an untimed run of the same command first; docs/trace-format.md), as a repeated query runs.
#
# Each measurement is the run of median wall time of BENCH_ANALYZE_RUNS (default 3) runs, with its
# CPU time (user + system: the loading reads ahead in a thread of its own, src/trace/trace_reader.h)
# and peak RSS.
#
# Knobs (environment): BENCH_ANALYZE_EVENTS (the sizes), BENCH_ANALYZE_DIR (where the traces go, kept;
# default a temporary directory, removed), BENCH_ANALYZE_BEFORE (another vramtrace binary, e.g. a
# build of an older commit: its numbers are printed next to this build's), BENCH_ANALYZE_COMMANDS
# (default "report timeline flame diff merge"), BENCH_ANALYZE_RUNS, BENCH_ANALYZE_INDEX (0: no rows with the index).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sizes=${BENCH_ANALYZE_EVENTS:-1000000 10000000 30000000}
commands=${BENCH_ANALYZE_COMMANDS:-report timeline flame diff merge}
before=${BENCH_ANALYZE_BEFORE:-}
source scripts/bench-setup.sh "${BENCH_ANALYZE_DIR:-}" # root, cli, bench, work

runs=${BENCH_ANALYZE_RUNS:-3}

# timed COMMAND...: runs it $runs times under /usr/bin/time; prints "wall_s peak_rss_kib cpu_s", the
# run of median wall time (this VM's wall times vary by a third from run to run)
timed() {
    : >"$work/times.txt"
    for ((run = 0; run < runs; run++)); do
        # flame and diff may exit 1 ("nothing live", "differ"): the numbers are what counts
        /usr/bin/time -f '%e %M %U %S' -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt" || true
        tail -1 "$work/time.txt" >>"$work/times.txt"
    done
    sort -n "$work/times.txt" | awk -v middle=$(((runs + 1) / 2)) 'NR == middle { printf "%s %s %.2f\n", $1, $2, $3 + $4 }'
}

measure() { # BINARY COMMAND TRACE [INDEX]: prints "wall_s peak_rss_kib cpu_s"; INDEX (VRAMTRACE_INDEX)
    # default off: the full pass over the file. With auto, one untimed run first writes TRACE.vtindex.
    local binary=$1 command=$2 trace=$3 index=${4:-off} args
    case $command in
        flame) args=(flame --peak "$trace") ;;
        diff) args=(diff "$trace" "$trace") ;;
        *) args=("$command" "$trace") ;;
    esac
    if [[ $index != off ]]; then
        rm -f "$trace.vtindex"
        VRAMTRACE_INDEX=$index "$binary" "${args[@]}" >/dev/null 2>&1 || true
    fi
    VRAMTRACE_INDEX=$index timed "$binary" "${args[@]}"
}

heaptrack_side=${BENCH_ANALYZE_HEAPTRACK:-1}
with_index=${BENCH_ANALYZE_INDEX:-1}
if [[ $heaptrack_side != 0 ]] && ! { command -v heaptrack && command -v heaptrack_print; } >/dev/null; then
    echo "scripts/bench-analyze.sh: heaptrack not installed (apt-get install heaptrack): no side by side" >&2
    heaptrack_side=0
fi

# heaptrack_row EVENTS: records the malloc churn of EVENTS events under heaptrack (once) and prints
# the row of heaptrack_print on it.
heaptrack_row() {
    local events=$1 data=$work/heaptrack-churn-$1
    if [[ ! -f $data.zst ]]; then
        echo "==> recording a malloc churn of $events events under heaptrack in $data.zst" >&2
        DEBUGINFOD_URLS= LD_LIBRARY_PATH="$root/build/src/simulated_cuda${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
            heaptrack -o "$data" "$bench" churn --events "$events" --depth 8 --host >/dev/null 2>&1
    fi
    echo "==> heaptrack_print, $events events" >&2
    local wall rss cpu
    read -r wall rss cpu < <(DEBUGINFOD_URLS= timed heaptrack_print -f "$data.zst")
    printf '| %d | %.1f MB | heaptrack_print (the same churn with malloc/free) | %s s | %s s | %.1f MB |' "$events" \
        "$(echo "$(du -b "$data.zst" | cut -f1) / 1000000" | bc -l)" "$wall" "$cpu" "$(echo "$rss / 1000" | bc -l)"
}

rows=()
for events in $sizes; do
    trace=$work/churn-$events.trace
    if [[ ! -f $trace ]]; then
        echo "==> making a churn trace of $events events in $trace" >&2
        "$cli" run -q --simulate -o "$trace" --report none -- "$bench" churn --events "$events" --depth 8 >/dev/null
    fi
    size=$(du -b "$trace" | cut -f1)
    for command in $commands; do
        echo "==> $command, $events events" >&2
        read -r wall rss cpu < <(measure "$cli" "$command" "$trace")
        row=$(printf '| %d | %.1f MB | %s | %s s | %s s | %.1f MB |' "$events" "$(echo "$size / 1000000" | bc -l)" \
            "$command" "$wall" "$cpu" "$(echo "$rss / 1000" | bc -l)")
        if [[ -n $before ]]; then
            read -r old_wall old_rss old_cpu < <(measure "$before" "$command" "$trace")
            row+=$(printf ' %s s | %s s | %.1f MB |' "$old_wall" "$old_cpu" "$(echo "$old_rss / 1000" | bc -l)")
        fi
        rows+=("$row")
        if [[ $with_index != 0 ]]; then
            echo "==> $command with the index, $events events" >&2
            read -r wall rss cpu < <(measure "$cli" "$command" "$trace" auto)
            rows+=("$(printf '| %d | %.1f MB | %s, with TRACE.vtindex (%.1f MB) | %s s | %s s | %.1f MB |' "$events" \
                "$(echo "$size / 1000000" | bc -l)" "$command" "$(echo "$(du -b "$trace.vtindex" | cut -f1) / 1000000" | bc -l)" \
                "$wall" "$cpu" "$(echo "$rss / 1000" | bc -l)")")
            [[ -n $before ]] && rows[-1]+=" | | |"
            rm -f "$trace.vtindex"
        fi
    done
    if [[ $heaptrack_side != 0 ]]; then
        row=$(heaptrack_row "$events")
        [[ -n $before ]] && row+=" | | |"
        rows+=("$row")
    fi
done

echo "vramtrace analysis of churn traces (bench/alloc_bench churn: 10,000 live, 1,000 call sites), $(nproc) CPU(s), median of $runs run(s):"
if [[ -n $before ]]; then
    printf '| events | trace | command | wall | CPU | peak RSS | wall (%s) | CPU (%s) | peak RSS (%s) |\n|---|---|---|---|---|---|---|---|---|\n' \
        "$(basename "$before")" "$(basename "$before")" "$(basename "$before")"
else
    printf '| events | trace | command | wall | CPU | peak RSS |\n|---|---|---|---|---|---|\n'
fi
printf '%s\n' "${rows[@]}"
