#!/usr/bin/env bash
# scripts/gpu-limit.sh — issue 12 on a GPU machine: `--limit 4G` on a PyTorch job that fits in the
# card (examples/python/torch_grow.py holds 12 x 512 MiB): without the limit it holds them all; with
# it PyTorch raises torch.OutOfMemoryError (after freeing its cache and retrying) and the OOM report
# says the limit was simulated and names the line; the exit report's tensors match PyTorch's own
# memory_allocated(); pinned host memory is reported with its line; and `vramtrace html` of the run
# (brought back, with the trace, under OUT for a browser check here). Needs a carried build.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=${OUT:-$root/gpu-limit-out}
mkdir -p "$out"
cli=$root/build/src/cli/vramtrace
job=$root/examples/python/torch_grow.py
export PYTHONDONTWRITEBYTECODE=1
source scripts/gpu-checks.sh # check, prefer_real_cudart, status
line_of() { grep -n "# site: $1\$" "$job" | cut -d: -f1; }
(cd "$out" && "$cli" run -o free.trace python3 "$job" >free.out 2>free.err)
check "no limit: all 12 tensors held" grep -q "holding 12 tensors" "$out/free.out"
(cd "$out" && "$cli" run --limit 4G -o limited.trace python3 "$job" >limited.out 2>limited.err)
cat "$out/limited.out"
check "--limit 4G: torch.OutOfMemoryError raised" grep -q "out of memory at tensor" "$out/limited.out"
check "--limit 4G: the OOM report says the limit was simulated" grep -q "simulated limit of 4.00 GiB" "$out/limited.oom.txt"
check "--limit 4G: the OOM report names the line" grep -q "torch_grow.py:$(line_of grow)" "$out/limited.oom.txt"
allocated=$(sed -n 's/.*allocated \([0-9]*\) .*/\1/p' "$out/limited.out")
echo "PyTorch's memory_allocated() at exit: $allocated"
grep "PyTorch's caching allocator on device 0 at exit" "$out/limited.err"
check "--limit 4G: the exit report's tensors = memory_allocated()" grep -q "Tensors on device 0: $allocated byte(s)" "$out/limited.err"
check "pinned memory reported with its line" grep -q "torch_grow.py:$(line_of pinned)" "$out/free.err"
grep -A2 "^Host-pinned memory" "$out/free.err" | head -3
"$cli" html "$out/limited.trace" -o "$out/limited.html" 2>"$out/html.err"
check "html of the PyTorch run written" test -s "$out/limited.html"
rm -f "$out"/*.pickle "$out/free.trace"
exit $status
