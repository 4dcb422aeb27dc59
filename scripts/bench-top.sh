#!/usr/bin/env bash
# scripts/bench-top.sh — owns the refresh-cost measurement of `vramtrace top` in
# docs/performance.md: makes a trace of BENCH_TOP_EVENTS events (default 1,000,000: bench/alloc_bench
# churn on the simulated device, 10,000 live, 1,000 call sites), then grows a copy of it the way a
# running process does — 90 % of the file at once, the rest in BENCH_TOP_STEPS pieces (default 100)
# cut at arbitrary bytes (chunks cut short included), one every 50 ms — while `vramtrace top
# --interval 50ms` follows it to its END record, under /usr/bin/time. Prints the frames shown, the
# CPU time in all and per frame, and the peak RSS, next to one `top --once` of the finished trace
# (one full read). BENCH_TOP_CLI=other/vramtrace measures another build (e.g. one that re-read the
# whole file at every refresh). The files go to a temporary directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
events=${BENCH_TOP_EVENTS:-1000000}
steps=${BENCH_TOP_STEPS:-100}
source scripts/bench-setup.sh # root, cli, bench, work (temporary)
cli=${BENCH_TOP_CLI:-$cli}

"$root/build/src/cli/vramtrace" run -q --simulate -o "$work/full.trace" --report none -- \
    "$root/build/bench/alloc_bench" churn --events "$events" --depth 8 >/dev/null
python3 - "$work/full.trace" "$work/growing.trace" "$steps" <<'PY' &
import sys, time
source, target, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(source, 'rb').read()
start = len(data) * 9 // 10
with open(target + '.tmp', 'wb') as out:
    out.write(data[:start])
import os
os.rename(target + '.tmp', target)
with open(target, 'ab') as out:
    time.sleep(1)
    piece = (len(data) - start) // steps + 1
    for at in range(start, len(data), piece):
        time.sleep(0.05)
        out.write(data[at:at + piece])
        out.flush()
PY
grower=$!
while [[ ! -e $work/growing.trace ]]; do sleep 0.05; done # a build that cannot wait for it starts after
/usr/bin/time -f '%U %S %M' -o "$work/follow.time" "$cli" top --interval 50ms "$work/growing.trace" >"$work/follow.txt"
wait "$grower"
/usr/bin/time -f '%U %S %M' -o "$work/once.time" "$cli" top --once "$work/full.trace" >/dev/null
frames=$(grep -c '^vramtrace top:' "$work/follow.txt")
read -r user system rss <"$work/follow.time"
read -r once_user once_system once_rss <"$work/once.time"
echo "vramtrace top ($cli), a trace of $events events grown in $steps pieces:"
printf '| | frames | CPU in all | CPU per frame | peak RSS |\n|---|---|---|---|---|\n'
printf '| following it | %d | %.2f s | %.1f ms | %d KiB |\n' "$frames" "$(echo "$user + $system" | bc -l)" \
    "$(echo "($user + $system) * 1000 / $frames" | bc -l)" "$rss"
printf '| --once of the whole | 1 | %.2f s | | %d KiB |\n' "$(echo "$once_user + $once_system" | bc -l)" "$once_rss"
