#!/usr/bin/env bash
# scripts/test-sanitizers.sh — the test suite under the sanitizers (docs/reliability.md
# "Sanitizers"), each in a build directory of its own:
#   asan  build-asan/, AddressSanitizer + UndefinedBehaviorSanitizer: the whole suite
#   tsan  build-tsan/, ThreadSanitizer: the programs where threads meet, run under the TSan-built
#         CLI, shim and simulated device (thread_stress, mixed_stress, a live dump from another
#         thread, a multi-device leak report), and `vramtrace report` of their traces (the loading's
#         read-ahead thread), again through the index beside the trace, and `flame` and `top --once`
#         of a trace grown past its index (the load reads on, reading ahead). Not through Criterion: Criterion cannot start
#         under TSan ("Could not initialize inheritable arena", Snaipe/Criterion#274)
#   all   both (the default)
#   ci    the short step of scripts/test.sh: ASan+UBSan on the unit and fuzz-regression suites
#         and the leaky integration suite (the shim preloaded), then TSan on thread_stress; only the
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

# tsan_run NAME [VRAMTRACE_*=...] -- PROGRAM ARGS...: one traced run under the TSan-built tools; fails
# on a non-zero exit or any ThreadSanitizer report.
# tsan_grown_trace DIRECTORY: flame of DIRECTORY/run.trace's first half (writing its index), then
# of the whole grown back from it.
tsan_grown_trace() {
    local directory=$1 half
    half=$(($(stat -c %s "$directory/run.trace") / 2))
    head -c "$half" "$directory/run.trace" >"$directory/grown.trace"
    timeout 300 build-tsan/src/cli/vramtrace flame "$directory/grown.trace" >/dev/null 2>>"$directory/stderr"
    tail -c +$((half + 1)) "$directory/run.trace" >>"$directory/grown.trace"
    cp "$directory/grown.trace.vtindex" "$directory/half.vtindex"
    timeout 300 build-tsan/src/cli/vramtrace flame --peak "$directory/grown.trace" >/dev/null 2>>"$directory/stderr"
    [[ $? -le 1 ]] || return 1 # 1: nothing live at the peak's device is no failure here
    # top's follower from the half's index, reading on (ahead) past it, then updating
    cp "$directory/half.vtindex" "$directory/grown.trace.vtindex"
    timeout 300 build-tsan/src/cli/vramtrace top --once "$directory/grown.trace" >/dev/null 2>>"$directory/stderr"
}

tsan_run() {
    local name=$1 directory
    shift
    directory=$(mktemp -d)
    echo "==> tsan: $name"
    local settings=()
    while [[ "$1" != "--" ]]; do
        settings+=("$1")
        shift
    done
    shift
    # then `vramtrace report` of its trace: the CLI's loading reads ahead in a thread of its own; and
    # through the index beside the trace: report again (its tables), and flame of the trace's first
    # half indexed then grown back to the whole (the load reads on past the index, reading ahead)
    if ! (cd "$directory" && env ${settings[@]+"${settings[@]}"} timeout 300 "$OLDPWD/build-tsan/src/cli/vramtrace" run \
              --simulate -o "$directory/run.trace" -- "$@" >"$directory/stdout" 2>"$directory/stderr") ||
        ! timeout 300 build-tsan/src/cli/vramtrace report "$directory/run.trace" >"$directory/report" 2>>"$directory/stderr" ||
        ! timeout 300 build-tsan/src/cli/vramtrace report "$directory/run.trace" >"$directory/report" 2>>"$directory/stderr" ||
        ! tsan_grown_trace "$directory" || grep -q "ThreadSanitizer" "$directory/stderr"; then
        echo "FAIL: $name" >&2
        cat "$directory/stderr" >&2
        rm -rf "$directory"
        return 1
    fi
    rm -rf "$directory"
}

# The shim's dump thread against allocating threads: hold_and_wait holds memory while
# `vramtrace dump` asks it for a live snapshot twice.
tsan_live_dump() {
    local directory pid status=0
    directory=$(mktemp -d)
    echo "==> tsan: live dump"
    (cd "$directory" && exec timeout 120 "$OLDPWD/build-tsan/src/cli/vramtrace" run --simulate -o "$directory/run.trace" \
         -- "$OLDPWD/build-tsan/tests/programs/hold_and_wait" 6 >"$directory/stdout" 2>"$directory/stderr") &
    pid=$!
    for _ in $(seq 100); do
        grep -q holding "$directory/stdout" 2>/dev/null && break
        sleep 0.1
    done
    local child
    child=$(pgrep -P "$(pgrep -P $pid | head -1)" | head -1 || true)
    for _ in 1 2; do
        build-tsan/src/cli/vramtrace dump "${child:-0}" --wait 20 >/dev/null 2>>"$directory/dump-stderr" || status=1
    done
    wait $pid || status=1
    if ((status)) || grep -q ThreadSanitizer "$directory/stderr"; then
        echo "FAIL: live dump" >&2
        cat "$directory/stderr" "$directory/dump-stderr" >&2 2>/dev/null
        status=1
    fi
    rm -rf "$directory"
    return $status
}

tsan_all() {
    local status=0 programs=$PWD/build-tsan/tests/programs
    tsan_run "thread_stress 8 x 2000" -- "$programs/thread_stress" 8 2000 || status=1
    tsan_run "mixed_stress 8 x 100" -- "$programs/mixed_stress" 8 100 || status=1
    tsan_run "leaky on 2 devices" VRAMTRACE_SIMULATE_DEVICES=2 -- "$PWD/build-tsan/examples/leaky" || status=1
    tsan_live_dump || status=1
    return $status
}

status=0
case "$mode" in
asan)
    configure build-asan address,undefined
    build build-asan
    run_tests build-asan --no-rebuild "$@" || status=1
    ;;
tsan)
    configure build-tsan thread
    build build-tsan src/cli/vramtrace src/shim/libvramtrace.so src/simulated_cuda/libcuda.so.1 \
        src/simulated_cuda/libcudart.so.13 tests/programs/thread_stress tests/programs/mixed_stress \
        tests/programs/hold_and_wait examples/leaky
    tsan_all || status=1
    ;;
all)
    "$0" asan "$@" || status=1
    "$0" tsan "$@" || status=1
    ;;
ci)
    configure build-asan address,undefined
    # (the unit and fuzz-regression suites only: an integration suite would build every test
    # program under ASan, minutes on a 2-core CI machine; `asan` runs them all)
    build build-asan $(targets_for build-asan --suite unit --suite fuzz_regressions)
    run_tests build-asan --no-rebuild --suite unit --suite fuzz_regressions || status=1
    configure build-tsan thread
    build build-tsan src/cli/vramtrace src/shim/libvramtrace.so src/simulated_cuda/libcuda.so.1 \
        src/simulated_cuda/libcudart.so.13 tests/programs/thread_stress
    tsan_run "thread_stress 8 x 2000" -- "$PWD/build-tsan/tests/programs/thread_stress" 8 2000 || status=1
    ;;
*)
    echo "usage: $0 [asan|tsan|all|ci] [meson test arguments]" >&2
    exit 2
    ;;
esac
exit $status
