#!/usr/bin/env bash
# tests/sim/test_no_driver_hint.sh SHIM — a program linked against NVIDIA's own libcudart.so.13, run
# under the shim on a machine without an NVIDIA driver: its cudaMalloc fails
# (cudaErrorInsufficientDriver) and the shim says, once, that there is no usable driver or GPU and
# how to run the program on the simulated device; the program's exit status is its own. Skipped
# (77) where the toolkit's runtime is not installed or a driver is (libcuda.so.1 loads).
set -euo pipefail
shim=$1
toolkit=${CUDA_HOME:-/usr/local/cuda}
[ -e "$toolkit/lib64/libcudart.so" ] || { echo "SKIP: no $toolkit/lib64/libcudart.so"; exit 77; }
if python3 -c 'import ctypes; ctypes.CDLL("libcuda.so.1")' 2>/dev/null; then
    echo "SKIP: this machine has a CUDA driver (libcuda.so.1 loads)"; exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/program.c" <<'C'
#include <cuda_runtime.h>
#include <stdio.h>
int main(void) { void *p; int r = cudaMalloc(&p, 1024); r = r ? cudaMalloc(&p, 1024) : r; printf("cudaMalloc=%d\n", r); return r ? 3 : 0; }
C
cc -I"$toolkit/include" "$work/program.c" -o "$work/program" -L"$toolkit/lib64" -lcudart
set +e
LD_PRELOAD=$shim VRAMTRACE_OUTPUT=none VRAMTRACE_REPORT=none "$work/program" >"$work/out" 2>"$work/err"
status=$?
set -e
[ "$status" = 3 ] || { cat "$work/out" "$work/err"; echo "FAIL: exit status $status, not the program's 3"; exit 1; }
[ "$(grep -c 'no usable NVIDIA driver or GPU' "$work/err")" = 1 ] || { cat "$work/err"; echo "FAIL: not said once"; exit 1; }
grep -q 'vramtrace run --simulate' "$work/err" || { cat "$work/err"; echo "FAIL: no --simulate hint"; exit 1; }
echo "PASS: the missing driver is said once, with the --simulate hint"
