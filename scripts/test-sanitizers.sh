#!/usr/bin/env bash
# scripts/test-sanitizers.sh — the test suite under the sanitizers (docs/reliability.md
# "Sanitizers"), each in a build directory of its own:
#   asan  build-asan/, AddressSanitizer + UndefinedBehaviorSanitizer: the whole suite
#   tsan  build-tsan/, ThreadSanitizer: the suites where threads meet (shim_lock, the threaded
#         runtime and driver programs, live dumps, the torch injection, the fuzz regressions)
#   all   both (the default)
#   ci    the short step of scripts/test.sh: ASan+UBSan on the unit, trace and fuzz-regression
#         suites and the leaky integration suite, TSan on shim_lock; only the
#         targets those need are built
# Extra arguments go to `meson test` (e.g. a suite or test name). Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-all}
[[ $# -gt 0 ]] && shift

setup_options=(-Db_lundef=false -Dwerror=true)
if [[ -n "${CUDA_INCLUDE:-}" ]]; then
    setup_options+=("-Dcuda-include=$CUDA_INCLUDE")
fi

# Shared by every sanitized run:
# - detect_leaks=0: the test programs leak GPU memory *and* host memory on purpose (a leak is what
#   vramtrace reports), and every traced program would fail LeakSanitizer for them.
# - handle_segv=0 and friends: ASan's own fatal-signal handlers turn a death by signal into exit 1;
#   the tests check that a traced program still dies by its signal (docs/architecture.md, "Never
#   break the traced program").
# - verify_asan_link_order=0: an ASan-built shim is preloaded ahead of the program's own libraries
#   (vramtrace run puts it first in LD_PRELOAD); the programs under test are ASan-built too, so the
#   runtime is loaded and initialised before any instrumented code runs.
# - halt_on_error (UBSan): any report fails its test instead of scrolling by.
export ASAN_OPTIONS="detect_leaks=0:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0:handle_abort=0:verify_asan_link_order=0:detect_odr_violation=0:abort_on_error=0:exitcode=86"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87"
export TSAN_OPTIONS="halt_on_error=1:exitcode=88:second_deadlock_stack=1:report_signal_unsafe=0"

configure() { # DIRECTORY SANITIZERS
    local directory=$1 sanitizers=$2 log
    log=$(mktemp)
    if [[ ! -f "$directory/build.ninja" ]]; then
        echo "==> configuring $directory/ (-Db_sanitize=$sanitizers)"
        if ! meson setup "$directory" -Db_sanitize="$sanitizers" "${setup_options[@]}" >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            exit 1
        fi
    fi
    rm -f "$log"
}

build() { # DIRECTORY [TARGET...]
    local directory=$1 log
    shift
    log=$(mktemp)
    echo "==> building $directory/ ${*:-(everything)}"
    if ! ninja -C "$directory" "$@" >"$log" 2>&1; then
        tail -50 "$log" >&2
        rm -f "$log"
        exit 1
    fi
    rm -f "$log"
}

run_tests() { # DIRECTORY meson-test-arguments...
    local directory=$1
    shift
    echo "==> testing $directory/ $*"
    meson test -C "$directory" --print-errorlogs --timeout-multiplier 4 "$@"
}

# The files ninja must build for some tests (the tests' executables and what they depend on), so
# that the CI step builds only those: targets_for DIRECTORY [--suite NAME | TEST]...
targets_for() {
    local directory=$1
    shift
    (cd "$directory" && meson introspect --tests --targets) | python3 -c '
import json, os, sys
data = json.load(sys.stdin)
root = os.path.abspath(sys.argv[1])
suites = {a for i, a in enumerate(sys.argv[2:]) if i > 0 and sys.argv[2:][i - 1] == "--suite"}
names = {a for i, a in enumerate(sys.argv[2:]) if a != "--suite" and (i == 0 or sys.argv[2:][i - 1] != "--suite")}
by_id = {t["id"]: t for t in data["targets"]}
files = set()
for test in data["tests"]:
    if names & {test["name"]} or suites & {s.split(":")[-1] for s in test["suite"]}:
        ids = list(test["depends"])
        for id in ids:
            for name in by_id.get(id, {}).get("filename", []):
                files.add(os.path.relpath(name, root))
        files.add(os.path.relpath(test["cmd"][0], root))
print(" ".join(sorted(f for f in files if not f.startswith(".."))))
' "$directory" "$@"
}

tsan_suites=(--suite unit --suite fuzz_regressions)
tsan_tests=(runtime_paths driver_paths live_dump python_injection torch_bootstrap torch_layer)

status=0
case "$mode" in
asan)
    configure build-asan address,undefined
    build build-asan
    run_tests build-asan --no-rebuild "$@" || status=1
    ;;
tsan)
    configure build-tsan thread
    build build-tsan
    run_tests build-tsan --no-rebuild "${tsan_suites[@]}" "$@" || status=1
    run_tests build-tsan --no-rebuild "${tsan_tests[@]}" "$@" || status=1
    ;;
all)
    "$0" asan "$@" || status=1
    "$0" tsan "$@" || status=1
    ;;
ci)
    configure build-asan address,undefined
    build build-asan $(targets_for build-asan --suite unit --suite trace --suite fuzz_regressions leaky)
    run_tests build-asan --no-rebuild --suite unit --suite trace --suite fuzz_regressions leaky || status=1
    configure build-tsan thread
    build build-tsan $(targets_for build-tsan shim_lock)
    run_tests build-tsan --no-rebuild shim_lock || status=1
    ;;
*)
    echo "usage: $0 [asan|tsan|all|ci] [meson test arguments]" >&2
    exit 2
    ;;
esac
exit $status
