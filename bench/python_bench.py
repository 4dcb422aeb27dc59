"""bench/python_bench.py — the Python case of the benchmark (scripts/bench-python.sh): cudaMalloc
and cudaFree pairs through ctypes, each call made DEPTH Python frames deep (the <module> frame
included), so that under the shim every allocation records DEPTH Python frames plus the native
ones. Prints one line: events, best ns per event over the repetitions.

    python3 bench/python_bench.py --pairs N --repeat R --depth D
"""
import argparse
import ctypes
import time

parser = argparse.ArgumentParser()
parser.add_argument("--pairs", type=int, default=20000)
parser.add_argument("--repeat", type=int, default=5)
parser.add_argument("--depth", type=int, default=32)
arguments = parser.parse_args()

cudart = ctypes.CDLL("libcudart.so.13")
cuda_malloc, cuda_free = cudart.cudaMalloc, cudart.cudaFree
cuda_malloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
cuda_free.argtypes = [ctypes.c_void_p]


def pairs(count):
    pointer = ctypes.c_void_p()
    reference = ctypes.byref(pointer)
    for _ in range(count):
        cuda_malloc(reference, 256)
        cuda_free(pointer)


def nest(depth, count):
    """Calls pairs() with `depth` Python frames on the stack (this one and <module> included)."""
    if depth > 3:
        return nest(depth - 1, count)
    start = time.perf_counter_ns()
    pairs(count)
    return time.perf_counter_ns() - start


nest(arguments.depth, 100)  # warm-up
best = min(nest(arguments.depth, arguments.pairs) for _ in range(arguments.repeat))
print(f"events={2 * arguments.pairs} ns_per_event={best / (2 * arguments.pairs):.1f}")
