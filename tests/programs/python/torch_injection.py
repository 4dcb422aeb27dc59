"""tests/programs/python/torch_injection.py — Python programs for the tests of the shim's injection
(tests/integration/test_python_injection.c): run with `python3 -I` (no PYTHONPATH, no
sitecustomize), they import the stand-in torch (tests/standin_torch) and allocate CUDA tensors, so
the shim's trigger sees PyTorch's allocator (libc10_cuda.so) and runs its code on the main thread.

    python3 -I torch_injection.py SCENARIO STANDIN_TORCH_DIR

The code the shim runs is the test's (VRAMTRACE_TEST_INJECT_CODE: it counts its runs in
sys.vramtrace_test_ran and appends "PID MAIN-THREAD?" to a file) or, without it, the bootstrap's.
Each scenario prints what it saw on stdout; the test checks it.
"""
import os
import signal
import sys
import time

sys.path.insert(0, sys.argv[2])  # -I ignores PYTHONPATH

SCENARIO = sys.argv[1]


def runs():
    return getattr(sys, "vramtrace_test_ran", 0)


def busy_wait_for(condition, seconds):
    """Waits in pure Python, never releasing the GIL (no sleep, no I/O): the shim's code must reach
    a main thread that never lets go of the interpreter."""
    deadline = time.perf_counter() + seconds
    while not condition() and time.perf_counter() < deadline:
        pass
    return condition()


def idle(seconds):
    """Gives a pending call every chance to run: short sleeps (the GIL released and taken back),
    then pure Python."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.005)
    busy_wait_for(lambda: False, 0.05)


def allocate_more():
    """Allocations from other stacks (new ones for the shim): none may trigger a second run."""
    import torch

    kept = [torch.empty(1 << 18, device="cuda") for _ in range(3)]
    kept.append(torch.zeros((512, 1024), device="cuda"))
    return kept


def inject():
    import torch

    before = runs()
    started = time.perf_counter()
    x = torch.empty(1000, device="cuda")
    ran = busy_wait_for(lambda: runs() > 0, 10)
    print(f"runs before the first tensor: {before}")
    print(f"ran while the main thread kept the GIL: {ran} ({(time.perf_counter() - started) * 1000:.1f} ms)")
    kept = allocate_more()
    idle(0.2)
    print(f"runs: {runs()}")
    print(f"__main__ untouched: {'injected_name' not in globals() and 'directory' not in globals()}")
    del x, kept


def wait():
    import torch

    x = torch.empty(1000, device="cuda")
    kept = allocate_more()
    idle(0.3)
    print(f"runs: {runs()}")
    del x, kept


def fork():
    """The child forks before any CUDA use (the stand-in, as PyTorch, cannot initialise CUDA in a
    child forked after it), allocates, and exits normally (a call left pending would run at its
    exit); the parent allocates after the child is gone."""
    pid = os.fork()
    if pid == 0:
        import torch

        x = torch.empty(1000, device="cuda")
        kept = allocate_more()
        idle(0.3)
        print(f"child runs: {runs()}", flush=True)
        del x, kept
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    print(f"child exit status: {status}")
    import torch

    x = torch.empty(1000, device="cuda")
    ran = busy_wait_for(lambda: runs() > 0, 10)
    idle(0.1)
    print(f"parent ran: {ran}, runs: {runs()}, pid {os.getpid()}")
    del x


class StubBootstrap:
    """Stands in for vramtrace_bootstrap as sitecustomize would have loaded it."""

    def __init__(self):
        self.activations = 0
        self.dumps = []

    def activate(self, injected=False):
        self.activations += 1

    def dump(self, number):
        import ctypes

        shim = ctypes.CDLL(None)
        shim.vramtrace_output_base.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        buffer = ctypes.create_string_buffer(4096)
        result = shim.vramtrace_output_base(buffer, len(buffer))
        self.dumps.append((number, result, os.fsdecode(buffer.value), shim.vramtrace_torch_mode()))


def dump():
    """With the bootstrap already loaded: the trigger leaves it alone; each live dump calls its
    dump(N) on the main thread."""
    stub = StubBootstrap()
    sys.modules["vramtrace_bootstrap"] = stub
    import torch

    x = torch.empty(1000, device="cuda")
    idle(0.2)
    for expected in (1, 2):
        os.kill(os.getpid(), signal.SIGRTMIN + 7)
        busy_wait_for(lambda: len(stub.dumps) >= expected, 10)
        idle(0.05)
    for number, result, base, mode in stub.dumps:
        print(f"dump {number}: output base {result} {base}; torch mode {mode}")
    print(f"activations: {stub.activations}")
    del x


def bootstrap():
    """Without the test's code: the bootstrap next to the shim is imported and activated."""
    import torch

    x = torch.empty(1000, device="cuda")
    busy_wait_for(lambda: getattr(sys.modules.get("vramtrace_bootstrap"), "calls", None), 10)
    idle(0.1)
    module = sys.modules.get("vramtrace_bootstrap")
    print(f"bootstrap calls: {getattr(module, 'calls', None)}")
    print(f"bootstrap file: {os.fsencode(getattr(module, '__file__', '')).hex()}")
    print(f"sys.path left as it was: {not any('vramtrace-python' in os.fsdecode(entry) for entry in sys.path)}")
    del x


def fails():
    import torch

    x = torch.empty(1000, device="cuda")
    busy_wait_for(lambda: False, 0.05)
    idle(0.2)
    print("the program went on")
    del x


def lazy_callback():
    """The real bootstrap, injected while PyTorch's first allocation happens inside a _lazy_call
    callback (the main thread holds torch's non-reentrant initialisation lock): it must not call
    _lazy_call again, and it must still turn history on (the exit snapshot shows it)."""
    import torch

    kept = []

    def callback():
        kept.append(torch.empty(1000, device="cuda"))
        idle(0.3)  # still under torch's lock when the shim's code reaches the main thread

    torch.cuda._lazy_call(callback)
    y = torch.empty(10, device="cuda")  # initialises CUDA: the callback allocates under the lock
    idle(0.3)
    bootstrap_module = sys.modules.get("vramtrace_bootstrap")
    print(f"history on: {bootstrap_module is not None and bootstrap_module._state['history']}")
    del y


{"inject": inject, "wait": wait, "fork": fork, "dump": dump, "bootstrap": bootstrap, "fails": fails,
 "lazy_callback": lazy_callback}[SCENARIO]()
