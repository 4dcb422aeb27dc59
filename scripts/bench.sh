#!/usr/bin/env bash
# scripts/bench.sh — owns the performance measurements of docs/performance.md: builds what is
# missing, runs bench/alloc_bench on the simulated CUDA device without the shim and under it
# (no stacks, 32-frame stacks, 32-frame stacks + trace file), and prints one table:
#   - wall time per event (best of several repetitions, and of several interleaved rounds),
#   - instructions per event under callgrind (skipped with a message when valgrind is missing),
#   - the churn run's memory (10M events, 10,000 live, 1,000 distinct stacks), also with the
#     trace writer stalled (the trace goes to a FIFO nobody reads: its in-memory bound is reached).
# An event is one allocation or one free. "shim" columns are traced minus untraced. Then
# scripts/bench-exit.sh: what the shim costs when a traced process ends, and
# scripts/bench-python.sh: the Python case (32 Python frames deep).
#
# `scripts/bench.sh --profile` adds, for sync mode, where the instructions go: per function, its own
# instructions per event in each shim case minus the case before (callgrind_annotate).
#
# Knobs (environment): BENCH_PAIRS (pairs per timed repetition, 100000), BENCH_REPEAT (7),
# BENCH_ROUNDS (interleaved rounds of every case, 3), BENCH_CG_PAIRS (callgrind: N, then 2N, 20000),
# BENCH_CHURN_EVENTS (10000000), BENCH_DEPTH (native frames under the calls, 32).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
profile=no
if [[ ${1:-} == --profile ]]; then
    profile=yes
elif [[ $# -gt 0 ]]; then
    echo "usage: scripts/bench.sh [--profile]" >&2
    exit 2
fi

pairs=${BENCH_PAIRS:-100000}
repeat=${BENCH_REPEAT:-7}
rounds=${BENCH_ROUNDS:-3}
cg_pairs=${BENCH_CG_PAIRS:-20000}
churn_events=${BENCH_CHURN_EVENTS:-10000000}
depth=${BENCH_DEPTH:-32}

# ---- build ------------------------------------------------------------------------------------
if [[ ! -f build/build.ninja ]]; then
    ./scripts/build.sh
fi
ninja -C build >/dev/null
bench=$root/build/bench/alloc_bench
if [[ ! -x $bench ]]; then
    # Until the top-level meson.build has subdir('bench'): the same flags as cuda_program_kwargs.
    cuda_include=$(meson introspect build --buildoptions |
        sed -n 's/.*"name": "cuda-include", "value": "\([^"]*\)".*/\1/p')
    mkdir -p build/bench-standalone
    bench=$root/build/bench-standalone/alloc_bench
    cc -std=gnu11 -O2 -g -Wall -Wextra -Werror -fno-omit-frame-pointer -fno-optimize-sibling-calls \
        -isystem "${cuda_include:-/usr/local/cuda/include}" -I examples/support \
        bench/alloc_bench.c build/src/simulated_cuda/libcudart.so.13 -ldl -lpthread -o "$bench"
fi
shim=$root/build/src/shim/libvramtrace.so
sim_dir=$root/build/src/simulated_cuda

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" # anything a case leaves behind lands here

# ---- cases --------------------------------------------------------------------------------------
# Each case is a set of variables for `env`, on top of an environment without LD_PRELOAD or any
# VRAMTRACE_* variable of the user's.
unset LD_PRELOAD
while read -r variable; do
    unset "$variable"
done < <(compgen -e | grep '^VRAMTRACE_' || true)
untraced=(LD_LIBRARY_PATH="$sim_dir")
shim_common=(LD_LIBRARY_PATH="$sim_dir" LD_PRELOAD="$shim" VRAMTRACE_QUIET=1 VRAMTRACE_REPORT=none)
case_names=(untraced nostack stack32 trace32)
case_labels=("no shim" "shim, no stacks" "shim, 32-frame stacks" "shim, 32 frames + trace")
case_env() { # case trace_path -> prints nothing; sets the array `env_vars`
    case $1 in
    untraced) env_vars=("${untraced[@]}") ;;
    nostack) env_vars=("${shim_common[@]}" VRAMTRACE_STACK_DEPTH=0 VRAMTRACE_OUTPUT=none) ;;
    stack32) env_vars=("${shim_common[@]}" VRAMTRACE_STACK_DEPTH=32 VRAMTRACE_OUTPUT=none) ;;
    trace32) env_vars=("${shim_common[@]}" VRAMTRACE_STACK_DEPTH=32 VRAMTRACE_OUTPUT="$2") ;;
    esac
}

