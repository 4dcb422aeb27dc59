#!/usr/bin/env bash
# scripts/fuzz.sh — builds the fuzz harnesses of tests/fuzz with clang's libFuzzer (plus
# AddressSanitizer and UndefinedBehaviorSanitizer) into build-fuzz/, then runs each for SECONDS
# (default 60) over its corpus. Usage:
#   scripts/fuzz.sh [SECONDS] [HARNESS...]      harnesses: trace index commands options symbols (default all)
#   scripts/fuzz.sh --ci [SECONDS]              CI: each harness SECONDS (default 20) from the seed corpus
#                                               only, nothing kept; skips, saying so, when clang is missing
# New inputs that add coverage go to build-fuzz/corpus/HARNESS (seeded from tests/fuzz/corpus/HARNESS);
# a crash, hang (over FUZZ_TIMEOUT seconds on one input, default 10; raise it on a loaded machine,
# where a starved process can pass 10 s on a 0.2 s input) or blow-up (over 2 GiB) stops that
# harness, its input is left in build-fuzz/findings/HARNESS/ and the script exits 1. Each harness's last statistics line
# (executions, coverage, corpus) is printed at the end. Needs clang-14 and libclang-rt-14-dev
# (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ci=false
if [[ "${1:-}" == "--ci" ]]; then
    ci=true
    shift
fi
seconds=${1:-$($ci && echo 20 || echo 60)}
timeout=${FUZZ_TIMEOUT:-10}
[[ $# -gt 0 ]] && shift
harnesses=("$@")
((${#harnesses[@]})) || harnesses=(trace index commands options symbols)

clang=""
for candidate in clang-14 clang; do
    if command -v "$candidate" >/dev/null 2>&1; then
        clang=$candidate
        break
    fi
done
fuzzer_library=$([[ -n "$clang" ]] && "$clang" -print-file-name=libclang_rt.fuzzer-x86_64.a || true)
if [[ -z "$clang" || ! -f "$fuzzer_library" ]]; then
    if [[ -z "$clang" ]]; then
        echo "==> fuzzing SKIPPED: clang not found (install clang-14 libclang-rt-14-dev)" >&2
    else
        echo "==> fuzzing SKIPPED: libFuzzer not found for $clang (install libclang-rt-14-dev)" >&2
    fi
    # Not a pass: the regression inputs still run in the normal suite (meson test --suite fuzz_regressions).
    exit 0
fi

out=build-fuzz
mkdir -p "$out/objects"
cuda_include=${CUDA_INCLUDE:-/usr/local/cuda/include}
cflags=(-g -O1 -std=gnu11 -fno-omit-frame-pointer -D_FILE_OFFSET_BITS=64 -DHASH_NONFATAL_OOM=1
        '-DVT_VERSION="fuzz"' -Iinclude -Isrc -isystem "$cuda_include" -Wall -Wextra -Wno-unused-parameter
        -fsanitize=address,undefined -fno-sanitize-recover=undefined)
# The CLI's sources name where the build tree keeps the shim; the harnesses never run programs.
cflags+=('-DVT_BUILD_CLI_RELATIVE="src/cli/vramtrace"' '-DVT_BUILD_SHIM_RELATIVE="src/shim/libvramtrace.so"'
         '-DVT_BUILD_SIM_RELATIVE="src/simulated_cuda"' '-DVT_INSTALL_SHIM_PATH="/usr/local/lib/libvramtrace.so"'
         '-DVT_INSTALL_SIM_DIR="/usr/local/lib/vramtrace/simulated_cuda"' '-DVT_INSTALL_BINDIR="bin"'
         '-DVT_INSTALL_LIBDIR="lib"')
libraries=(-lzstd -ldw -lelf -ldl -lm -lpthread -lunwind)

library_sources=(src/common/*.c src/trace/*.c
                 src/cli/analysis_common.c src/cli/cmd_diff.c src/cli/cmd_export.c src/cli/cmd_flame.c
                 src/cli/cmd_report.c src/cli/cmd_timeline.c src/cli/cmd_top.c src/cli/pickle_writer.c
                 src/cli/report_json.c src/cli/report_text.c
                 src/shim/config.c src/shim/output_file.c src/shim/shim_log.c)

echo "==> building the fuzz harnesses with $clang in $out/"
objects=()
for source in "${library_sources[@]}"; do
    object="$out/objects/$(echo "$source" | tr / _).o"
    if [[ ! -f "$object" || "$source" -nt "$object" || -n "$(find include src -name '*.h' -newer "$object" -print -quit)" ]]; then
        "$clang" "${cflags[@]}" -fsanitize=fuzzer-no-link -c "$source" -o "$object"
    fi
    objects+=("$object")
done
for harness in "${harnesses[@]}"; do
    "$clang" "${cflags[@]}" -fsanitize=fuzzer -Itests/fuzz "tests/fuzz/fuzz_$harness.c" "${objects[@]}" \
        "${libraries[@]}" -o "$out/fuzz_$harness"
done

status=0
summary=()
for harness in "${harnesses[@]}"; do
    corpus="$out/corpus/$harness"
    findings="$out/findings/$harness"
    mkdir -p "$corpus" "$findings"
    if $ci; then
        corpus=$(mktemp -d)
    fi
    log="$out/fuzz_$harness.log"
    echo "==> fuzzing $harness for ${seconds}s (log: $log)"
    # -close_fd_mask=3: the commands' own output is not the point (libFuzzer keeps its reports).
    # detect_leaks=0 under --ci only: a leak found by a long run is a finding, in CI it would be
    # a slow one to reproduce.
    if ! ASAN_OPTIONS="detect_leaks=$($ci && echo 0 || echo 1):allocator_may_return_null=1" \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$out/fuzz_$harness" "$corpus" "tests/fuzz/corpus/$harness" "tests/fuzz/regressions/$harness" \
        -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=1048576 \
        -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$findings/" >"$log" 2>&1; then
        echo "==> $harness: FOUND a crash, hang or blow-up; input in $findings/, details in $log" >&2
        grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -20 >&2 || true
        status=1
    fi
    executions=$(grep -Eo "stat::number_of_executed_units: *[0-9]+" "$log" | grep -Eo "[0-9]+$" || echo "?")
    last=$(grep -E "^#[0-9]+" "$log" | tail -1 || true)
    summary+=("$harness: ${seconds}s, $executions executions; last: ${last:-none}")
    if $ci; then
        rm -rf "$corpus"
    fi
done
echo "==> fuzzing summary"
printf '    %s\n' "${summary[@]}"
exit $status
