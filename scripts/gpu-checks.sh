# scripts/gpu-checks.sh — sourced (from the repository root) by the scripts/gpu-*.sh checks:
#   check NAME COMMAND...   runs COMMAND and prints "PASS NAME" or "FAIL NAME" (a failure sets status=1)
#   prefer_real_cudart      puts the first directory holding a real libcudart.so.13 (the CUDA
#                           toolkit's, or the nvidia-* Python wheels') first in LD_LIBRARY_PATH, ahead
#                           of the simulated one the programs built here find through their RUNPATH
status=0
check() { if "${@:2}"; then echo "PASS $1"; else echo "FAIL $1"; status=1; fi; }
prefer_real_cudart() {
    local dir
    for dir in /usr/local/cuda/lib64 $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, d, "lib") for p in nvidia.__path__ for d in ("cu13", "cuda_runtime")))' 2>/dev/null); do
        if [ -e "$dir/libcudart.so.13" ]; then
            export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
            return 0
        fi
    done
}