field() { # line key -> value
    sed -n "s/.* $2=\([^ ]*\).*/\1/p; s/^$2=\([^ ]*\).*/\1/p" <<<"$1" | head -n1
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "-"; else printf "%.1f", a - b }'; }

# Does this build write traces? (The option arrived after the first measurements.)
trace_supported=no
case_env trace32 "$work/probe.trace"
env "${env_vars[@]}" "$bench" sync --pairs 10 --repeat 1 --depth 0 >/dev/null 2>&1 || true
if [[ -s $work/probe.trace ]]; then
    trace_supported=yes
fi
rm -f "$work"/probe.*
active_cases=(untraced nostack stack32)
if [[ $trace_supported == yes ]]; then
    active_cases+=(trace32)
fi

declare -A best_ns trace_bytes instr main_instr
modes=(sync async)

# ---- wall time ----------------------------------------------------------------------------------
echo "==> timing: $pairs pairs x $repeat repetitions, $rounds interleaved rounds per case" >&2
for mode in "${modes[@]}"; do
    for ((round = 0; round < rounds; round++)); do
        for name in "${active_cases[@]}"; do
            trace="$work/$mode.$name.trace"
            rm -f "$trace"
            case_env "$name" "$trace"
            line=$(env "${env_vars[@]}" "$bench" "$mode" --pairs "$pairs" --repeat "$repeat" --depth "$depth")
            best_ns[$mode.$name]=$(min "${best_ns[$mode.$name]:-}" "$(field "$line" ns_per_event)")
            if [[ $name == trace32 && -s $trace ]]; then
                # Every repetition's events plus the warm-up's 4 go to the trace.
                events=$(($(field "$line" events) * repeat + 4))
                trace_bytes[$mode]=$(awk -v s="$(stat -c %s "$trace")" -v e="$events" 'BEGIN { printf "%.1f", s / e }')
            fi
        done
    done
done

# ---- instructions (callgrind) -------------------------------------------------------------------
# Instructions of the whole process (all threads) and of the main thread, at N and 2N pairs: the
# difference is 2N events of the loop alone, without start-up, initialisation or the exit report.
have_valgrind=no
if command -v valgrind >/dev/null 2>&1; then
    have_valgrind=yes
    echo "==> callgrind: $cg_pairs and $((2 * cg_pairs)) pairs per case" >&2
    cg_run() { # mode case pairs -> "all main"
        local out="$work/cg.$1.$2.$3"
        case_env "$2" "$out.trace"
        env "${env_vars[@]}" valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out" \
            "$bench" "$1" --pairs "$3" --repeat 1 --depth "$depth" >/dev/null 2>&1
        local all=0 main=0 file count
        for file in "$out"-*; do
            count=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$file")
            all=$((all + count))
            [[ $file == "$out-01" ]] && main=$count
        done
        echo "$all $main"
    }
    for mode in "${modes[@]}"; do
        for name in "${active_cases[@]}"; do
            read -r all1 main1 < <(cg_run "$mode" "$name" "$cg_pairs")
            read -r all2 main2 < <(cg_run "$mode" "$name" "$((2 * cg_pairs))")
            instr[$mode.$name]=$(awk -v a="$all1" -v b="$all2" -v n="$cg_pairs" 'BEGIN { printf "%.1f", (b - a) / (2 * n) }')
            main_instr[$mode.$name]=$(awk -v a="$main1" -v b="$main2" -v n="$cg_pairs" 'BEGIN { printf "%.1f", (b - a) / (2 * n) }')
        done
    done
else
    echo "==> valgrind not found: instruction counts skipped (install valgrind to get them)" >&2
fi

# ---- churn: bounded memory ----------------------------------------------------------------------
echo "==> churn: $churn_events events, 10000 live, 1000 call sites" >&2
declare -A churn_line churn_stacks
churn_cases=(untraced stack32)
if [[ $trace_supported == yes ]]; then
    churn_cases+=(trace32 stalled)
