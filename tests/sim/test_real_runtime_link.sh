#!/usr/bin/env bash
# tests/sim/test_real_runtime_link.sh SIM_DIR — a program linked against NVIDIA's own
# libcudart.so.13 (the toolkit's, /usr/local/cuda/lib64) runs on the simulated device without the
# loader's "no version information available": the stand-in exports the runtime under the same
# version node. Skipped (77) where the toolkit's runtime library is not installed.
set -euo pipefail
sim_dir=$1
toolkit=${CUDA_HOME:-/usr/local/cuda}
[ -e "$toolkit/lib64/libcudart.so" ] || { echo "SKIP: no $toolkit/lib64/libcudart.so"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/program.c" <<'C'
#include <cuda_runtime.h>
#include <stdio.h>
int main(void) { void *p; int r = cudaMalloc(&p, 1024); printf("cudaMalloc=%d\n", r); return r; }
C
cc -I"$toolkit/include" "$work/program.c" -o "$work/program" -L"$toolkit/lib64" -lcudart
objdump -T "$work/program" | grep -q '(libcudart.so.13) cudaMalloc' || { echo "FAIL: not linked against the versioned runtime"; exit 1; }
LD_LIBRARY_PATH=$sim_dir VRAMTRACE_SIMULATE=1G "$work/program" >"$work/out" 2>"$work/err"
grep -q "cudaMalloc=0" "$work/out" || { cat "$work/out" "$work/err"; echo "FAIL: the program did not run"; exit 1; }
if grep -q "no version information" "$work/err"; then cat "$work/err"; echo "FAIL: loader warning"; exit 1; fi
echo "PASS: linked against the toolkit's libcudart.so.13, ran on the simulated device without a loader warning"
