"""examples/python/cupy_jax_sites.py — CuPy or JAX allocations from known Python lines, for checking
that vramtrace names the line (scripts/gpu-frameworks.sh). `python3 cupy_jax_sites.py cupy|jax`.
CuPy's memory pool keeps what it took from CUDA: the kept array is a pool block; the pool's own
`total_bytes()` is printed as ground truth."""
import sys


def cupy_job():
    import cupy as cp

    kept = cp.ones((2048, 2048), dtype=cp.float32)  # site: cupy kept
    scratch = cp.zeros((4096, 4096), dtype=cp.float32)  # site: cupy scratch
    del scratch
    cp.cuda.Device().synchronize()
    pool = cp.get_default_memory_pool()
    print(f"cupy: pool used {pool.used_bytes()} total {pool.total_bytes()}")
    return kept


def jax_job():
    import jax.numpy as jnp

    kept = jnp.ones((2048, 2048), dtype=jnp.float32)  # site: jax kept
    kept.block_until_ready()
    print(f"jax: kept {kept.nbytes}")
    return kept


if __name__ == "__main__":
    held = {"cupy": cupy_job, "jax": jax_job}[sys.argv[1]]()
