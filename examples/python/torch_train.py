"""examples/python/torch_train.py — a small PyTorch training run for checking vramtrace on a real GPU.

Trains a 4-layer MLP for a few steps and prints what PyTorch itself says about its memory, so the
numbers in vramtrace's report can be compared with PyTorch's own. Run it under the allocator
settings of interest, e.g. PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True or
PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync.
"""
import os
import sys

import torch


def main() -> int:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    torch.manual_seed(0)
    device = torch.device("cuda")
    model = torch.nn.Sequential(
        torch.nn.Linear(1024, 4096), torch.nn.ReLU(),
        torch.nn.Linear(4096, 4096), torch.nn.ReLU(),
        torch.nn.Linear(4096, 4096), torch.nn.ReLU(),
        torch.nn.Linear(4096, 10),
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs = torch.randn(256, 1024, device=device)
    targets = torch.randint(0, 10, (256,), device=device)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()
    torch.cuda.synchronize()
    print(f"torch_train: {steps} steps, final loss {loss.item():.4f}, "
          f"alloc_conf={os.environ.get('PYTORCH_CUDA_ALLOC_CONF', '(default)')}")
    print(f"torch_train: torch.cuda.max_memory_reserved={torch.cuda.max_memory_reserved()} "
          f"max_memory_allocated={torch.cuda.max_memory_allocated()} "
          f"memory_reserved_at_end={torch.cuda.memory_reserved()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
