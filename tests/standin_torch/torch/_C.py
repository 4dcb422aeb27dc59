"""torch/_C.py — stands in for the CUDA bindings of PyTorch 2.11's C extension torch._C
(torch/csrc/cuda/Module.cpp, torch/csrc/cuda/memory_snapshot.cpp), with the names and arguments the
Python layer (torch/cuda/__init__.py, torch/cuda/memory.py) and programs call:

  _cuda_getDeviceCount, _cuda_init, _cuda_isInBadFork, _cuda_getDevice, _cuda_setDevice,
  _cuda_exchangeDevice, _cuda_maybeExchangeDevice, _cuda_synchronize, _cuda_emptyCache,
  _cuda_memoryStats, _cuda_resetPeakMemoryStats, _cuda_record_memory_history,
  _cuda_record_memory_history_legacy, _cuda_isHistoryEnabled, _cuda_memorySnapshot,
  _cuda_attach_out_of_memory_observer, _cuda_getAllocatorBackend, OutOfMemoryError.

As in the real bindings, _cuda_record_memory_history and _cuda_attach_out_of_memory_observer
initialise the C++ side of CUDA (devices counted, allocators created: no context, no allocation)
but not Python's: torch.cuda.is_initialized() stays False and _lazy_call callbacks stay queued.
An exception raised by an out-of-memory observer propagates out of the allocation that failed, in
place of the OutOfMemoryError.
"""
import os

from torch import _c10_cuda as c10
from torch import _caching_allocator as allocator
from torch._caching_allocator import AcceleratorError, OutOfMemoryError  # noqa: F401 (re-exported)

allocator.register_native_file(__file__)

_in_bad_fork = False
_fork_poisoned = False


def _forked_child():
    global _in_bad_fork
    _in_bad_fork = True


def _cuda_isInBadFork():
    return _in_bad_fork


def _cuda_getDeviceCount():
    return allocator.device_count()


def _cuda_getCompiledVersion():
    return 13000


def _cuda_init():
    """THCPModule_initExtension: marks forked children as bad, then initialises CUDA's C++ side."""
    global _fork_poisoned
    if not _fork_poisoned:
        os.register_at_fork(after_in_child=_forked_child)
        _fork_poisoned = True
    allocator.lazy_init_device()


def _device_lazy_init():
    """torch::utils::device_lazy_init(at::kCUDA): what the C++ bindings call before a CUDA operation
    (it runs the Python torch.cuda._lazy_init)."""
    import torch.cuda
    torch.cuda._lazy_init()


def _cuda_getDevice():
    _device_lazy_init()
    return c10.get_device()


def _cuda_setDevice(device):
    _device_lazy_init()
    error = c10.lib.c10_cuda_set_device(device)
    if error:
        raise allocator.cuda_error(error)


def _cuda_exchangeDevice(device):
    if device < 0:
        return -1
    _device_lazy_init()
    previous = c10.get_device()
    if previous != device:
        _cuda_setDevice(device)
    return previous


def _cuda_maybeExchangeDevice(device):
    if device < 0:
        return -1
    previous = c10.get_device()
    if previous != device:
        _cuda_setDevice(device)
    return previous


def _cuda_synchronize():
    error = c10.lib.c10_cuda_synchronize(c10.get_device())
    if error:
        raise allocator.cuda_error(error)


def _cuda_memGetInfo(device):
    """cudart().cudaMemGetInfo(device): (free, total)."""
    free, total, error = c10.mem_get_info(device)
    if error:
        raise allocator.cuda_error(error)
    return free, total


def _cuda_emptyCache():
    allocator.empty_cache()


def _cuda_memoryStats(device):
    return allocator.memory_stats(device)


def _cuda_resetPeakMemoryStats(device):
    allocator.reset_peak_stats(device)


def _cuda_setMemoryFraction(fraction, device):
    allocator.set_memory_fraction(fraction, device)


def _cuda_getAllocatorBackend():
    return allocator.backend_name()


def _check_option_in(option, valid, error):
    if option not in valid:
        raise RuntimeError(error)


def _cuda_record_memory_history(enabled, context, stacks, max_entries, clear_history=False, compile_context=False,
                                global_record_annotations=False, skip_actions=()):
    """torch::cuda::_record_memory_history, the string form (memory_snapshot.cpp)."""
    if enabled is not None:
        _check_option_in(enabled, ("state", "all"), "expected state to be 'state', 'all', or None")
    if context is not None:
        _check_option_in(context, ("state", "alloc", "all"), "expected context to be 'state', 'alloc', 'all', or None")
    _check_option_in(stacks, ("python", "all"), "expected stacks to be 'python', or 'all'")
    max_entries = max_entries if enabled == "all" else 1
    when = {None: allocator.NEVER, "state": allocator.STATE, "alloc": allocator.ALLOC, "all": allocator.ALL}[context]
    allocator.lazy_init_device()
    allocator.record_history(enabled is not None, max_entries, when, clear_history, skip_actions or ())


def _cuda_record_memory_history_legacy(enabled, record_context=True, trace_alloc_max_entries=1,
                                       trace_alloc_record_context=False, record_context_cpp=False,
                                       clear_history=False, compile_context=False, global_record_annotations=False,
                                       skip_actions=()):
    """torch::cuda::_record_memory_history, the boolean form of torch 1.13 to 2.0."""
    when = allocator.NEVER
    if trace_alloc_record_context:
        when = allocator.ALLOC
    elif record_context:
        when = allocator.STATE
    allocator.lazy_init_device()
    allocator.record_history(bool(enabled), trace_alloc_max_entries, when, clear_history, skip_actions or ())


def _cuda_isHistoryEnabled():
    return allocator.is_history_enabled()


def _cuda_memorySnapshot(mempool_id=None):
    """As memory_snapshot.cpp: symbolizing the frames (combined_traceback.cpp) first asks
    hasattr(torch, "_inductor") to map frames of generated code, which imports torch._inductor when
    nothing did before (seconds in the real torch)."""
    import torch
    if hasattr(torch, "_inductor") and hasattr(torch._inductor, "codecache"):
        torch._inductor.codecache.PyCodeCache.stack_frames_for_code("", 0)
    return allocator.snapshot()


def _cuda_attach_out_of_memory_observer(observer):
    """Registers observer(device, alloc, device_allocated, device_free) on every device; the allocator
    calls it at an out-of-memory with (device, bytes it tried to cudaMalloc, the device's total memory,
    its free memory)."""
    allocator.lazy_init_device()
    allocator.attach_out_of_memory_observer(observer)
