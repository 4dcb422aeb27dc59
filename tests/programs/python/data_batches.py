"""tests/programs/python/data_batches.py — another allocation site in a file of its own, reaching
the same C function (cudaMalloc) through the same Python helper as model_weights.py."""
import cuda


def make_batch(size):
    return cuda.malloc(size)  # site: make_batch


def batches(count, size):
    for _ in range(count):
        yield cuda.malloc(size)  # site: batches generator
