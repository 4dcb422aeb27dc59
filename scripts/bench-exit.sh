#!/usr/bin/env bash
# scripts/bench-exit.sh — owns the measurements of what the shim costs when a traced process ends
# (docs/performance.md, "What the exit costs"); scripts/bench.sh runs it last. On the simulated
# CUDA device:
#   - exit time: bench/exit_bench prints CLOCK_MONOTONIC at the end of main; the time from there to
#     the process's end (its pipe closed and the process reaped) is the exit: the shim's destructor
#     (exit report, trace's last flush) and the process's teardown. Best and median of several runs
#     per case; "shim adds" is the case's best minus the untraced best of the same program. Cases:
#     100 leaks, each from its own 32-frame stack through libvt_big.so (a library with 154,000
#     symbols, the size of a big C++ library's table), with the report showing all 100 groups
#     (VRAMTRACE_TOP=100) or the default 10, or written nowhere; and no leak at all.
#   - instructions (callgrind, when valgrind is installed): those of the shim's destructor on the
#     exiting thread (--toggle-collect=shim_unload), stable where wall times are not.
#   - exec'd children: a shell loop running examples/leaky BENCH_CHILDREN (100) times, under the
#     shim (the shell too, as under `vramtrace run`) and without it.
# Every traced case writes its trace and report file (the defaults) into a temporary directory,
# stderr goes to /dev/null.
#
# Knobs (environment): BENCH_EXIT_RUNS (runs per case, 15), BENCH_CHILDREN (100), BENCH_SHIM (the
# libvramtrace.so to measure, default the build's: to compare with another build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
runs=${BENCH_EXIT_RUNS:-15}
children=${BENCH_CHILDREN:-100}

if [[ ! -f build/build.ninja ]]; then
    ./scripts/build.sh
fi
ninja -C build >/dev/null
shim=${BENCH_SHIM:-$root/build/src/shim/libvramtrace.so}
sim_dir=$root/build/src/simulated_cuda
exit_bench=$root/build/bench/exit_bench
leaky=$root/build/examples/leaky

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

unset LD_PRELOAD
while read -r variable; do
    unset "$variable"
done < <(compgen -e | grep '^VRAMTRACE_' || true)
untraced=(LD_LIBRARY_PATH="$sim_dir")
defaults=(LD_LIBRARY_PATH="$sim_dir" LD_PRELOAD="$shim" VRAMTRACE_OUTPUT="$work/%p.trace"
    VRAMTRACE_REPORT="$work/%p.report.txt")

# "best median" exit milliseconds of `runs` runs of a command, given as NAME=value words (its whole
# environment, besides PATH) and then the command.
exit_times() {
    local count=$1
    shift
    python3 -c '
import subprocess, sys, time
runs = int(sys.argv[1])
words = sys.argv[2:]
environment = {}
while "=" in words[0]:
    name, value = words.pop(0).split("=", 1)
    environment[name] = value
times = []
for _ in range(runs):
    child = subprocess.Popen(words, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment)
    out = child.stdout.read()
    child.wait()
    ended = time.monotonic_ns()
    if child.returncode != 0:
        sys.exit("exit_bench failed: status %d" % child.returncode)
    times.append((ended - int(out.decode().split("end_ns=")[1])) / 1e6)
times.sort()
print("%.1f %.1f" % (times[0], times[len(times) // 2]))
' "$count" PATH="$PATH" "$@"
}

case_names=(leak100 leak10 quiet clean)
case_labels=("100 leaks, all 100 shown" "100 leaks, top 10 shown" "100 leaks, nothing written" "no leak")
case_env() { # name -> env_vars
    case $1 in
    leak100) env_vars=("${defaults[@]}" VRAMTRACE_QUIET=1 VRAMTRACE_TOP=100) ;;
    leak10) env_vars=("${defaults[@]}" VRAMTRACE_QUIET=1) ;;
    quiet) env_vars=(LD_LIBRARY_PATH="$sim_dir" LD_PRELOAD="$shim" VRAMTRACE_QUIET=1 VRAMTRACE_REPORT=none
        VRAMTRACE_OUTPUT=none) ;;
    clean) env_vars=("${defaults[@]}" VRAMTRACE_QUIET=1) ;;
    esac
}
case_mode() { [[ $1 == clean ]] && echo clean || echo leak; }

