"""tests/programs/python/torch_jobs.py — PyTorch jobs for the tests of vramtrace's PyTorch
integration (tests/integration/test_torch_bootstrap.c), run on the stand-in torch
(tests/standin_torch) under `vramtrace run --simulate`. Lines the tests look for are marked
"# site: NAME".

    python3 torch_jobs.py SCENARIO
"""
import atexit
import os
import sys

import torch


def keep_losses():
    """A training loop that keeps every step's loss (and with it the step's graph)."""
    model = torch.nn.Linear(256, 256).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(5):
        batch = torch.randn(64, 256, device="cuda")  # site: batch
        loss = model(batch).sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss)  # site: keeps the loss
    return losses


def out_of_memory():
    """A tensor larger than any device (4 TiB)."""
    weights = torch.empty(64 * 1024 * 1024, device="cuda")  # site: weights
    try:
        torch.empty(1 << 40, device="cuda")  # site: too large
    except torch.OutOfMemoryError:
        print("torch: out of memory, as expected")
    return weights


def under_limit():
    """A job that fits in the simulated device but not under `--limit 64M`: the third tensor fits only
    once PyTorch has freed its cache and retried; the fourth does not fit at all."""
    cached = torch.empty(4 * 1024 * 1024, device="cuda")  # 16 MiB, cached once deleted
    del cached
    kept = [torch.empty(10 * 1024 * 1024, device="cuda")]  # site: limit kept
    kept.append(torch.empty(5 * 1024 * 1024, device="cuda"))  # site: limit retried
    stats = torch.cuda.memory_stats()
    print(f"torch: retried {stats['num_alloc_retries']} time(s) after freeing its cache")
    try:
        torch.empty(8 * 1024 * 1024, device="cuda")  # site: limit refused
    except torch.OutOfMemoryError:
        print("torch: out of memory under the limit, as expected")
    return kept


def cpu_only():
    """torch imported, CUDA never used: the integration must not touch CUDA."""
    torch.zeros(10)
    counter = getattr(getattr(torch, "_c10_cuda", None), "api_calls", None)  # the stand-in's test hook
    calls = counter() if counter else "not counted"
    print(f"cuda calls: {calls}; initialized: {torch.cuda.is_initialized()}")


def changed_api():
    """A torch whose history API raises (a changed or missing API): the program must not notice."""
    def raising(*args, **kwargs):
        raise TypeError("this torch's _record_memory_history takes other arguments")

    torch.cuda.memory._record_memory_history = raising
    torch.ones(1000, device="cuda")
    print("changed api: done")


def forked():
    """A child forked after CUDA was initialised: silent; the parent's snapshot only."""
    keep = torch.ones(1000, device="cuda")
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    print("forked: done")
    return keep


def _spawned_child():
    torch.ones(2000, device="cuda")


def spawned():
    """A child started with multiprocessing's spawn method: traced, its own snapshot."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_spawned_child)
    child.start()
    child.join()
    torch.ones(1000, device="cuda")
    print(f"spawned: child exit code {child.exitcode}")


def _live_dump(number):
    """Asks vramtrace for live dump `number` of this process (what `vramtrace dump` does: the dump
    signal) and waits until PyTorch's snapshot for it has landed in the trace."""
    import signal
    import time

    name = os.environ.get("VRAMTRACE_DUMP_SIGNAL", "SIGRTMIN+7").upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if name.startswith("SIGRTMIN"):
        number_of_signal = signal.SIGRTMIN + int(name[len("SIGRTMIN"):] or 0)
    else:
        number_of_signal = getattr(signal, name)
    base = sys.modules["vramtrace_bootstrap"]._output_base()
    os.kill(os.getpid(), number_of_signal)
    deadline = time.monotonic() + 30
    while not os.path.exists(f"{base}.torch-dump-{number}.pickle") and time.monotonic() < deadline:
        time.sleep(0.01)


def keep_losses_dumped():
    """keep_losses with a live dump after step 2 and after step 6: between them four more losses."""
    model = torch.nn.Linear(256, 256).cuda()
    losses = []
    for step in range(6):
        batch = torch.randn(64, 256, device="cuda")
        loss = model(batch).sum()  # site: dumped loss
        losses.append(loss)
        if step == 1:
            _live_dump(1)
    _live_dump(2)
    return losses


def _say_inductor_at_exit():
    state = "imported" if "torch._inductor" in sys.modules else "not imported"
    print(f"at exit: torch._inductor {state}; torch's attribute: {type(vars(torch).get('_inductor')).__name__}")


def never_compiles():
    """A job that never imports torch._inductor: vramtrace's snapshots (at the out-of-memory, at exit)
    must not import it either (PyTorch's symbolization would: seconds in the real torch)."""
    atexit.register(_say_inductor_at_exit)  # before CUDA starts: runs after vramtrace's exit snapshot
    return keep_losses(), out_of_memory()


def compiles():
    """A job that imported torch._inductor (as torch.compile does): it stays imported and in place."""
    atexit.register(_say_inductor_at_exit)
    print(f"compiler: {torch._inductor.__name__}")
    return keep_losses()


def report_bootstrap():
    print(f"bootstrap loaded: {'vramtrace_bootstrap' in sys.modules}")


SCENARIOS = {name: function for name, function in globals().items()
             if callable(function) and not name.startswith("_") and name not in ("atexit", "os", "sys", "torch")}

if __name__ == "__main__":
    kept = SCENARIOS[sys.argv[1]]()
    if len(sys.argv) > 2 and sys.argv[2] == "--report-bootstrap":
        report_bootstrap()
