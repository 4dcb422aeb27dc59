#!/usr/bin/env bash
# scripts/test.sh — builds vramtrace, then runs the whole test suite. Extra arguments go to
# `meson test` (e.g. a test name, or --suite NAME). Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/build.sh
echo "==> testing"
meson test -C build --print-errorlogs "$@"
