#!/usr/bin/env bash
# scripts/test.sh — builds vramtrace, then runs the whole test suite. Extra arguments go to
# `meson test` (e.g. a test name, or --suite NAME). Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/build.sh
echo "==> testing"
meson test -C build --print-errorlogs "$@"

# The short sanitizer and fuzzing steps (docs/reliability.md): ASan+UBSan on the unit and
# fuzz-regression suites, TSan on a traced thread_stress, then four
# libFuzzer harnesses for 10 s each (skipped, saying so, without clang). VRAMTRACE_SKIP_SANITIZERS=1 skips
# both (e.g. when iterating on one test). The full runs: scripts/test-sanitizers.sh, scripts/fuzz.sh.
if [[ $# -eq 0 && -z "${VRAMTRACE_SKIP_SANITIZERS:-}" ]]; then
    echo "==> sanitizers (short)"
    ./scripts/test-sanitizers.sh ci
    echo "==> fuzzing (short)"
    ./scripts/fuzz.sh --ci 10 trace index commands options
fi
