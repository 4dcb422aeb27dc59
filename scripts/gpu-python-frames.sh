#!/usr/bin/env bash
# scripts/gpu-python-frames.sh — Python frames on the GPU machine's own interpreter (CPython 3.12
# there; 3.11 here): the Python-frames scenarios of the tests (tests/programs/python/python_sites.py)
# on the simulated device, a small PyTorch job on the real GPU (also with VRAMTRACE_UNWIND_CHECK: the
# fast native walk compared with libunwind on every stack), and the Python case of the benchmark.
# Needs a build made here (scripts/build.sh, scripts/gpu-bundle.sh) carried as build/. Writes every
# report under OUT (default ./gpu-python-out) and prints a pass/fail line per check.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
out=${OUT:-$root/gpu-python-out}
mkdir -p "$out"
cli=$root/build/src/cli/vramtrace
python=${PYTHON:-python3}
export PYTHONDONTWRITEBYTECODE=1 VT_NATIVE_WORKER=$root/build/tests/programs/libnative_worker.so
"$python" --version | tee "$out/python-version.txt"
status=0
check() { # name command...
    if "${@:2}"; then echo "PASS $1"; else echo "FAIL $1"; status=1; fi
}
for scenario in sites threads shapes reuse; do
    (cd "$out" && "$cli" run --simulate -o "$scenario.trace" "$python" "$root/tests/programs/python/python_sites.py" \
        "$scenario" >"$scenario.out" 2>"$scenario.err")
    "$cli" report "$out/$scenario.trace" >"$out/$scenario.cli.txt" 2>&1
done
check "sites: Python lines of both sites" grep -q "in load_weights .*model_weights.py:6" "$out/sites.err"
check "sites: make_batch site" grep -q "in make_batch .*data_batches.py:7" "$out/sites.err"
check "sites: CLI report names them too" grep -q "in load_weights .*model_weights.py:6" "$out/sites.cli.txt"
check "threads: worker threads" grep -q "in worker .*python_sites.py" "$out/threads.err"
check "shapes: coroutine" grep -q "in coroutine_alloc .*python_sites.py" "$out/shapes.err"
check "reuse: six distinct generated files" test "$(grep -c 'in allocate generated_' "$out/reuse.err")" -eq 6
if "$python" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    cat >"$out/torch_sites.py" <<'PY'
import torch

def load_model():
    return torch.nn.Linear(4096, 4096).cuda()

def make_batch():
    return torch.randn(256, 4096, device="cuda")

model = load_model()
batch = make_batch()
loss = model(batch).sum()
loss.backward()
torch.cuda.synchronize()
print("torch: done")
PY
    (cd "$out" && "$cli" run -o torch.trace "$python" torch_sites.py >torch.out 2>torch.err)
    check "torch: Python line of the first CUDA allocation" grep -q "torch_sites.py:" "$out/torch.err"
    # The fast native walk against libunwind on PyTorch's own libraries (every stack both ways).
    (cd "$out" && VRAMTRACE_UNWIND_CHECK=1 "$cli" run -o none "$python" torch_sites.py >torch-unwind.out 2>torch-unwind.err)
    grep "unwind check" "$out/torch-unwind.err"
    check "torch: fast native walk = libunwind" grep -q "unwind check: .* 0 differed" "$out/torch-unwind.err"
fi
PYBENCH_ROUNDS=5 PYTHON=$python ./scripts/bench-python.sh >"$out/bench-python.txt" 2>&1
cat "$out/bench-python.txt" | tail -5
exit $status