fi
for name in "${churn_cases[@]}"; do
    trace="$work/churn.$name.trace"
    stall_fd=""
    if [[ $name == stalled ]]; then
        # A FIFO held open here and never read: the writer blocks in write() once the pipe is full,
        # raw chunks pile up to the writer's bound, and later events are dropped (and counted). At
        # exit the shim waits its 10 s for the writer, then gives up.
        trace="$work/churn.stalled.fifo"
        mkfifo "$trace"
        exec {stall_fd}<>"$trace"
        case_env trace32 "$trace"
    else
        case_env "$name" "$trace"
    fi
    report="$work/churn.$name.report.txt"
    [[ $name != untraced ]] && env_vars+=(VRAMTRACE_REPORT="$report")
    churn_line[$name]=$(env "${env_vars[@]}" "$bench" churn --events "$churn_events" --depth "$depth" 2>/dev/null)
    if [[ -n $stall_fd ]]; then
        exec {stall_fd}<&-
    fi
    if [[ -f $report ]]; then
        churn_stacks[$name]=$(sed -n 's/.*; \([0-9]*\) distinct stack(s).*/\1/p' "$report")
    fi
    if [[ -f $trace && -s $trace ]]; then
        churn_stacks[$name.trace_bytes]=$(stat -c %s "$trace")
    fi
done

# ---- table --------------------------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
echo
echo "vramtrace benchmark, $(date -u +%Y-%m-%d), $(nproc) CPU(s): ${cpu:-unknown CPU}, $(uname -sr)"
echo "simulated CUDA device; native stack under every call >= $depth frames; event = one allocation or one free"
echo
printf '%-7s %-26s %10s %10s %12s %12s %12s %11s\n' mode case "ns/event" "shim ns" "instr/event" "shim instr" "on caller" "trace B/ev"
for mode in "${modes[@]}"; do
    for i in "${!case_names[@]}"; do
        name=${case_names[$i]}
        if [[ $name == trace32 && $trace_supported != yes ]]; then
            printf '%-7s %-26s %s\n' "$mode" "${case_labels[$i]}" "(this build writes no trace)"
            continue
        fi
        ns=${best_ns[$mode.$name]}
        shim_ns=$([[ $name == untraced ]] && echo "" || minus "$ns" "${best_ns[$mode.untraced]}")
        ins=${instr[$mode.$name]:--}
        shim_ins=$([[ $name == untraced || $have_valgrind == no ]] && echo "" || minus "$ins" "${instr[$mode.untraced]}")
        shim_main=$([[ $name == untraced || $have_valgrind == no ]] && echo "" ||
            minus "${main_instr[$mode.$name]}" "${main_instr[$mode.untraced]}")
        tb=$([[ $name == trace32 ]] && echo "${trace_bytes[$mode]:--}" || echo "")
        printf '%-7s %-26s %10s %10s %12s %12s %12s %11s\n' "$mode" "${case_labels[$i]}" "$ns" "$shim_ns" "$ins" \
            "$shim_ins" "$shim_main" "$tb"
    done
done
if [[ $have_valgrind == no ]]; then
    echo "(valgrind not installed: no instruction counts)"
