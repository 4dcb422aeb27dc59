#!/usr/bin/env bash
# scripts/build.sh — installs missing dependencies, configures build/ (reconfiguring it when it
# is already configured) and builds everything. CUDA_INCLUDE, when set, points meson at the
# CUDA headers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "==> installing dependencies"
./scripts/install-deps.sh

setup_options=()
if [[ -n "${CUDA_INCLUDE:-}" ]]; then
    setup_options+=("-Dcuda-include=$CUDA_INCLUDE")
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

if [[ -f build/build.ninja ]]; then
    echo "==> configuring build/ (reconfigure)"
    setup=(meson setup --reconfigure build)
else
    echo "==> configuring build/"
    setup=(meson setup build)
fi
if ! "${setup[@]}" ${setup_options[@]+"${setup_options[@]}"} >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi

echo "==> building"
if ! ninja -C build >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
echo "==> built build/src/cli/vramtrace and build/src/shim/libvramtrace.so"
