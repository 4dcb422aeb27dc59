#!/usr/bin/env bash
# tests/install/test_install.sh BUILD_DIR EXAMPLE — `meson install` into a temporary directory
# (--destdir: the installed tree lies elsewhere than its prefix, as after a move or a copy), then
# the installed vramtrace runs EXAMPLE on the installed simulated device under the installed shim,
# with PyTorch's bootstrap installed beside it; the exit report and `vramtrace report` of the trace
# must say what the example leaks. Registered in tests/meson.build (suite install).
set -euo pipefail
build=$1 example=$2
destination=$(mktemp -d)
trap 'rm -rf "$destination"' EXIT
meson install -C "$build" --no-rebuild --quiet --destdir "$destination" >"$destination/install.log" 2>&1 ||
    { cat "$destination/install.log"; exit 1; }
cli=$(find "$destination" -path '*/bin/vramtrace' -type f)
[ -x "$cli" ] || { echo "FAIL: no bin/vramtrace installed"; exit 1; }
for installed in libvramtrace.so vramtrace/simulated_cuda/libcuda.so.1 vramtrace/simulated_cuda/libcudart.so.13 \
                 vramtrace-python/sitecustomize.py vramtrace-python/vramtrace_bootstrap.py; do
    [ -n "$(find "$destination" -path "*/$installed")" ] || { echo "FAIL: $installed not installed"; exit 1; }
done
cd "$destination"
# The build tree's own paths must play no part: a vramtrace from the build would find them.
env -u VRAMTRACE_LIBRARY "$cli" run --simulate -o installed.trace "$example" >run.out 2>run.err ||
    { cat run.err; echo "FAIL: the installed vramtrace run --simulate failed"; exit 1; }
grep -q "SUMMARY: vramtrace: 5242880 byte(s) leaked in 4 allocation(s)." run.err ||
    { cat run.err; echo "FAIL: no SUMMARY from the installed shim"; exit 1; }
"$cli" report installed.trace >report.txt 2>&1 || { cat report.txt; exit 1; }
grep -q "SUMMARY: vramtrace: 5242880 byte(s) leaked in 4 allocation(s)." report.txt ||
    { cat report.txt; echo "FAIL: vramtrace report of the installed run"; exit 1; }
echo "PASS: installed into $destination; vramtrace run --simulate and report work from there"
