"""examples/python/torch_step_time.py — times a transformer training step, to measure what tracing costs.

The setting of ../shared/docs/cuda-facts.md §3: a 6-layer transformer encoder (d_model 512, 8 heads),
batch 32 x 256 tokens, Adam. Prints the mean step time over the timed steps after a warm-up. Run it
plain and under `vramtrace run` (optionally with PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync,
where every tensor is an allocation event) and compare. TORCH_STEP_HISTORY=1 turns on PyTorch's own
memory history with Python stacks (what PyTorch users would otherwise use), for comparison.
"""
import os
import sys
import time

import torch


def main() -> int:
    warmup, timed = 10, int(sys.argv[1]) if len(sys.argv) > 1 else 50
    if os.environ.get("TORCH_STEP_HISTORY") == "1":
        torch.cuda.memory._record_memory_history(enabled="all", context="all", stacks="python", max_entries=10000)
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(d_model=512, nhead=8, dim_feedforward=2048, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, num_layers=6).cuda()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    inputs = torch.randn(32, 256, 512, device="cuda")

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = model(inputs).square().mean()
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(timed):
        step()
    torch.cuda.synchronize()
    milliseconds = (time.perf_counter() - started) * 1000 / timed
    print(f"torch_step_time: {milliseconds:.3f} ms per step over {timed} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