declare -A best median instr
echo "==> exit: $runs runs per case" >&2
for mode in leak clean; do
    read -r best[untraced.$mode] median[untraced.$mode] < <(exit_times "$runs" "${untraced[@]}" "$exit_bench" "$mode")
done
for name in "${case_names[@]}"; do
    case_env "$name"
    read -r best[$name] median[$name] < <(exit_times "$runs" "${env_vars[@]}" "$exit_bench" "$(case_mode "$name")")
done

have_valgrind=no
if command -v valgrind >/dev/null 2>&1; then
    have_valgrind=yes
    echo "==> callgrind: the shim's destructor" >&2
    for name in "${case_names[@]}"; do
        case_env "$name"
        env "${env_vars[@]}" valgrind --tool=callgrind --collect-atstart=no --toggle-collect=shim_unload \
            --callgrind-out-file="$work/cg.$name" "$exit_bench" "$(case_mode "$name")" >/dev/null 2>&1
        instr[$name]=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$work/cg.$name")
    done
fi

echo "==> $children exec'd children (examples/leaky), untraced and traced" >&2
loop_seconds() { # env... -> seconds for the loop
    local start end
    start=$(date +%s%N)
    env "$@" bash -c 'for ((i = 0; i < $1; i++)); do "$2" >/dev/null 2>&1; done' loop "$children" "$leaky"
    end=$(date +%s%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'
}
children_untraced=$(loop_seconds "${untraced[@]}")
children_traced=$(loop_seconds "${defaults[@]}")

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
echo
echo "vramtrace exit benchmark, $(date -u +%Y-%m-%d), $(nproc) CPU(s): ${cpu:-unknown CPU}, $(uname -sr)"
echo "exit_bench: 100 allocations from 100 sites, each 32 frames deep (31 in libvt_big.so, 154,000 symbols)"
echo
printf '%-28s %10s %10s %10s %14s\n' case "best ms" "median ms" "shim ms" "shim instr"
printf '%-28s %10s %10s %10s %14s\n' "no shim (leak)" "${best[untraced.leak]}" "${median[untraced.leak]}" "" ""
printf '%-28s %10s %10s %10s %14s\n' "no shim (no leak)" "${best[untraced.clean]}" "${median[untraced.clean]}" "" ""
for i in "${!case_names[@]}"; do
    name=${case_names[$i]}
    base=${best[untraced.$(case_mode "$name")]}
    printf '%-28s %10s %10s %10s %14s\n' "${case_labels[$i]}" "${best[$name]}" "${median[$name]}" \
        "$(awk -v a="${best[$name]}" -v b="$base" 'BEGIN { printf "%.1f", a - b }')" "${instr[$name]:--}"
done
echo "exit: from the end of main to the process reaped, best and median of $runs runs; shim ms = best - untraced best;"
echo "shim instr: callgrind, the shim's destructor on the exiting thread$([[ $have_valgrind == no ]] && echo " (valgrind not installed)")"
echo "traced cases write their trace and report file (VRAMTRACE_QUIET=1); 'nothing written': VRAMTRACE_REPORT=none, OUTPUT=none"
echo
echo "$children exec'd children (examples/leaky, traced: trace + report file each, report on stderr to /dev/null):"
awk -v u="$children_untraced" -v t="$children_traced" -v n="$children" 'BEGIN {
    printf "  untraced %.2f s, traced %.2f s: the shim adds %.1f ms per child\n", u, t, (t - u) * 1000 / n }'
