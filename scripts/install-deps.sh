#!/usr/bin/env bash
# scripts/install-deps.sh — installs the Debian packages vramtrace needs to build and test, only
# those missing, and checks that the CUDA toolkit headers are present (they are not in Debian's
# main archive, so they are not installed from here).
set -euo pipefail

# chromium: headless, for the test of `vramtrace html` in a browser (tests/commands/test_html.py);
# clang-14 and libclang-rt-14-dev: the libFuzzer harnesses (scripts/fuzz.sh); gcc's own ASan, UBSan and
# TSan runtimes (libasan8, libubsan1, libtsan2) come with gcc.
packages=(meson ninja-build pkg-config gcc g++ libcriterion-dev libunwind-dev uthash-dev libdw-dev libelf-dev libzstd-dev
          chromium clang-14 libclang-rt-14-dev)

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} > 0)); then
    echo "==> installing ${missing[*]}"
    as_root=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "error: need root (or sudo) to install: ${missing[*]}" >&2
            exit 1
        fi
        as_root=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cuda_include=${CUDA_INCLUDE:-/usr/local/cuda/include}
if [[ ! -f "$cuda_include/cuda.h" || ! -f "$cuda_include/cuda_runtime_api.h" ]]; then
    cat >&2 <<MESSAGE
error: CUDA headers not found in $cuda_include (cuda.h, cuda_runtime_api.h).
vramtrace compiles against the CUDA toolkit's headers; they are not in Debian's main archive.
Install the CUDA toolkit (https://developer.nvidia.com/cuda-downloads; the headers are enough),
or set CUDA_INCLUDE to a directory that holds them, e.g.
    CUDA_INCLUDE=/opt/cuda/include $0
MESSAGE
    exit 1
fi
