#!/usr/bin/env bash
# scripts/gpu-exit-delay.sh — issue 12, point 2 on a GPU machine: the exit delay vramtrace adds to a
# PyTorch job (target: at most 1 s). Each job's whole run (process start to exit) is timed plain and
# under `vramtrace run` (integration on, stacks and trace on, exit report written), ROUNDS times (3),
# with the time of PyTorch's exit snapshot as the bootstrap prints it. Jobs: examples/python/
# torch_grow.py (tensors only: never imports PyTorch's compiler, torch._inductor, which PyTorch's own
# first snapshot imports: seconds), torch_train.py (an MLP with Adam) and torch_step_time.py (a
# transformer); the script says which of them import the compiler by themselves. Needs a build
# carried from here (scripts/build.sh, scripts/gpu-bundle.sh). Prints PASS/FAIL lines and the measurements; files under OUT.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=${OUT:-$root/gpu-exit-delay-out}
mkdir -p "$out"
cli=$root/build/src/cli/vramtrace
rounds=${ROUNDS:-3}
export PYTHONDONTWRITEBYTECODE=1
status=0

# wall COMMAND...: the command's wall time in seconds (its stdout dropped, its stderr passed on)
wall() { python3 -c 'import subprocess, sys, time; t = time.time(); subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); print(f"{time.time() - t:.2f}")' "$@"; }
compiler_imported() {
    python3 -c 'import atexit, runpy, sys
atexit.register(lambda: print("torch._inductor" in sys.modules))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")' "$@" 2>/dev/null | tail -1
}

# what vramtrace's exit snapshot avoids: PyTorch's own first _snapshot() in a process that never
# compiled (it imports torch._inductor)
echo "PyTorch's own first _snapshot() in a process that never compiled: $(python3 -c 'import time, torch
x = torch.empty(1 << 20, device="cuda")
torch.cuda.memory._record_memory_history(stacks="python")
y = torch.empty(1 << 20, device="cuda")
started = time.perf_counter()
torch.cuda.memory._snapshot()
print(f"{time.perf_counter() - started:.2f} s")' 2>/dev/null)"

for job in "torch_grow.py 4" "torch_train.py 20" "torch_step_time.py 20"; do
    read -r name arguments <<<"$job"
    script=$root/examples/python/$name
    tag=${name%.py}
    # shellcheck disable=SC2086 # arguments: words
    echo "== $job; the job itself imports torch._inductor: $(compiler_imported "$script" $arguments)"
    delays=()
    for ((round = 1; round <= rounds; round++)); do
        # shellcheck disable=SC2086
        plain=$(wall python3 "$script" $arguments 2>/dev/null)
        # shellcheck disable=SC2086
        traced=$(cd "$out" && wall "$cli" run -o "$tag.$round.trace" python3 "$script" $arguments 2>"$out/$tag.$round.err")
        snapshot=$(grep -o 'at exit written to [^ ]* (snapshot [0-9.]* s' "$out/$tag.$round.err" | grep -o '[0-9.]* s$')
        delay=$(python3 -c "print(f'{$traced - $plain:.2f}')")
        delays+=("$delay")
        echo "round $round: plain $plain s, vramtrace $traced s (exit snapshot ${snapshot:-none}), difference $delay s"
    done
    median=$(printf '%s\n' "${delays[@]}" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
    if python3 -c "import sys; sys.exit(0 if $median <= 1.0 else 1)"; then
        echo "PASS $job: exit delay (median of $rounds) $median s <= 1 s"
    else
        echo "FAIL $job: exit delay (median of $rounds) $median s > 1 s"
        status=1
    fi
done
find "$out" \( -name '*.trace' -o -name '*.pickle' \) -delete
exit $status
