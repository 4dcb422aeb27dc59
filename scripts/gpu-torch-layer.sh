#!/usr/bin/env bash
# scripts/gpu-torch-layer.sh — the tensor layer of the exit and OOM reports with real PyTorch on a
# GPU machine: the scenarios of tests/programs/python/torch_layer_jobs.py and torch_jobs.py under
# `vramtrace run` (no --simulate), checking what tests/integration/test_torch_layer.c checks on the
# stand-in, in every allocator mode; then what a snapshot and a tensor event cost. Needs a build
# carried from here (scripts/build.sh, scripts/gpu-bundle.sh). Prints PASS/FAIL lines and the
# measurements; files under OUT (default ./gpu-torch-layer-out).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=${OUT:-$root/gpu-torch-layer-out}
mkdir -p "$out"
cli=$root/build/src/cli/vramtrace
export PYTHONDONTWRITEBYTECODE=1
python3 -c 'import torch, sys; print("torch", torch.__version__, "python", sys.version.split()[0])' | tee "$out/versions.txt"
source scripts/gpu-checks.sh # check, prefer_real_cudart, status
run_job() { # directory jobs-file scenario [env...]
    local directory=$out/$1 jobs=$root/tests/programs/python/$2 scenario=$3
    shift 3
    mkdir -p "$directory"
    (cd "$directory" && env "$@" "$cli" run -o job.trace python3 "$jobs" "$scenario" \
        >stdout.txt 2>stderr.txt; echo "exit $?" >>stdout.txt)
}
# line NAME: the line of torch_jobs.py marked "# site: NAME" (plus OFFSET, $2)
line() { echo $(($(grep -n "# site: $1\$" "$root/tests/programs/python/torch_jobs.py" | cut -d: -f1) + ${2:-0})); }
summary() { grep -o 'SUMMARY: vramtrace: [0-9]* byte(s) leaked in [0-9]* allocation(s)' "$out/$1/stderr.txt"; }

run_job keep torch_jobs.py keep_losses
check "keep_losses: exit 0" grep -q "exit 0" "$out/keep/stdout.txt"
# (real PyTorch also keeps cuBLAS's workspaces: blocks of its own allocator, allocated at the first
# Linear.forward, and cuBLASLt's own cuMemAlloc, outside PyTorch's allocator)
check "keep_losses: five kept losses are a leak, at their line" grep -q "in 5 tensor(s) on device 0, allocated at keep_losses .*torch_jobs.py:$(line batch 1)" "$out/keep/stderr.txt"
check "keep_losses: the cache is not a leak" grep -q "CUDA memory held in PyTorch's segments at exit" "$out/keep/stderr.txt"
echo "keep_losses: $(summary keep)"
# vramtrace report on the trace: the same accounting as the exit report
"$cli" report "$out/keep/job.trace" >"$out/keep/report.txt" 2>&1
check "keep_losses: vramtrace report's SUMMARY = the exit report's" \
    test "$(grep -o 'SUMMARY: vramtrace: [0-9]* byte(s) leaked in [0-9]* allocation(s)' "$out/keep/report.txt")" = "$(summary keep)"
"$cli" report --format json "$out/keep/job.trace" >"$out/keep/report.json" 2>/dev/null
check "keep_losses: JSON report has the torch object" python3 -c "import json,sys; r=json.load(open('$out/keep/report.json')); sys.exit(0 if r.get('torch') else 1)"