fi
echo "ns/event: best of $rounds rounds x $repeat repetitions of $pairs pairs; instr/event: callgrind, all threads,"
echo "(instructions at $((2 * cg_pairs)) pairs - at $cg_pairs pairs) / $((2 * cg_pairs)) events; on caller: the same for the"
echo "calling thread only (the rest is the trace writer's thread); shim = case - no shim; trace B/ev = file size / events"
echo
echo "churn: $churn_events events, 10000 live, 1000 distinct call sites (RSS in KiB; shim = traced - untraced)"
printf '%-26s %10s %12s %12s %12s %12s %10s %12s\n' case "ns/event" "RSS start" "RSS end" "RSS growth" "VmHWM" stacks "trace B/ev"
base_growth="" base_hwm=""
churn_names=("${case_names[@]}" stalled)
churn_labels=("${case_labels[@]}" "shim, 32 fr + stalled trace")
for i in "${!churn_names[@]}"; do
    name=${churn_names[$i]}
    line=${churn_line[$name]:-}
    [[ -z $line ]] && continue
    start=$(field "$line" rss_start_kib) end=$(field "$line" rss_end_kib) hwm=$(field "$line" hwm_end_kib)
    growth=$((end - start))
    tb=""
    if [[ -n ${churn_stacks[$name.trace_bytes]:-} ]]; then
        tb=$(awk -v s="${churn_stacks[$name.trace_bytes]}" -v e="$(field "$line" events)" 'BEGIN { printf "%.1f", s / e }')
    fi
    printf '%-26s %10s %12s %12s %12s %12s %10s %12s\n' "${churn_labels[$i]}" "$(field "$line" ns_per_event)" "$start" \
        "$end" "$growth" "$hwm" "${churn_stacks[$name]:-}" "$tb"
    if [[ $name == untraced ]]; then
        base_growth=$growth base_hwm=$hwm
    else
        echo "    shim: RSS growth $((growth - base_growth)) KiB, VmHWM $((hwm - base_hwm)) KiB" \
            "($(awk -v k=$((hwm - base_hwm)) 'BEGIN { printf "%.1f", k / 1024 }') MiB)"
    fi
done

# ---- profile: where the instructions go ----------------------------------------------------------
function_costs() { # callgrind files... -> "instructions<TAB>function", each function's own cost summed
    local file
    for file in "$@"; do
        [[ -f $file ]] && callgrind_annotate --auto=no --threshold=100 "$file" 2>/dev/null
    done | awk '/^ *[0-9,]+ \(/ {
            n = $1; gsub(",", "", n); sub(/^ *[0-9,]+ \([ 0-9.]*%\) +/, "")
            if ($0 != "PROGRAM TOTALS") sum[$0] += n
        }
        END { for (f in sum) printf "%d\t%s\n", sum[f], f }'
}
# mode base case thread(caller|others): per event, (case - base) at 2N minus the same at N.
profile_delta() {
    local mode=$1 base=$2 target=$3 thread=$4 n2=$((2 * cg_pairs)) name pairs suffix
    for name in "$base" "$target"; do
        for pairs in "$cg_pairs" "$n2"; do
            # + target at 2N, - target at N, - base at 2N, + base at N
            local sign=-1
            if [[ $name == "$target" && $pairs == "$n2" ]] || [[ $name == "$base" && $pairs == "$cg_pairs" ]]; then
                sign=1
            fi
            local files=()
            for suffix in "$work/cg.$mode.$name.$pairs"-*; do
                if [[ $thread == caller ]]; then
                    [[ $suffix == *-01 ]] && files+=("$suffix")
                else
                    [[ $suffix != *-01 && -f $suffix ]] && files+=("$suffix")
                fi
            done
            [[ ${#files[@]} -gt 0 ]] && function_costs "${files[@]}" | sed "s/^/$sign\t/"
        done
    done | awk -F'\t' -v events="$n2" '{ delta[$3] += $1 * $2 }
        END { for (f in delta) { v = delta[f] / events; if (v >= 1 || v <= -1) printf "%10.1f  %s\n", v, f } }' |
        sed 's#  [^ ]*/\([^/ ]*:\)#  \1#; s#\[[^]]*/\([^]/]*\)\]$#[\1]#' | sort -gr | head -n 14
}
if [[ $profile == yes && $have_valgrind == yes ]]; then
    echo
    echo "Where the instructions go (sync; callgrind_annotate, each function's own instructions per event,"
    echo "case minus the case before; <0: fewer than before)"
    for ((i = 1; i < ${#active_cases[@]}; i++)); do
        echo "  ${case_labels[$i]}, calling thread, minus ${case_labels[$((i - 1))]}:"
        profile_delta sync "${active_cases[$((i - 1))]}" "${active_cases[$i]}" caller
    done
    if [[ $trace_supported == yes ]]; then
        echo "  shim, 32 frames + trace, the trace writer's thread:"
        profile_delta sync untraced trace32 others
    fi
elif [[ $profile == yes ]]; then
    echo "(--profile needs valgrind)"
fi

# ---- the exit and the Python case: their own scripts -----------------------------------------------
echo
"$root/scripts/bench-exit.sh"
echo
"$root/scripts/bench-python.sh"
