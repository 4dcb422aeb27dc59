#!/usr/bin/env bash
# scripts/demo.sh — builds vramtrace, then runs examples/leaky under `vramtrace run`: on the
# NVIDIA GPU when a driver is present, otherwise on the simulated CUDA device (--simulate).
# `scripts/demo.sh --simulate` forces the simulated device. The shim prints the report; this
# script says where the report file went.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root=$PWD

force_simulate=0
if [[ "${1:-}" == "--simulate" ]]; then
    force_simulate=1
fi

./scripts/build.sh

vramtrace="$repo_root/build/src/cli/vramtrace"
example="$repo_root/build/examples/leaky"
if [[ ! -x "$example" ]]; then
    echo "error: $example was not built" >&2
    exit 1
fi

ldconfig_cache() {
    local ldconfig
    ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
    "$ldconfig" -p 2>/dev/null || true
}

nvidia_driver_present() {
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        return 0
    fi
    [[ -e /proc/driver/nvidia ]] && return 0
    [[ "$(ldconfig_cache)" == *libcuda.so.1* ]]
}

# Prints a directory holding libcudart.so.13 when the loader would not find it by itself;
# prints nothing when it would. Fails when there is none.
find_cuda_runtime_dir() {
    if [[ "$(ldconfig_cache)" == *libcudart.so.13* ]]; then
        return 0
    fi
    local directory search_path=()
    IFS=: read -r -a search_path <<<"${LD_LIBRARY_PATH:-}"
    for directory in ${search_path[@]+"${search_path[@]}"}; do
        [[ -n "$directory" && -e "$directory/libcudart.so.13" ]] && return 0
    done
    local candidates=(/usr/local/cuda/lib64 /usr/local/cuda/targets/*/lib)
    if command -v python3 >/dev/null 2>&1; then
        local site_dir
        while IFS= read -r site_dir; do
            candidates+=("$site_dir/nvidia/cu13/lib" "$site_dir/nvidia/cuda_runtime/lib")
        done < <(python3 -c 'import site
dirs = site.getsitepackages() if hasattr(site, "getsitepackages") else []
print("\n".join(dirs + [site.getusersitepackages()]))' 2>/dev/null || true)
    fi
    for directory in "${candidates[@]}"; do
        if [[ -e "$directory/libcudart.so.13" ]]; then
            echo "$directory"
            return 0
        fi
    done
    return 1
}

run_options=()
if ((force_simulate == 0)) && nvidia_driver_present; then
    if runtime_dir=$(find_cuda_runtime_dir); then
        if [[ -n "$runtime_dir" ]]; then
            export LD_LIBRARY_PATH="$runtime_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        fi
        gpu=$(nvidia-smi -L 2>/dev/null | head -n 1 || true)
        echo "==> running examples/leaky on the GPU${gpu:+: $gpu}"
    else
        echo "==> NVIDIA driver found, but not the CUDA 13 runtime (libcudart.so.13): install the CUDA"
        echo "    toolkit or 'pip install nvidia-cuda-runtime-cu13' to use the GPU; simulating instead"
        run_options+=(--simulate)
    fi
else
    run_options+=(--simulate)
fi
if ((${#run_options[@]} > 0)); then
    echo "==> running examples/leaky on the simulated CUDA device (no GPU used)"
fi

report_dir="$repo_root/build/demo"
mkdir -p "$report_dir"
rm -f "$report_dir"/vramtrace.leaky.*
status=0
"$vramtrace" run ${run_options[@]+"${run_options[@]}"} \
    --output "$report_dir/vramtrace.%n.%p.trace" -- "$example" || status=$?

shopt -s nullglob
reports=("$report_dir"/vramtrace.leaky.*.report.txt)
if ((${#reports[@]} == 0)); then
    echo "==> no report file was written (leaky exited with status $status)" >&2
    exit 1
fi
echo "==> report written to ${reports[0]#"$repo_root/"}"
traces=("$report_dir"/vramtrace.leaky.*.trace)
if ((${#traces[@]} > 0)); then
    echo "==> trace written to ${traces[0]#"$repo_root/"}"
fi
if ((status != 0)); then
    echo "==> leaky exited with status $status"
fi