# A loop that keeps its losses, dumped twice: diff shows the growth at the line that keeps them
run_job dumped torch_jobs.py keep_losses_dumped
times=$("$cli" report --format json "$out/dumped/job.trace" 2>/dev/null | python3 -c '
import json, sys
print(" ".join(str(s["time_ns"]) + "ns" for s in json.load(sys.stdin)["torch"]["snapshots"] if s["moment"] == "live_dump"))')
"$cli" diff "$out/dumped/job.trace" --from "${times%% *}" --to "${times##* }" >"$out/dumped/diff.txt" 2>&1
check "dumped: diff puts the kept losses' line first" bash -c "grep -A3 -i 'tensor' '$out/dumped/diff.txt' | grep -q 'torch_jobs.py:$(line "dumped loss")'"
check "dumped: exit 0" grep -q "exit 0" "$out/dumped/stdout.txt"
head -30 "$out/dumped/diff.txt"

run_job fragmentation torch_layer_jobs.py fragmentation
allocated=$(grep -o 'allocated: [0-9]*' "$out/fragmentation/stdout.txt" | cut -d' ' -f2)
check "fragmentation: SUMMARY = memory_allocated() ($allocated)" grep -q "SUMMARY: vramtrace: $allocated byte(s) leaked in 10 allocation(s)" "$out/fragmentation/stderr.txt"
check "fragmentation: fragmented bytes reported" grep -q "cached and free in .* fragmented)" "$out/fragmentation/stderr.txt"
grep "PyTorch's caching allocator on device" "$out/fragmentation/stderr.txt"

run_job outside torch_layer_jobs.py outside_torch
check "outside: raw cudaMalloc reported outside PyTorch" grep -q "Device memory: 3145728 byte(s) (3.00 MiB) leaked in 1 allocation(s)" "$out/outside/stderr.txt"
echo "outside: $(summary outside)"

run_job freed torch_layer_jobs.py freed_everything
check "freed: nothing leaked" grep -q "SUMMARY: vramtrace: 0 byte(s) leaked in 0 allocation(s)" "$out/freed/stderr.txt"

run_job oom torch_jobs.py out_of_memory
"$cli" report "$out/oom/job.trace" >"$out/oom/report.txt" 2>&1
check "oom: vramtrace report names the failing line" grep -q "torch_jobs.py:$(line "too large")" "$out/oom/report.txt"
check "oom: PyTorch's section in the OOM report" grep -q "PyTorch's view of the out-of-memory" "$out/oom/job.oom.txt"
check "oom: the failing line" grep -q "The failing request: .* at out_of_memory .*torch_jobs.py:$(line "too large")" "$out/oom/job.oom.txt"
check "oom: the live tensor's line" grep -q "allocated at out_of_memory .*torch_jobs.py:$(line weights)" "$out/oom/job.oom.txt"

run_job fraction torch_layer_jobs.py fraction_out_of_memory
check "fraction: PyTorch refused with no CUDA failure" grep -q "no CUDA call failed" "$out/fraction/job.oom.txt"
check "fraction: the failing line" grep -q "The failing request: .* at fraction_out_of_memory" "$out/fraction/job.oom.txt"

run_job expandable torch_jobs.py keep_losses PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
check "expandable: five kept losses, at their line" grep -q "in 5 tensor(s) on device 0, allocated at keep_losses .*torch_jobs.py:$(line batch 1)" "$out/expandable/stderr.txt"
check "expandable: no cuMemCreate leaked" bash -c "! grep -q 'of device memory, cuMemCreate' '$out/expandable/stderr.txt'"
check "expandable: no reservation leaked" bash -c "! grep -q 'Reserved address space:' '$out/expandable/stderr.txt'"
echo "expandable: $(summary expandable)"

run_job nocache torch_jobs.py keep_losses PYTORCH_NO_CUDA_MEMORY_CACHING=1
check "no caching: tensors are CUDA allocations" grep -q "held no memory at exit" "$out/nocache/stderr.txt"
echo "no caching: $(summary nocache)"

run_job async torch_jobs.py keep_losses PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync
check "async: exit 0" grep -q "exit 0" "$out/async/stdout.txt"
check "async: kept losses at their line" grep -q "in keep_losses .*torch_jobs.py:$(line batch 1) \[python\]" "$out/async/stderr.txt"
echo "async: $(summary async)"

# What one snapshot costs, with a full history ring.
for entries in 1000 10000 100000; do
    mkdir -p "$out/cost$entries"
    (cd "$out/cost$entries" && VRAMTRACE_TORCH_ENTRIES=$entries "$cli" run -o job.trace python3 - \
        >stdout.txt 2>stderr.txt <<'PY'
import torch
model = torch.nn.Sequential(*[torch.nn.Linear(512, 512) for _ in range(8)]).cuda()
for _ in range(2000):
    model(torch.randn(64, 512, device="cuda")).sum().backward()
torch.cuda.synchronize()
PY
    )
    echo "entries $entries: $(grep -o 'at exit written to [^;]*' "$out/cost$entries/stderr.txt")"
done

# What a tensor event costs: 200,000 allocations and frees, vramtrace's history on, then off.
cat >"$out/events.py" <<'PY'
import time, torch
torch.empty(1, device="cuda")
for size in (1024, 1 << 20):
    started = time.perf_counter()
    for _ in range(100000):
        x = torch.empty(size // 4, device="cuda")
        del x
    torch.cuda.synchronize()
    print(f"size {size}: {(time.perf_counter() - started) / 200000 * 1e9:.0f} ns per tensor event")
PY
for mode in auto off; do
    mkdir -p "$out/events-$mode"
    for run in 1 2 3; do
        (cd "$out/events-$mode" && VRAMTRACE_TORCH=$mode VRAMTRACE_TORCH_ENTRIES=10000 "$cli" run -o job$run.trace \
            python3 "$out/events.py" 2>>stderr.txt | sed "s/^/history $mode, run $run: /")
    done
done
for run in 1 2 3; do python3 "$out/events.py" | sed "s/^/no vramtrace, run $run: /"; done
# Only the reports come back: traces and pickles stay there.
find "$out" \( -name '*.trace' -o -name '*.pickle' \) -delete
exit $status
