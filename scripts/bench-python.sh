#!/usr/bin/env bash
# scripts/bench-python.sh — owns the Python case of docs/performance.md: bench/python_bench.py
# (cudaMalloc/cudaFree pairs through ctypes, 32 Python frames deep) on the simulated device,
# untraced, under the shim with Python frames off (VRAMTRACE_PYTHON_DEPTH=0) and on (the default,
# 32). Prints the best wall time per event over interleaved rounds and, under callgrind, the
# instructions per event (runs of N and 2N pairs, the difference divided by 2N events). An event
# is one allocation or one free; only allocations capture stacks, so the cost per allocation is
# about twice the cost per event. scripts/bench.sh runs it at its end.
#
# Knobs (environment): PYBENCH_PAIRS (20000), PYBENCH_REPEAT (5), PYBENCH_ROUNDS (3),
# PYBENCH_CG_PAIRS (2000), PYBENCH_DEPTH (32), PYTHON (python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
pairs=${PYBENCH_PAIRS:-20000}
repeat=${PYBENCH_REPEAT:-5}
rounds=${PYBENCH_ROUNDS:-3}
cg_pairs=${PYBENCH_CG_PAIRS:-2000}
depth=${PYBENCH_DEPTH:-32}
python=${PYTHON:-python3}
# The interpreter itself, not a launcher script (pyenv's shims are shell scripts valgrind would
# measure instead).
python=$("$python" -c 'import sys; print(sys.executable)')
if [[ ! -f build/build.ninja ]]; then
    ./scripts/build.sh
fi
# A build carried to another machine (scripts/gpu-bundle.sh) may not rebuild there: use it as it is.
ninja -C build >/dev/null 2>&1 || [[ -f build/src/shim/libvramtrace.so ]]
script=$root/bench/python_bench.py
base=(LD_LIBRARY_PATH="$root/build/src/simulated_cuda")
shim=("${base[@]}" LD_PRELOAD="$root/build/src/shim/libvramtrace.so" VRAMTRACE_QUIET=1 VRAMTRACE_REPORT=none
    VRAMTRACE_OUTPUT=none)
names=(untraced native python)
labels=("no shim" "shim, native frames only" "shim, native + $depth Python frames")
case_env() {
    case $1 in
    untraced) env_vars=("${base[@]}") ;;
    native) env_vars=("${shim[@]}" VRAMTRACE_PYTHON_DEPTH=0) ;;
    python) env_vars=("${shim[@]}" VRAMTRACE_PYTHON_DEPTH=$depth) ;;
    esac
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

declare -A best instr
echo "==> python: $pairs pairs x $repeat repetitions, $rounds rounds per case" >&2
for ((round = 0; round < rounds; round++)); do
    for name in "${names[@]}"; do
        case_env "$name"
        line=$(env -u LD_PRELOAD "${env_vars[@]}" "$python" "$script" --pairs "$pairs" --repeat "$repeat" --depth "$depth")
        ns=$(sed -n 's/.*ns_per_event=\([0-9.]*\).*/\1/p' <<<"$line")
        best[$name]=$(awk -v a="${best[$name]:-}" -v b="$ns" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }')
    done
done
if command -v valgrind >/dev/null 2>&1; then
    echo "==> python under callgrind: $cg_pairs and $((2 * cg_pairs)) pairs per case" >&2
    for name in "${names[@]}"; do
        case_env "$name"
        totals=()
        for n in "$cg_pairs" $((2 * cg_pairs)); do
            env -u LD_PRELOAD "${env_vars[@]}" valgrind --tool=callgrind --callgrind-out-file="$work/cg.$name.$n" \
                "$python" "$script" --pairs "$n" --repeat 1 --depth "$depth" >/dev/null 2>&1
            totals+=("$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$work/cg.$name.$n")")
        done
        # Each run does a warm-up of 100 pairs and then one repetition: the difference is 2N events.
        instr[$name]=$(awk -v a="${totals[0]}" -v b="${totals[1]}" -v n="$cg_pairs" 'BEGIN { printf "%.0f", (b - a) / (2 * n) }')
    done
fi
echo
echo "python case, $(date -u +%Y-%m-%d), $(nproc) CPU(s), $("$python" --version 2>&1); $depth Python frames deep"
printf '%-40s %10s %10s %12s %12s\n' case "ns/event" "shim ns" "instr/event" "shim instr"
for i in "${!names[@]}"; do
    name=${names[$i]}
    shim_ns=$(awk -v a="${best[$name]}" -v b="${best[untraced]}" 'BEGIN { printf "%.0f", a - b }')
    shim_instr=$(awk -v a="${instr[$name]:-}" -v b="${instr[untraced]:-}" 'BEGIN { if (a == "") print "-"; else printf "%.0f", a - b }')
    printf '%-40s %10s %10s %12s %12s\n' "${labels[$i]}" "${best[$name]}" "$shim_ns" "${instr[$name]:--}" "$shim_instr"
done
