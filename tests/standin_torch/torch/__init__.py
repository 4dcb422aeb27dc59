"""torch — a stand-in for PyTorch 2.11 in vramtrace's tests (tests/standin_torch/README.md), importable
by putting tests/standin_torch on PYTHONPATH. This file stands in for torch/__init__.py: it loads
libc10_cuda.so (no CUDA call), then exposes the tensors of torch/_tensor.py, torch.cuda, torch.nn
and torch.optim. Like the real package, importing it initialises nothing on the GPU.

  torch/_c10_cuda.py          loading libc10_cuda.so (tests/standin_torch/c10_cuda.c)
  torch/_caching_allocator.py c10's CUDA allocators (native, expandable segments, cudaMallocAsync)
  torch/_C.py                 the CUDA bindings of the torch._C extension
  torch/_tensor.py            tensors, factories, operations, autograd
  torch/cuda/                 torch.cuda and torch.cuda.memory
  torch/nn/, torch/optim/     modules and optimizers (Python in the real torch too)
  torch/_inductor/            a lazy module, imported at its first use as in the real torch
"""
from torch import _c10_cuda  # noqa: F401  (loads libc10_cuda.so, as importing the real torch does)
from torch import _caching_allocator  # noqa: F401
from torch import _C
from torch._C import AcceleratorError, OutOfMemoryError  # noqa: F401
from torch._tensor import *  # noqa: F401,F403
from torch._tensor import (Size, Tensor, bfloat16, bool_, device, dtype, float16, float32, float64,  # noqa: F401
                           get_default_dtype, int8, int16, int32, int64, set_default_dtype, uint8)


__version__ = "2.11.0+standin"

float = float32
double = float64
half = float16
long = int64
int = int32
short = int16
bool = bool_


def manual_seed(seed):
    """torch/random.py: seeds CUDA lazily (a seed_all _lazy_call), then the CPU generator."""
    import torch.cuda
    if not torch.cuda._is_in_bad_fork():
        torch.cuda.manual_seed_all(seed)


from torch import cuda  # noqa: E402,F401
from torch import nn  # noqa: E402,F401
from torch import optim  # noqa: E402,F401


_lazy_modules = {"_inductor"}


def __getattr__(name):
    """torch/__init__.py: the lazy modules (torch._inductor, ...) are imported at their first use as an
    attribute, `hasattr(torch, "_inductor")` included."""
    if name in _lazy_modules:
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")
