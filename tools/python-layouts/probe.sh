#!/usr/bin/env bash
# tools/python-layouts/probe.sh — prints the CPython field offsets that src/shim/python_frames.c's
# table holds, from CPython source trees (each already ./configure'd, for pyconfig.h), by compiling
# probe.c against each tree's own internal headers. Used to make and check that table; not part of
# the build or the tests (CI has no CPython sources).
#     tools/python-layouts/probe.sh ~/src/Python-3.12.6 ~/src/Python-3.13.15 ...
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for tree in "$@"; do
    (cd "$tree" && cc -O0 -w -DPy_BUILD_CORE -I. -IInclude -IInclude/internal -IInclude/internal/mimalloc \
        -o "$work/probe" "$here/probe.c")
    echo "== $tree"
    "$work/probe"
done
