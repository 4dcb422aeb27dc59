"""examples/python/torch_grow.py — a PyTorch job that holds N tensors of 512 MiB (default 12: 6 GiB)
and a pinned host buffer, then exits. It fits on a real GPU; under `vramtrace run --limit 4G` it
does not, and PyTorch raises torch.OutOfMemoryError at the tensor that passes the limit (the script
catches it and says which). Used by scripts/gpu-limit.sh."""
import sys

import torch


def grow(count):
    held = []
    try:
        for index in range(count):
            held.append(torch.empty(512 << 20, dtype=torch.uint8, device="cuda"))  # site: grow
    except torch.OutOfMemoryError:
        print(f"torch_grow: out of memory at tensor {len(held)} of {count}")
    return held


if __name__ == "__main__":
    pinned = torch.empty(64 << 20, dtype=torch.uint8, pin_memory=True)  # site: pinned
    tensors = grow(int(sys.argv[1]) if len(sys.argv) > 1 else 12)
    torch.cuda.synchronize()
    print(f"torch_grow: holding {len(tensors)} tensors, allocated {torch.cuda.memory_allocated()} "
          f"reserved {torch.cuda.memory_reserved()}")
