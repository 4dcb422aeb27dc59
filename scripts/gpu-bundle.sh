#!/usr/bin/env bash
# Makes build/ self-contained for a machine that lacks this project's runtime libraries (the GPU
# machines run Ubuntu 24.04 without libunwind or libdw): copies libunwind (needed) and libdw +
# libelf (for function names and file:line in reports; dlopen()ed) next to libvramtrace.so, where
# the shim's RUNPATH ($ORIGIN) and the CLI's ($ORIGIN/../shim) find them. Run after scripts/build.sh, before carrying build/.
# libzstd is not copied: those machines have it, and an older copy loaded first could break a
# program that needs the newer one.
set -euo pipefail
cd "$(dirname "$0")/.."
shim_dir=build/src/shim
[ -f "$shim_dir/libvramtrace.so" ] || { echo "gpu-bundle: build first (./scripts/build.sh)" >&2; exit 1; }
for soname in libunwind.so.8 libdw.so.1 libelf.so.1; do
  library=$(ldconfig -p | awk -v name="$soname" '$1 == name && /x86-64/ {print $NF; exit}')
  [ -n "$library" ] || { echo "gpu-bundle: $soname not found (./scripts/install-deps.sh installs it)" >&2; exit 1; }
  cp -L "$library" "$shim_dir/$soname"
  echo "gpu-bundle: copied $library into $shim_dir"
done
