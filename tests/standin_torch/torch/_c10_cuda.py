"""torch/_c10_cuda.py — stands in for the dynamic linking of PyTorch's libc10_cuda.so: `import torch`
loads it (and with it libcudart.so.13, its NEEDED library) without making any CUDA call. Here the
library is the stand-in built from tests/standin_torch/c10_cuda.c, loaded with ctypes; this module
declares its functions for the allocator (torch/_caching_allocator.py) and torch._C.

Where the library is found: $VT_LIBC10_CUDA (a path) if set, else torch/lib/libc10_cuda.so beside
this package (where PyTorch keeps it), else `libc10_cuda.so` through the dynamic loader's search
path (LD_LIBRARY_PATH). If it cannot be loaded, `import torch` still works and CUDA is unavailable
(torch.cuda.is_available() is False), as in a PyTorch whose CUDA libraries do not load.
"""
import ctypes
import os

OUT_OF_MEMORY = 2  # cudaErrorMemoryAllocation and CUDA_ERROR_OUT_OF_MEMORY alike


def _candidates():
    explicit = os.environ.get("VT_LIBC10_CUDA")
    if explicit:
        yield explicit
        return
    beside = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib", "libc10_cuda.so")
    if os.path.exists(beside):
        yield beside
    yield "libc10_cuda.so"


def _load():
    errors = []
    for candidate in _candidates():
        try:
            return ctypes.CDLL(candidate), None
        except OSError as error:
            errors.append(str(error))
    return None, "; ".join(errors)


lib, load_error = _load()

if lib is not None:
    _c_size_p = ctypes.POINTER(ctypes.c_size_t)
    _signatures = {
        "c10_cuda_api_calls": (ctypes.c_long, []),
        "c10_cuda_error_string": (ctypes.c_char_p, [ctypes.c_int]),
        "c10_cuda_device_count": (ctypes.c_int, [ctypes.POINTER(ctypes.c_int)]),
        "c10_cuda_set_device": (ctypes.c_int, [ctypes.c_int]),
        "c10_cuda_get_device": (ctypes.c_int, [ctypes.POINTER(ctypes.c_int)]),
        "c10_cuda_synchronize": (ctypes.c_int, [ctypes.c_int]),
        "c10_cuda_mem_get_info": (ctypes.c_int, [ctypes.c_int, _c_size_p, _c_size_p]),
        "c10_cuda_malloc": (ctypes.c_int, [ctypes.c_int, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
        "c10_cuda_free": (ctypes.c_int, [ctypes.c_int, ctypes.c_void_p]),
        "c10_cuda_malloc_async": (ctypes.c_int, [ctypes.c_int, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]),
        "c10_cuda_free_async": (ctypes.c_int, [ctypes.c_int, ctypes.c_void_p]),
        "c10_cuda_vmm_reserve": (ctypes.c_int, [ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint64)]),
        "c10_cuda_vmm_address_free": (ctypes.c_int, [ctypes.c_uint64, ctypes.c_size_t]),
        "c10_cuda_vmm_map": (ctypes.c_int, [ctypes.c_int, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_size_t,
                                            ctypes.POINTER(ctypes.c_uint64)]),
        "c10_cuda_vmm_unmap": (ctypes.c_int, [ctypes.c_int, ctypes.c_uint64, ctypes.c_size_t, ctypes.c_size_t,
                                              ctypes.POINTER(ctypes.c_uint64)]),
    }
    for _name, (_restype, _argtypes) in _signatures.items():
        _function = getattr(lib, _name)
        _function.restype = _restype
        _function.argtypes = _argtypes


def api_calls():
    """CUDA calls made through the library so far (a test hook; 0 when it is not loaded)."""
    return lib.c10_cuda_api_calls() if lib is not None else 0


def error_string(error):
    return lib.c10_cuda_error_string(error).decode() if lib is not None else "CUDA driver not loaded"


def device_count():
    count = ctypes.c_int(0)
    error = lib.c10_cuda_device_count(ctypes.byref(count))
    return count.value, error


def get_device():
    device = ctypes.c_int(0)
    return device.value if lib.c10_cuda_get_device(ctypes.byref(device)) == 0 else 0


def mem_get_info(device):
    free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
    error = lib.c10_cuda_mem_get_info(device, ctypes.byref(free), ctypes.byref(total))
    return free.value, total.value, error


def malloc(device, nbytes, asynchronous=False):
    """(error, address) of a cudaMalloc (cudaMallocAsync when `asynchronous`) on `device`."""
    pointer = ctypes.c_void_p()
    function = lib.c10_cuda_malloc_async if asynchronous else lib.c10_cuda_malloc
    error = function(device, nbytes, ctypes.byref(pointer))
    return error, pointer.value or 0


def free(device, address, asynchronous=False):
    function = lib.c10_cuda_free_async if asynchronous else lib.c10_cuda_free
    return function(device, address)


def vmm_reserve(nbytes):
    address = ctypes.c_uint64(0)
    error = lib.c10_cuda_vmm_reserve(nbytes, ctypes.byref(address))
    return error, address.value


def vmm_map(device, address, page_bytes, pages):
    """(error, handles) for `pages` pages backed and mapped at `address`."""
    handles = (ctypes.c_uint64 * pages)()
    error = lib.c10_cuda_vmm_map(device, address, page_bytes, pages, handles)
    return error, list(handles)


def vmm_unmap(device, address, page_bytes, handles):
    array = (ctypes.c_uint64 * len(handles))(*handles)
    return lib.c10_cuda_vmm_unmap(device, address, page_bytes, len(handles), array)


def vmm_address_free(address, nbytes):
    return lib.c10_cuda_vmm_address_free(address, nbytes)
