#!/usr/bin/env bash
# Runs vramtrace's validation programs on a real NVIDIA GPU and writes what it saw:
#   $OUT/summary.txt   one block per check: the program's exit code and the report's key lines
#   $OUT/full.log      everything the programs and the shim printed
# Needs a build made elsewhere (scripts/build.sh, then scripts/gpu-bundle.sh) and, for the
# framework checks, python3 with torch / cupy / jax. Used for docs/gpu-validation.md.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-/tmp/vramtrace-gpu}
mkdir -p "$out"
summary=$out/summary.txt full=$out/full.log
: >"$summary"; : >"$full"
vramtrace=$root/build/src/cli/vramtrace
work=$(mktemp -d)

# The examples need a real libcudart.so.13 when the loader cannot find one by itself.
source scripts/gpu-checks.sh
ldconfig -p | grep -q 'libcudart\.so\.13 ' || prefer_real_cudart
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1
} | tee -a "$summary" >>"$full"

# check NAME COMMAND...: runs COMMAND under `vramtrace run`, keeps the report's key lines.
check() {
  local name=$1; shift
  local started=$(date +%s.%N)
  (cd "$work" && "$vramtrace" run --report=none -- "$@") >"$work/out" 2>"$work/err"
  local code=$?
  local seconds=$(awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $started }")
  {
    echo; echo "== $name: exit $code, ${seconds}s"
    grep -E '^(Device memory|Host-pinned memory|Managed memory|Reserved address space|Calls|Out of memory|Recovered|Not recovered|SUMMARY|vramtrace:)|^  (device|host)|^[a-z_]+: ' "$work/out" "$work/err" | sed 's/^[^:]*\/\(out\|err\)://'
  } >>"$summary"
  { echo; echo "######## $name (exit $code)"; cat "$work/out" "$work/err"; } >>"$full"
}

# plain_vs_traced NAME COMMAND...: stdout with and without the shim must be identical.
plain_vs_traced() {
  local name=$1; shift
  (cd "$work" && "$@") >"$work/plain" 2>/dev/null; local plain_code=$?
  (cd "$work" && "$vramtrace" run --report=none --quiet -- "$@") >"$work/traced" 2>/dev/null; local traced_code=$?
  if cmp -s "$work/plain" "$work/traced" && [ $plain_code = $traced_code ]; then
    echo "== $name: stdout identical with and without the shim, exit $plain_code both" >>"$summary"
  else
    echo "== $name: DIFFERENT (exit $plain_code vs $traced_code)" >>"$summary"
  fi
}

check leaky $root/build/examples/leaky
plain_vs_traced leaky-output $root/build/examples/leaky
check leak_paths $root/build/examples/leak_paths
for path in runtime cupy jax expandable; do check "driver_paths $path" $root/build/tests/programs/driver_paths $path; done
check alloc_counts $root/build/tests/programs/alloc_counts 1000
check thread_stress $root/build/tests/programs/thread_stress 8 10000
check exit_code $root/build/tests/programs/exit_code 7
check oom $root/build/tests/programs/oom 1099511627776
export PYTHONUNBUFFERED=1
PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True check "torch expandable_segments" python3 $root/examples/python/torch_train.py 20
PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync check "torch cudaMallocAsync" python3 $root/examples/python/torch_train.py 20
check "torch default caching allocator" python3 $root/examples/python/torch_train.py 20
check "torch OOM (1 TiB request)" python3 -c 'import torch
try:
    torch.empty(1 << 40, dtype=torch.uint8, device="cuda")
except torch.OutOfMemoryError:
    print("torch_oom: caught OutOfMemoryError")
x = torch.ones(1 << 20, device="cuda"); torch.cuda.synchronize(); print("torch_oom: recovered, allocated after the failure")'
check cupy python3 -c 'import cupy as cp; a = cp.ones((1024, 1024), dtype=cp.float32); b = a @ a; print("cupy:", float(b.sum()))'
XLA_PYTHON_CLIENT_PREALLOCATE=false check jax python3 -c 'import jax, jax.numpy as jnp; a = jnp.ones((1024, 1024)); print("jax:", float((a @ a).sum()), jax.devices())'
rm -rf "$work"
cat "$summary"
