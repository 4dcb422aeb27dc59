#!/usr/bin/env bash
# scripts/gpu-frameworks.sh — issue 12 on a GPU machine: CuPy and JAX allocations named by their
# Python line (examples/python/cupy_jax_sites.py), compared with CuPy's pool figures;
# `vramtrace export --memory-viz` of the CuPy trace read by PyTorch's own torch.cuda._memory_viz;
# and the overhead side by side on the transformer step of examples/python/torch_step_time.py:
# plain, under `vramtrace run` (PyTorch integration, stacks and trace on), PyTorch's own history
# (stacks="python"), and compute-sanitizer --leak-check full (caching off, as it requires), plus the
# exit delay vramtrace adds. Needs a build carried from here (scripts/build.sh, scripts/gpu-bundle.sh).
# Prints PASS/FAIL lines and the measurements; files under OUT (default ./gpu-frameworks-out).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=${OUT:-$root/gpu-frameworks-out}
mkdir -p "$out"
cli=$root/build/src/cli/vramtrace
sites=$root/examples/python/cupy_jax_sites.py
step=$root/examples/python/torch_step_time.py
export PYTHONDONTWRITEBYTECODE=1
source scripts/gpu-checks.sh # check, prefer_real_cudart, status
line_of() { grep -n "# site: $1\$" "$sites" | cut -d: -f1; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c 'import torch, cupy, jax, sys; print("torch", torch.__version__, "cupy", cupy.__version__, "jax", jax.__version__, "python", sys.version.split()[0])' 2>&1 | tee "$out/versions.txt"

# CuPy: the kept array's line, the pool's totals against the trace
(cd "$out" && "$cli" run -o cupy.trace python3 "$sites" cupy >cupy.out 2>cupy.err)
check "cupy: the kept array's line is named" grep -q "cupy_job .*cupy_jax_sites.py:$(line_of 'cupy kept') \[python\]" "$out/cupy.err"
pool_total=$(sed -n 's/.*total \([0-9]*\).*/\1/p' "$out/cupy.out")
leaked=$(grep -o 'SUMMARY: vramtrace: [0-9]*' "$out/cupy.err" | grep -o '[0-9]*$')
echo "cupy: pool total_bytes() $pool_total; vramtrace's leaked (the pool's segments, held to exit) $leaked"
check "cupy: leaked bytes = the pool's total_bytes()" test "$pool_total" = "$leaked"

# JAX without preallocation: its allocations named by line
(cd "$out" && XLA_PYTHON_CLIENT_PREALLOCATE=false "$cli" run -o jax.trace python3 "$sites" jax >jax.out 2>jax.err)
check "jax: exit report written" grep -q "SUMMARY: vramtrace:" "$out/jax.err"
check "jax: the kept array's line appears in a stack" grep -q "jax_job .*cupy_jax_sites.py:$(line_of 'jax kept') \[python\]" "$out/jax.err"

# export --memory-viz of the CuPy trace, read by PyTorch's own tools
"$cli" export --memory-viz "$out/cupy.trace" -o "$out/cupy.pickle" 2>"$out/export.err"
python3 - "$out/cupy.pickle" >"$out/memory_viz.txt" 2>&1 <<'PY'
import pickle, sys
from torch.cuda import _memory_viz
snapshot = pickle.load(open(sys.argv[1], "rb"))
html = _memory_viz.trace_plot(snapshot)
print("trace_plot html bytes", len(html))
print("segments", len(snapshot["segments"]), "entries", sum(len(t) for t in snapshot["device_traces"]))
print(_memory_viz.segsum(snapshot)[:400])
PY
cat "$out/memory_viz.txt" | head -8
check "export: torch.cuda._memory_viz.trace_plot reads it" grep -q "trace_plot html bytes [1-9]" "$out/memory_viz.txt"

# Overhead on the transformer step (ms per step, 50 steps after 10 warm-up), alternating, 3 rounds
ms() { sed -n 's/torch_step_time: \([0-9.]*\) ms.*/\1/p'; }
for round in 1 2 3; do
    plain=$(python3 "$step" 50 2>/dev/null | ms)
    traced=$(cd "$out" && "$cli" run -q --report=none -o step$round.trace python3 "$step" 50 2>/dev/null | ms)
    history=$(TORCH_STEP_HISTORY=1 python3 "$step" 50 2>/dev/null | ms)
    echo "round $round: plain $plain ms, vramtrace $traced ms, PyTorch history $history ms"
done
# compute-sanitizer needs caching off; 5 timed steps (it is slow), against plain with caching off
nocache_plain=$(PYTORCH_NO_CUDA_MEMORY_CACHING=1 python3 "$step" 5 2>/dev/null | ms)
sanitized=$(PYTORCH_NO_CUDA_MEMORY_CACHING=1 timeout 200 compute-sanitizer --leak-check full --print-limit 1 python3 "$step" 5 2>/dev/null | ms)
echo "caching off: plain $nocache_plain ms, compute-sanitizer --leak-check full ${sanitized:-timeout} ms"
# exit delay: the whole run's wall time, plain and traced (20 steps)
wall() { python3 -c 'import subprocess, sys, time; t = time.time(); subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); print(f"{time.time() - t:.2f}")' "$@"; }
for round in 1 2; do
    echo "wall round $round: plain $(wall python3 "$step" 20) s, vramtrace $(cd "$out" && wall "$cli" run -q --report=none -o wall$round.trace python3 "$step" 20) s"
done
find "$out" \( -name '*.trace' -o -name '*.pickle' \) -delete
exit $status
