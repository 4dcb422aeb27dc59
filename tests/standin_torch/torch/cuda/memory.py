"""torch/cuda/memory.py — stands in for PyTorch 2.11's torch/cuda/memory.py: the statistics
(memory_allocated & co., which read memory_stats and give 0 before CUDA is initialised),
empty_cache, mem_get_info, and the private history API: _record_memory_history with 2.11's
signature (enabled='all', context='all', stacks='all', max_entries=sys.maxsize, device=None,
clear_history=False, compile_context=False, global_record_annotations=False, skip_actions=None;
a bool `enabled` selects the legacy form), _snapshot and _dump_snapshot (a pickle for
pytorch.org/memory_viz).
"""
import collections
import pickle
import sys
from inspect import signature

import torch
from torch import _C

from . import _get_device_index, _lazy_init, is_initialized

__all__ = [
    "empty_cache", "memory_stats", "memory_stats_as_nested_dict", "reset_peak_memory_stats",
    "memory_allocated", "max_memory_allocated", "memory_reserved", "max_memory_reserved",
    "memory_snapshot", "mem_get_info", "set_per_process_memory_fraction", "get_allocator_backend",
]


def empty_cache():
    r"""Release all unoccupied cached memory currently held by the caching allocator."""
    if is_initialized():
        torch._C._cuda_emptyCache()


def memory_stats(device=None):
    r"""A flat dictionary of allocator statistics ("allocated_bytes.all.current", ...)."""
    result = []

    def _recurse_add_to_result(prefix, obj):
        if isinstance(obj, dict):
            if len(prefix) > 0:
                prefix += "."
            for k, v in obj.items():
                _recurse_add_to_result(prefix + k, v)
        else:
            result.append((prefix, obj))

    stats = memory_stats_as_nested_dict(device=device)
    _recurse_add_to_result("", stats)
    result.sort()
    return collections.OrderedDict(result)


def memory_stats_as_nested_dict(device=None):
    if not is_initialized():
        return {}
    device = _get_device_index(device, optional=True)
    return torch._C._cuda_memoryStats(device)


def reset_peak_memory_stats(device=None):
    device = _get_device_index(device, optional=True)
    return torch._C._cuda_resetPeakMemoryStats(device)


def memory_allocated(device=None):
    r"""The current GPU memory occupied by tensors in bytes for a given device."""
    return memory_stats(device=device).get("allocated_bytes.all.current", 0)


def max_memory_allocated(device=None):
    return memory_stats(device=device).get("allocated_bytes.all.peak", 0)


def memory_reserved(device=None):
    r"""The current GPU memory managed by the caching allocator in bytes for a given device."""
    return memory_stats(device=device).get("reserved_bytes.all.current", 0)


def max_memory_reserved(device=None):
    return memory_stats(device=device).get("reserved_bytes.all.peak", 0)


def memory_snapshot(mempool_id=None):
    r"""The allocator's segments (the "segments" of _snapshot())."""
    return torch._C._cuda_memorySnapshot(mempool_id)["segments"]


def set_per_process_memory_fraction(fraction, device=None):
    r"""Caps the caching allocator's reserved memory on `device` at fraction x its total memory."""
    _lazy_init()
    if device is None:
        device = torch.cuda.current_device()
    device = _get_device_index(device)
    if not isinstance(fraction, float):
        raise TypeError("Invalid type for fraction argument, must be `float`")
    if fraction < 0 or fraction > 1:
        raise ValueError(f"Invalid fraction value: {fraction}. Allowed range: 0~1")
    torch._C._cuda_setMemoryFraction(fraction, device)


def mem_get_info(device=None):
    r"""(free, total) GPU memory of a device, from cudaMemGetInfo."""
    if device is None:
        device = torch.cuda.current_device()
    device = _get_device_index(device, optional=True)
    return torch._C._cuda_memGetInfo(device)


def get_allocator_backend():
    r"""'native' or 'cudaMallocAsync', as set by PYTORCH_CUDA_ALLOC_CONF."""
    return torch._C._cuda_getAllocatorBackend()


def _record_memory_history_legacy(enabled, record_context=True, trace_alloc_max_entries=1,
                                  trace_alloc_record_context=False, device=None, record_context_cpp=False,
                                  clear_history=False, compile_context=False, global_record_annotations=False,
                                  skip_actions=None):
    _C._cuda_record_memory_history_legacy(
        enabled, record_context, trace_alloc_max_entries, trace_alloc_record_context, record_context_cpp,
        clear_history, compile_context, global_record_annotations,
        skip_actions if skip_actions is not None else [])


def _record_memory_history(enabled="all", *args, **kwargs):
    """Enable recording of stack traces associated with memory allocations, and (enabled='all') a
    history of max_entries alloc/free events; enabled=None turns recording off."""
    if isinstance(enabled, bool):
        return _record_memory_history_legacy(enabled, *args, **kwargs)
    else:
        return _record_memory_history_impl(enabled, *args, **kwargs)


def _record_memory_history_impl(enabled="all", context="all", stacks="all", max_entries=sys.maxsize, device=None,
                                clear_history=False, compile_context=False, global_record_annotations=False,
                                skip_actions=None):
    _C._cuda_record_memory_history(
        enabled, context, stacks, max_entries, clear_history, compile_context, global_record_annotations,
        skip_actions if skip_actions is not None else [])


_record_memory_history.__signature__ = signature(_record_memory_history_impl)


def _snapshot(device=None, augment_with_fx_traces=False):
    """The CUDA memory state: {segments, device_traces, allocator_settings, external_annotations}."""
    return _C._cuda_memorySnapshot(None)


def _dump_snapshot(filename="dump_snapshot.pickle", augment_with_fx_traces=False):
    """Save a pickled version of the `torch.memory._snapshot()` dictionary to a file."""
    s = _snapshot(augment_with_fx_traces=augment_with_fx_traces)
    with open(filename, "wb") as f:
        pickle.dump(s, f)
