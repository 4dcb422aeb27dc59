#!/usr/bin/env bash
# scripts/bench-merge.sh — owns the memory measurement of `vramtrace merge` in docs/performance.md:
# makes BENCH_MERGE_TRACES traces (default 64) of BENCH_MERGE_EVENTS events each (default
# 1,000,000: bench/alloc_bench churn on the simulated device, 10,000 live, 1,000 call sites, each
# run with its own RANK), then merges them under /usr/bin/time -v and prints the peak RSS and the
# wall time, next to those of merging one of them alone: merge reads one trace at a time, so the
# two should be close. The traces go to a temporary directory (BENCH_MERGE_DIR to keep them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
traces=${BENCH_MERGE_TRACES:-64}
events=${BENCH_MERGE_EVENTS:-1000000}
jobs=${BENCH_MERGE_JOBS:-2}
source scripts/bench-setup.sh "${BENCH_MERGE_DIR:-}" # root, cli, bench, work

echo "==> $traces trace(s) of $events events ($jobs at a time) in $work" >&2
make_trace() {
    RANK=$1 "$cli" run -q --simulate -o "$work/churn.%r.trace" --report none -- \
        "$bench" churn --events "$events" --depth 8 >/dev/null
}
for ((rank = 0; rank < traces; rank++)); do
    [[ -f $work/churn.$rank.trace ]] && continue
    make_trace "$rank" &
    if (( (rank + 1) % jobs == 0 )); then wait; fi
done
wait

measure() { # prints "peak_rss_kib wall_s" of `vramtrace merge ARGS...`
    /usr/bin/time -f '%M %e' -o "$work/time.txt" "$cli" merge --top 3 "$@" >"$work/merge.txt"
    cat "$work/time.txt"
}
read -r one_rss one_wall < <(measure "$work/churn.0.trace")
mapfile -t all < <(ls "$work"/churn.*.trace)
read -r all_rss all_wall < <(measure "${all[@]}")
bytes=$(du -cb "${all[@]}" | tail -1 | cut -f1)
echo "vramtrace merge, traces of $events events (bench/alloc_bench churn), $(( bytes / ${#all[@]} / 1024 )) KiB each on average:"
printf '| traces | peak RSS | wall time |\n|---|---|---|\n'
printf '| 1 | %d KiB (%.1f MB) | %s s |\n' "$one_rss" "$(echo "$one_rss / 1000" | bc -l)" "$one_wall"
printf '| %d | %d KiB (%.1f MB) | %s s |\n' "${#all[@]}" "$all_rss" "$(echo "$all_rss / 1000" | bc -l)" "$all_wall"
