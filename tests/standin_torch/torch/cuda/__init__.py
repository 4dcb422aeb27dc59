"""torch/cuda/__init__.py — stands in for PyTorch 2.11's torch/cuda/__init__.py: lazy CUDA
initialisation and the device functions.

Initialisation is lazy exactly as in 2.11: importing torch touches no CUDA; the first CUDA tensor,
torch.cuda.init(), current_device(), set_device() or synchronize() runs _lazy_init(), which, under
the non-reentrant _initialization_lock, calls torch._C._cuda_init() and then every queued
_lazy_call callback in order (an exception in one is raised as DeferredCudaCallError, and
initialisation stays unfinished). _lazy_call(fn) takes the same lock: it queues fn before
initialisation and runs fn at once (under the lock) after it. So, as in 2.11 (fixed later upstream
by pytorch/pytorch#182948), a callback that calls _lazy_call again deadlocks, whether it runs
queued during initialisation or at once afterwards. Like the real module, importing it queues two
callbacks of its own (_check_capability, _check_cubins), which run first.
"""
import os
import threading
import traceback

import torch
import torch._C
from torch._caching_allocator import OutOfMemoryError  # noqa: F401 (torch.cuda.OutOfMemoryError)

_initialized = False
_tls = threading.local()
_initialization_lock = threading.Lock()
_queued_calls = []  # don't invoke these until initialization occurs
_is_in_bad_fork = getattr(torch._C, "_cuda_isInBadFork", lambda: False)
_cached_device_count = None


class _LazySeedTracker:
    """Only the latest seed call of each kind is kept (torch/_utils.py)."""

    def __init__(self):
        self.manual_seed_all_cb = None
        self.manual_seed_cb = None
        self.call_order = []

    def queue_seed_all(self, cb, traceback):
        self.manual_seed_all_cb = (cb, traceback)
        self.call_order = [self.manual_seed_cb, self.manual_seed_all_cb]

    def queue_seed(self, cb, traceback):
        self.manual_seed_cb = (cb, traceback)
        self.call_order = [self.manual_seed_all_cb, self.manual_seed_cb]

    def get_calls(self):
        return self.call_order


_lazy_seed_tracker = _LazySeedTracker()


class DeferredCudaCallError(Exception):
    pass


def _is_compiled():
    return hasattr(torch._C, "_cuda_getDeviceCount")


def _nvml_based_avail():
    return os.getenv("PYTORCH_NVML_BASED_CUDA_CHECK") == "1"


def is_available():
    r"""Return a bool indicating if CUDA is currently available (cudaGetDeviceCount > 0; no context)."""
    if not _is_compiled():
        return False
    if _nvml_based_avail():
        return device_count() > 0
    return torch._C._cuda_getDeviceCount() > 0


def is_initialized():
    r"""Return whether PyTorch's CUDA state has been initialized."""
    return _initialized and not _is_in_bad_fork()


def _lazy_call(callable, **kwargs):
    with _initialization_lock:
        if is_initialized():
            callable()
        else:
            global _lazy_seed_tracker
            if kwargs.get("seed_all", False):
                _lazy_seed_tracker.queue_seed_all(callable, traceback.format_stack())
            elif kwargs.get("seed", False):
                _lazy_seed_tracker.queue_seed(callable, traceback.format_stack())
            else:
                # Don't store the actual traceback to avoid memory cycle
                _queued_calls.append((callable, traceback.format_stack()))


def _check_capability():
    device_count()  # the real one warns about GPUs too old for this build


def _check_cubins():
    device_count()  # the real one warns about GPUs this build has no code for


_lazy_call(_check_capability)
_lazy_call(_check_cubins)


def init():
    r"""Initialize PyTorch's CUDA state (does nothing if it already is)."""
    _lazy_init()


def _lazy_init():
    global _initialized, _queued_calls
    if is_initialized() or hasattr(_tls, "is_initializing"):
        return
    with _initialization_lock:
        # The inner test is for when a thread blocked on some other thread which was doing the
        # initialization; when they get the lock, they will find there is nothing left to do.
        if is_initialized():
            return
        if _is_in_bad_fork():
            raise RuntimeError(
                "Cannot re-initialize CUDA in forked subprocess. To use CUDA with "
                "multiprocessing, you must use the 'spawn' start method"
            )
        if not hasattr(torch._C, "_cuda_getDeviceCount"):
            raise AssertionError("Torch not compiled with CUDA enabled")
        if "CUDA_MODULE_LOADING" not in os.environ:
            os.environ["CUDA_MODULE_LOADING"] = "LAZY"
        torch._C._cuda_init()
        # Some of the queued calls may reentrantly call _lazy_init(); we need to just return
        # without initializing in that case. However, we must not let any *other* threads in!
        _tls.is_initializing = True

        _queued_calls.extend(calls for calls in _lazy_seed_tracker.get_calls() if calls)

        try:
            for queued_call, orig_traceback in _queued_calls:
                try:
                    queued_call()
                except Exception as e:
                    msg = (
                        f"CUDA call failed lazily at initialization with error: {str(e)}\n\n"
                        f"CUDA call was originally invoked at:\n\n{''.join(orig_traceback)}"
                    )
                    raise DeferredCudaCallError(msg) from e
        finally:
            delattr(_tls, "is_initializing")
        _initialized = True


def _get_device_index(device, optional=False):
    """An int from an int, 'cuda', 'cuda:N' or a torch.device; the current device for None or 'cuda'."""
    if isinstance(device, str):
        device = torch.device(device)
    if isinstance(device, torch.device):
        if device.type != "cuda":
            raise ValueError(f"Expected a cuda device, but got: {device}")
        device = device.index
    if device is None:
        if not optional:
            raise ValueError("Expected a torch.device with a specified index or an integer, but got: None")
        return current_device()
    return device


def device_count():
    r"""Return the number of GPUs available (not cached before CUDA is initialised)."""
    global _cached_device_count
    if not _is_compiled():
        return 0
    if _cached_device_count is not None:
        return _cached_device_count
    r = torch._C._cuda_getDeviceCount()
    if _initialized:
        _cached_device_count = r
    return r


def current_device():
    r"""Return the index of a currently selected device."""
    _lazy_init()
    return torch._C._cuda_getDevice()


def set_device(device):
    r"""Set the current device (initialises CUDA, as _cuda_setDevice does). No-op if negative."""
    device = _get_device_index(device)
    if device >= 0:
        torch._C._cuda_setDevice(device)


class device:
    r"""Context-manager that changes the selected device."""

    def __init__(self, device):
        self.idx = _get_device_index(device, optional=True) if device is not None else -1
        self.prev_idx = -1

    def __enter__(self):
        self.prev_idx = torch._C._cuda_exchangeDevice(self.idx)

    def __exit__(self, type, value, traceback):
        self.idx = torch._C._cuda_maybeExchangeDevice(self.prev_idx)
        return False


def synchronize(device=None):
    r"""Wait for all kernels in all streams on a CUDA device to complete."""
    _lazy_init()
    with torch.cuda.device(device):
        return torch._C._cuda_synchronize()


def get_device_name(device=None):
    _lazy_init()
    return "vramtrace simulated device"


def manual_seed(seed):
    def cb():
        pass  # the stand-in has no random generators
    _lazy_call(cb, seed=True)


def manual_seed_all(seed):
    def cb():
        pass
    _lazy_call(cb, seed_all=True)


from .memory import *  # noqa: E402,F401,F403
from . import memory  # noqa: E402,F401
