#!/usr/bin/env bash
# scripts/gpu-torch-bootstrap.sh — the PyTorch integration's activation with real PyTorch on a GPU
# machine: tests/programs/python/torch_jobs.py's scenarios under `vramtrace run` (no --simulate),
# checking what tests/integration/test_torch_bootstrap.c checks on the stand-in, plus the cost of
# the exit snapshot. Needs a build carried from here (scripts/build.sh, scripts/gpu-bundle.sh).
# Prints PASS/FAIL lines; files under OUT (default ./gpu-torch-out).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=${OUT:-$root/gpu-torch-out}
mkdir -p "$out"
cli=$root/build/src/cli/vramtrace
jobs=$root/tests/programs/python/torch_jobs.py
export PYTHONDONTWRITEBYTECODE=1
python3 -c 'import torch, sys; print("torch", torch.__version__, "python", sys.version.split()[0])' | tee "$out/versions.txt"
source scripts/gpu-checks.sh # check, prefer_real_cudart, status
run_job() { # directory scenario [env...]
    local directory=$out/$1 scenario=$2
    shift 2
    mkdir -p "$directory"
    (cd "$directory" && env "$@" "$cli" run -o 'job.%p.trace' python3 "$jobs" "$scenario" --report-bootstrap \
        >stdout.txt 2>stderr.txt; echo "exit $?" >>stdout.txt)
}
run_job keep keep_losses
check "keep_losses: exit 0" grep -q "exit 0" "$out/keep/stdout.txt"
check "keep_losses: bootstrap loaded" grep -q "bootstrap loaded: True" "$out/keep/stdout.txt"
check "keep_losses: snapshot at exit" grep -q "PyTorch memory snapshot at exit written" "$out/keep/stderr.txt"
(cd "$out/keep" && python3 -c '
import glob, pickle
s = pickle.load(open(glob.glob("job.*.torch.pickle")[0], "rb"))
print("keys", sorted(s))
print("segments", len(s["segments"]), "trace entries", len(s["device_traces"][0]))
print("frames name the job:", any(f["filename"].endswith("torch_jobs.py") for e in s["device_traces"][0] for f in e["frames"]))
' >summary.txt 2>&1; cat summary.txt)
check "keep_losses: the snapshot's frames name torch_jobs.py" grep -q "frames name the job: True" "$out/keep/summary.txt"
(cd "$out/keep" && python3 -c '
import glob, pickle
from torch.cuda import _memory_viz
s = pickle.load(open(glob.glob("job.*.torch.pickle")[0], "rb"))
print(_memory_viz.segment_plot(s)[:40] if hasattr(_memory_viz, "segment_plot") else "no segment_plot")
' >viz.txt 2>&1; head -c 300 viz.txt; echo)
check "keep_losses: torch.cuda._memory_viz reads it" grep -qv "Traceback" "$out/keep/viz.txt"
run_job oom out_of_memory
check "oom: the program caught torch.OutOfMemoryError" grep -q "out of memory, as expected" "$out/oom/stdout.txt"
check "oom: snapshot at the OOM" grep -q "snapshot at the out-of-memory" "$out/oom/stderr.txt"
run_job cpu cpu_only
check "cpu_only: CUDA never initialised" grep -q "initialized: False" "$out/cpu/stdout.txt"
check "cpu_only: no snapshot" test -z "$(ls "$out/cpu"/*.pickle 2>/dev/null)"
run_job async keep_losses PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync
check "async: exit 0" grep -q "exit 0" "$out/async/stdout.txt"
check "async: history unavailable, said" grep -q "memory history is not available" "$out/async/stderr.txt"
run_job changed changed_api
check "changed api: exit 0" grep -q "exit 0" "$out/changed/stdout.txt"
# Without vramtrace run's PYTHONPATH: python -I, and plain LD_PRELOAD (the shim injects the bootstrap
# when PyTorch's allocator makes its first allocation).
mkdir -p "$out/isolated" "$out/preload"
(cd "$out/isolated" && "$cli" run -o 'job.%p.trace' python3 -I "$jobs" keep_losses --report-bootstrap \
    >stdout.txt 2>stderr.txt; echo "exit $?" >>stdout.txt)
check "python -I: exit 0" grep -q "exit 0" "$out/isolated/stdout.txt"
check "python -I: injected bootstrap wrote the exit snapshot" grep -q "snapshot at exit written" "$out/isolated/stderr.txt"
(cd "$out/preload" && env LD_PRELOAD="$root/build/src/shim/libvramtrace.so" VRAMTRACE_OUTPUT='job.%p.trace' \
    python3 "$jobs" keep_losses --report-bootstrap >stdout.txt 2>stderr.txt; echo "exit $?" >>stdout.txt)
check "LD_PRELOAD: exit 0" grep -q "exit 0" "$out/preload/stdout.txt"
check "LD_PRELOAD: injected bootstrap wrote the exit snapshot" grep -q "snapshot at exit written" "$out/preload/stderr.txt"
# The exit snapshot's cost with a full ring (VRAMTRACE_TORCH_ENTRIES entries of a longer loop).
for entries in 1000 10000; do
    mkdir -p "$out/cost$entries"
    (cd "$out/cost$entries" && VRAMTRACE_TORCH_ENTRIES=$entries "$cli" run -o 'job.%p.trace' python3 - \
        >stdout.txt 2>stderr.txt <<'PY'
import torch
model = torch.nn.Sequential(*[torch.nn.Linear(512, 512) for _ in range(8)]).cuda()
for _ in range(200):
    model(torch.randn(64, 512, device="cuda")).sum().backward()
PY
    )
    echo "entries $entries: $(grep -o 'written to [^ ]* ([0-9.]* s' "$out/cost$entries/stderr.txt")"
done
exit $status
