"""tests/programs/python/torch_layer_jobs.py — PyTorch jobs for the tests of vramtrace's tensor layer
(tests/integration/test_torch_layer.c): what the exit and OOM reports say about PyTorch's cache,
its tensors and the memory outside it. Run on the stand-in torch (tests/standin_torch) under
`vramtrace run --simulate`. Lines the tests look for are marked "# site: NAME".

    python3 torch_layer_jobs.py SCENARIO
"""
import ctypes
import sys

import torch

MiB = 1 << 20


def fragmentation():
    """Twenty 1.5 MiB tensors, every other one freed: the cache holds free blocks between live ones."""
    tensors = [torch.empty(3 * MiB // 8, device="cuda") for _ in range(20)]  # site: fragments
    kept = tensors[::2]
    del tensors
    print(f"allocated: {torch.cuda.memory_allocated()} reserved: {torch.cuda.memory_reserved()}")
    return kept


def outside_torch():
    """A tensor kept, and memory a library took from CUDA directly (as cuBLAS or NCCL do)."""
    kept = torch.ones(1024, device="cuda")  # site: kept tensor
    pointer = ctypes.c_void_p()
    status = ctypes.CDLL("libcudart.so.13").cudaMalloc(ctypes.byref(pointer), ctypes.c_size_t(3 * MiB))  # site: raw
    assert status == 0, status
    return kept


def freed_everything():
    """Tensors made and dropped: PyTorch keeps its segments cached, and nothing leaked."""
    for _ in range(3):
        x = torch.empty(MiB, device="cuda")  # site: dropped
        del x
    print(f"reserved: {torch.cuda.memory_reserved()}")


def fraction_out_of_memory():
    """PyTorch refuses a request past its memory fraction (64 MiB of the device): no CUDA call fails."""
    total = torch.cuda.mem_get_info()[1]
    torch.cuda.set_per_process_memory_fraction(64 * MiB / total)
    kept = torch.empty(8 * MiB, device="cuda")  # site: before the fraction
    try:
        torch.empty(64 * MiB, device="cuda")  # site: past the fraction
    except torch.OutOfMemoryError:
        print("torch: out of memory, as expected")
    return kept


SCENARIOS = {name: function for name, function in globals().items()
             if callable(function) and not name.startswith("_") and name not in ("ctypes", "sys", "torch")}

if __name__ == "__main__":
    kept = SCENARIOS[sys.argv[1]]()
