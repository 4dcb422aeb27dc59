#!/usr/bin/env bash
# Checks the trace and its analyses on a real GPU with a PyTorch job: `vramtrace report` (text and
# JSON), `timeline`, `flame`, a live `dump` and `top` of a job that is still running, and the trace
# of a job killed with SIGKILL; on each trace, the commands' outputs with the index beside it
# (TRACE.vtindex) against those without. Writes $OUT/trace-validation.txt (for docs/gpu-validation.md).
# Needs a build carried from elsewhere (scripts/build.sh, scripts/gpu-bundle.sh) and python3 + torch.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-/tmp/vramtrace-gpu}
mkdir -p "$out"
log=$out/trace-validation.txt
: >"$log"
vramtrace=$root/build/src/cli/vramtrace
train=$root/examples/python/torch_train.py
work=$(mktemp -d)
cd "$work"
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync
say() { echo "$@" | tee -a "$log"; }
# index_check TRACE: the analysis commands with VRAMTRACE_INDEX=off, then twice with the index beside
# the trace (TRACE.vtindex: read when there, current or of the trace's start; written after a full
# load): the outputs must be the same.
index_check() {
    local trace=$1 same=0 differ=0
    for args in "flame --peak" "flame" "diff --from 1 --to 5" "timeline --csv" "merge" "report --at 3"; do
        VRAMTRACE_INDEX=off "$vramtrace" $args "$trace" >off.out 2>&1
        "$vramtrace" $args "$trace" >first.out 2>&1
        "$vramtrace" $args "$trace" >second.out 2>&1
        if cmp -s off.out first.out && cmp -s off.out second.out; then
            same=$((same + 1))
        else
            differ=$((differ + 1))
            say "DIFFERS with the index: $args $trace"
        fi
    done
    say "index of $trace: $same command(s) the same with and without it, $differ differ; $(stat -c %s "$trace.vtindex" 2>/dev/null) bytes"
}

say "== date $(date -u +%Y-%m-%dT%H:%M:%SZ); $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
say "== a finished job: 20 steps, async backend"
"$vramtrace" run -q -o done.trace -- python3 "$train" 20 >>"$log" 2>&1
say "trace: $(stat -c %s done.trace) bytes"
"$vramtrace" report done.trace > report.txt 2>&1; say "report exit $?"
grep -E "^(Device 0|Trace:|  device 0|Peak snapshot|SUMMARY)" report.txt | tee -a "$log"
"$vramtrace" report --format json done.trace > report.json 2>>"$log"
python3 -c 'import json,sys; d=json.load(open("report.json")); print("report JSON parses; keys:", sorted(d)[:12])' 2>&1 | tee -a "$log"
"$vramtrace" timeline done.trace -o timeline.json 2>>"$log"
python3 - <<'PY' 2>&1 | tee -a "$log"
import json
d = json.load(open("timeline.json"))
events = d["traceEvents"]
counters = [e for e in events if e["ph"] == "C"]
print(f"timeline JSON parses: {len(events)} events, {len(counters)} counter samples, "
      f"max device bytes {max(e['args']['bytes'] for e in counters if e['name'].startswith('device 0'))}")
PY
"$vramtrace" flame --peak done.trace 2>>"$log" | sort -t' ' -k2 -n -r | head -3 | cut -c1-300 | tee -a "$log"
index_check done.trace

say "== a running job: live dump and top"
"$vramtrace" run -q -o running.trace -- python3 "$train" 100000 >/dev/null 2>&1 &
supervisor=$!
sleep 15
"$vramtrace" dump "$supervisor" > dump.out 2>&1; say "dump exit $?: $(head -3 dump.out)"
snapshot=$(ls "$work"/*.dump-1.txt 2>/dev/null | head -1)
[ -n "$snapshot" ] && grep -E "^(vramtrace: live|Device memory)" "$snapshot" | tee -a "$log"
"$vramtrace" top --once running.trace 2>&1 | head -12 | cut -c1-200 | tee -a "$log"
"$vramtrace" flame running.trace >/dev/null 2>&1 # indexes the trace's start; it grows on
kill -0 "$supervisor" 2>/dev/null && say "the job is still running after the dump and top"
sleep 5
kill -TERM "$supervisor"; wait "$supervisor"; say "stopped it with SIGTERM (relayed): exit status $?"
index_check running.trace # its first run with the index reads on past the indexed start

say "== a job killed with SIGKILL"
"$vramtrace" run -q -o killed.trace -- python3 "$train" 100000 >/dev/null 2>&1 &
sleep 15
pkill -KILL -f "torch_train.py 100000"; sleep 1
"$vramtrace" report killed.trace > killed.txt 2>&1; say "report of the killed job: exit $?"
grep -E "^(vramtrace: warning|Trace:|  device 0)" killed.txt | tee -a "$log"
index_check killed.trace
rm -rf "$work"
