#!/usr/bin/env bash
# Measures what vramtrace costs a real training step on the GPU: the transformer step of
# examples/python/torch_step_time.py, plain and under `vramtrace run` (32-frame stacks, and no
# stacks), with PyTorch's caching allocator and with backend:cudaMallocAsync (an event per tensor).
# Runs each case ROUNDS times, alternating, and prints every measurement. Needs a build carried from
# elsewhere (scripts/build.sh, scripts/gpu-bundle.sh). Figures go to docs/performance.md.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${ROUNDS:-3}
vramtrace=$root/build/src/cli/vramtrace
work=$(mktemp -d)
cd "$work"
export PYTHONUNBUFFERED=1
step() { python3 "$root/examples/python/torch_step_time.py" 50 2>/dev/null | sed -n 's/torch_step_time: \([0-9.]*\) ms.*/\1/p'; }
for backend in native cudaMallocAsync; do
  if [ $backend = native ]; then unset PYTORCH_CUDA_ALLOC_CONF; else export PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync; fi
  for round in $(seq "$rounds"); do
    plain=$(step)
    traced=$("$vramtrace" run -q --report=none -o trace.vt -- python3 "$root/examples/python/torch_step_time.py" 50 2>/dev/null | sed -n 's/torch_step_time: \([0-9.]*\) ms.*/\1/p')
    trace_bytes=$(stat -c %s trace.vt 2>/dev/null || echo 0)
    nostack=$("$vramtrace" run -q --report=none --output=none --stack-depth 0 -- python3 "$root/examples/python/torch_step_time.py" 50 2>/dev/null | sed -n 's/torch_step_time: \([0-9.]*\) ms.*/\1/p')
    echo "backend=$backend round=$round plain_ms=$plain traced_ms=$traced (trace $trace_bytes bytes) traced_no_stacks_no_trace_ms=$nostack"
  done
done
rm -rf "$work"
