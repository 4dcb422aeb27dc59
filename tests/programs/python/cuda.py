"""tests/programs/python/cuda.py — the CUDA runtime through ctypes, as a Python program without
PyTorch reaches it: every allocation of the Python tests passes through malloc() below, so the
tests can check that allocations from different Python lines are told apart."""
import ctypes
import os

_cudart = ctypes.CDLL("libcudart.so.13")
_native_worker = None


def malloc(size):
    pointer = ctypes.c_void_p()
    status = _cudart.cudaMalloc(ctypes.byref(pointer), ctypes.c_size_t(size))  # site: cuda.malloc
    if status != 0:
        raise MemoryError(f"cudaMalloc({size}) failed with {status}")
    return pointer.value


def free(pointer):
    status = _cudart.cudaFree(ctypes.c_void_p(pointer))
    if status != 0:
        raise RuntimeError(f"cudaFree failed with {status}")


def malloc_on_native_thread(size):
    """cudaMalloc from a thread that never ran Python (its C library starts and joins it)."""
    global _native_worker
    if _native_worker is None:
        _native_worker = ctypes.CDLL(os.environ["VT_NATIVE_WORKER"])
        _native_worker.native_worker_malloc.restype = ctypes.c_int
        _native_worker.native_worker_malloc.argtypes = [ctypes.c_size_t]
    status = _native_worker.native_worker_malloc(size)
    if status != 0:
        raise MemoryError(f"native worker cudaMalloc({size}) failed with {status}")
