#!/usr/bin/env bash
# scripts/test-pythons.sh — runs the Python-frames and Python-injection integration tests
# (tests/integration/test_python_frames.c, test_python_injection.c) with every CPython given, or
# with /work/pythons/3.{9..13}/bin/python3.X where those exist (interpreters built from source; CI
# has only the machine's python3, which `./scripts/test.sh` uses). The line-table decoder's fixtures
# for each version (tests/unit/python_lines/cpython-3.X.txt) come from
# tests/unit/python_lines/make_fixture.py run with those interpreters.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
interpreters=("$@")
if ((${#interpreters[@]} == 0)); then
    for minor in 9 10 11 12 13; do
        candidate=/work/pythons/3.$minor/bin/python3.$minor
        [[ -x $candidate ]] && interpreters+=("$candidate")
    done
fi
((${#interpreters[@]} > 0)) || { echo "test-pythons: no interpreter given or found" >&2; exit 2; }
[[ -f build/build.ninja ]] || ./scripts/build.sh
ninja -C build >/dev/null
status=0
for interpreter in "${interpreters[@]}"; do
    version=$("$interpreter" -c 'import sys; print(sys.version.split()[0])')
    for suite in python_frames python_injection; do
        if VT_TEST_PYTHON=$interpreter meson test -C build "$suite" >/dev/null 2>&1; then
            echo "PASS $suite with CPython $version ($interpreter)"
        else
            echo "FAIL $suite with CPython $version ($interpreter): build/meson-logs/testlog.txt"
            status=1
            break
        fi
    done
done
exit $status
