"""tests/programs/python/model_weights.py — one allocation site in a file of its own."""
import cuda


def load_weights(layers, size):
    return [cuda.malloc(size) for _ in range(layers)]  # site: load_weights
