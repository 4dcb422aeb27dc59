"""tests/programs/python/python_sites.py — Python programs for the Python-frames tests, run under
the shim on the simulated device. Each scenario allocates a distinct, known number of bytes from
each site (sizes in MiB are unique per site) so the test finds each site's group by its size.

    python3 python_sites.py SCENARIO

Sites are marked with "# site: NAME" comments; the test looks their lines up by that marker.
"""
import asyncio
import gc
import sys
import threading

import cuda
import data_batches
import model_weights

MiB = 1 << 20
kept = []


def sites():
    kept.extend(model_weights.load_weights(3, 1 * MiB))  # site: sites calls load_weights
    kept.append(data_batches.make_batch(2 * MiB))  # site: sites calls make_batch


def worker(size):
    kept.append(cuda.malloc(size))  # site: worker


def threads():
    started = [threading.Thread(target=worker, args=((4 + i) * MiB,)) for i in range(3)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    cuda.malloc_on_native_thread(9 * MiB)  # site: native thread call


def recurse(depth, size):
    if depth == 0:
        return cuda.malloc(size)  # site: recursion bottom
    return recurse(depth - 1, size)  # site: recursion step


async def coroutine_alloc(size):
    await asyncio.sleep(0)
    return cuda.malloc(size)  # site: coroutine


def raise_after_alloc(size):
    kept.append(cuda.malloc(size))  # site: before raise
    raise ValueError("unwinding")


def shapes():
    kept.extend(data_batches.batches(2, 10 * MiB))  # site: generator consumer
    kept.append(recurse(5, 11 * MiB))  # site: recursion entry
    kept.append(asyncio.run(coroutine_alloc(12 * MiB)))  # site: coroutine entry
    try:
        raise_after_alloc(13 * MiB)  # site: raise call
    except ValueError:
        kept.append(cuda.malloc(14 * MiB))  # site: except handler
    finally:
        kept.append(cuda.malloc(15 * MiB))  # site: finally
    kept.append(recurse(200, 16 * MiB))  # site: deep recursion entry


REUSED_SOURCE = "import cuda\ndef allocate(size):\n    return cuda.malloc(size)\n"


def reuse():
    """Code objects created, used and freed one after another: their addresses are reused (the
    addresses are printed so the test can check that), and each allocation must still be
    attributed to the file of the code object that made it."""
    for index in range(6):
        namespace = {}
        exec(compile(REUSED_SOURCE, f"generated_{index}.py", "exec"), namespace)
        function = namespace["allocate"]
        print(f"code {index} at {id(function.__code__):#x}")
        kept.append(function((20 + index) * MiB))
        del function, namespace
        gc.collect()


def out_of_memory():
    """More than the simulated device holds (the test runs it with --simulate=1G), from a line of
    its own, while 100 MiB from another line are live."""
    kept.append(model_weights.load_weights(1, 100 * MiB)[0])  # site: oom live
    try:
        cuda.malloc(2048 * MiB)  # site: oom request
    except MemoryError:
        print("out of memory, as expected")


def big_line_table():
    """A function whose line table is larger than the shim keeps (64 KiB): its frames show its
    first line, and the allocations after it still reach the trace."""
    body = "".join("    a = 1\n" for _ in range(40000))
    namespace = {"cuda": cuda}
    exec(compile("def big(size):\n" + body + "    return cuda.malloc(size)\n", "big_table.py", "exec"), namespace)
    print("line table bytes:", len(namespace["big"].__code__.co_linetable if hasattr(namespace["big"].__code__, "co_linetable") else namespace["big"].__code__.co_lnotab))
    kept.append(namespace["big"](30 * MiB))
    for index in range(5):
        kept.append(cuda.malloc((31 + index) * MiB))  # site: after the big table


SCENARIOS = {"big_table": big_line_table, "sites": sites, "threads": threads, "shapes": shapes, "reuse": reuse, "oom": out_of_memory}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
    print(f"{sys.argv[1]}: done")
