"""vramtrace_bootstrap (src/python/vramtrace_bootstrap.py): vramtrace's PyTorch integration, inside
the traced Python process. Loaded by vramtrace's sitecustomize, or injected by the shim
(src/shim/python_injection.c) where sitecustomize cannot run (plain LD_PRELOAD, python -I).

What it does, and nothing before PyTorch initialises CUDA by itself:
- when `torch` is imported, it registers one callback with torch.cuda._lazy_call, which PyTorch runs
  at its CUDA initialisation (never initialising CUDA itself);
- that callback turns on PyTorch's memory history (torch.cuda.memory._record_memory_history, a ring
  of VRAMTRACE_TORCH_ENTRIES entries with Python stacks) and attaches an out-of-memory observer;
- PyTorch's own snapshot (the pickle pytorch.org/memory_viz and torch.cuda._memory_viz read) is
  written beside the trace: `<base>.torch-oom.pickle` at the first out-of-memory,
  `<base>.torch.pickle` at exit, `<base>.torch-dump-N.pickle` at each live dump (`vramtrace dump`),
  where <base> is the name the shim's reports start with.

Every error is caught: one line on stderr, and CUDA-level tracing goes on. VRAMTRACE_TORCH=off turns
it all off. A forked child does nothing (as the shim). See docs/pytorch.md.
"""
import os
import sys

_DEFAULT_ENTRIES = 10000

_state = {
    "active": False,        # activate() ran in this process
    "hooked": False,        # the _lazy_call callback is registered
    "history": False,       # history turned on by us
    "oom_written": False,
    "base": None,           # the reports' base path, from the shim
    "said": set(),
    "pid": os.getpid(),
}


def _say(key, message):
    if key not in _state["said"] and os.environ.get("VRAMTRACE_QUIET", "0").lower() not in ("1", "true", "yes", "on"):
        _state["said"].add(key)
        try:
            print(f"vramtrace: {message}", file=sys.stderr, flush=True)
        except Exception:
            pass


def _mode():
    return os.environ.get("VRAMTRACE_TORCH", "auto").strip().lower() or "auto"


def _entries():
    text = os.environ.get("VRAMTRACE_TORCH_ENTRIES", "")
    try:
        value = int(text) if text else _DEFAULT_ENTRIES
    except ValueError:
        value = -1
    if value < 0:
        _say("entries", f"VRAMTRACE_TORCH_ENTRIES={text!r} is not a count (0 or more); using {_DEFAULT_ENTRIES}")
        return _DEFAULT_ENTRIES
    return value


def _output_base():
    """The shim's name for this process's report files, without extension; None without the shim
    (a process started with vramtrace's PYTHONPATH but not preloaded) or when it writes no files."""
    if _state["base"] is None:
        import ctypes

        try:
            function = ctypes.CDLL(None).vramtrace_output_base
        except (AttributeError, OSError):
            return None
        function.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        function.restype = ctypes.c_int
        buffer = ctypes.create_string_buffer(4096)
        if function(buffer, len(buffer)) != 0:
            return None
        _state["base"] = os.fsdecode(buffer.value)
    return _state["base"]


def _in_forked_child():
    return os.getpid() != _state["pid"]


_MAX_SUFFIX = 99  # as VT_OUTPUT_FILE_MAX_SUFFIX in src/shim/output_file.h


def _numbered_name(path, number):
    """path with ".N" before the extension of its last component, as the shim's output_file.c."""
    head, name = os.path.split(path)
    dot = name.rfind(".")
    if dot <= 0:
        dot = len(name)
    return os.path.join(head, f"{name[:dot]}.{number}{name[dot:]}") if head else f"{name[:dot]}.{number}{name[dot:]}"


def _create_output(path, what):
    """Creates path mode 0600, never through a symbolic link, never over an existing file
    (docs/security.md). A taken name is left untouched: the first free numbered name is used
    and said once on stderr. Returns (binary file, path written) or raises FileExistsError."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.fdopen(os.open(path, flags, 0o600), "wb"), path
    except FileExistsError:
        pass
    for number in range(1, _MAX_SUFFIX + 1):
        candidate = _numbered_name(path, number)
        try:
            fd = os.open(candidate, flags, 0o600)
        except FileExistsError:
            continue
        _warn(f"{path} already exists (a file or a symbolic link): it was not touched; the {what} is written "
              f"to {candidate} instead")
        return os.fdopen(fd, "wb"), candidate
    _warn(f"{path} already exists (a file or a symbolic link), and so do its numbered names up to "
          f".{_MAX_SUFFIX}: it was not touched and the {what} is not written")
    raise FileExistsError(path)


def _warn(message):
    """Said whatever VRAMTRACE_QUIET says, as the shim's own messages about its files."""
    try:
        print(f"vramtrace: {message}", file=sys.stderr, flush=True)
    except Exception:
        pass


def _write_snapshot(suffix, what):
    """PyTorch's own snapshot, pickled as torch.cuda.memory._dump_snapshot does, to <base><suffix>."""
    base = _output_base()
    if base is None or _in_forked_child():
        return None
    import pickle
    import time

    import torch

    started = time.perf_counter()
    snapshot = torch.cuda.memory._snapshot()
    file, path = _create_output(base + suffix, "PyTorch memory snapshot")
    with file:
        pickle.dump(snapshot, file)
    seconds = time.perf_counter() - started
    _say(f"written {suffix}", f"PyTorch memory snapshot {what} written to {path} ({seconds:.2f} s; "
                               f"pytorch.org/memory_viz opens it)")
    return path


def _on_out_of_memory(device, alloc, device_allocated, device_free):
    if _state["oom_written"]:
        return
    _state["oom_written"] = True
    try:
        _write_snapshot(".torch-oom.pickle", f"at the out-of-memory on device {device} ({alloc} bytes requested)")
    except Exception as error:
        _say("oom", f"PyTorch snapshot at the out-of-memory failed ({type(error).__name__}: {error})")


def _at_exit():
    if not _state["history"] or _in_forked_child():
        return
    try:
        _write_snapshot(".torch.pickle", "at exit")
    except Exception as error:
        _say("exit", f"PyTorch snapshot at exit failed ({type(error).__name__}: {error})")


def _at_cuda_init():
    """Run by PyTorch at its CUDA initialisation (torch.cuda._lazy_call), under its initialisation
    lock: must not call _lazy_call, and must not raise (PyTorch would raise DeferredCudaCallError in
    the program)."""
    try:
        if _in_forked_child():
            return
        import torch

        entries = _entries()
        try:
            torch.cuda.memory._record_memory_history(
                enabled="all" if entries > 0 else "state", context="all", stacks="python",
                max_entries=max(entries, 1))
            _state["history"] = True
        except Exception as error:
            # backend:cudaMallocAsync has no history: its per-tensor CUDA calls carry the Python lines
            _say("history", f"PyTorch's memory history is not available ({error}); its per-tensor CUDA calls "
                            "are traced instead")
            return
        import atexit

        atexit.register(_at_exit)  # registered now, after torch's own: runs before them at exit
        try:
            torch._C._cuda_attach_out_of_memory_observer(_on_out_of_memory)
        except Exception as error:
            _say("observer", f"PyTorch's out-of-memory observer is not available ({type(error).__name__}: {error})")
    except Exception as error:
        _say("init", f"PyTorch integration off ({type(error).__name__}: {error}); CUDA-level tracing goes on")


def _hook_torch():
    if _state["hooked"]:
        return
    _state["hooked"] = True
    try:
        import importlib

        importlib.import_module("torch.cuda")._lazy_call(_at_cuda_init)
    except Exception as error:
        _say("hook", f"PyTorch integration off (torch.cuda._lazy_call: {type(error).__name__}: {error}); "
                     "CUDA-level tracing goes on")


class _TorchImportWatcher:
    """A meta-path finder that finds nothing itself: when `torch` is being imported, it wraps the
    real loader so that _hook_torch runs right after torch's own module code."""

    def find_spec(self, name, path=None, target=None):
        if name != "torch":
            return None
        import importlib.machinery

        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original_exec = loader.exec_module

        def exec_module(module):
            original_exec(module)
            _hook_torch()

        loader.exec_module = exec_module
        return spec


def activate(injected=False):
    """Sets the integration up once per process (sitecustomize, or the shim's injection)."""
    if _state["active"] or _mode() == "off":
        return
    _state["active"] = True
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=lambda: _state.update(history=False))
    torch = sys.modules.get("torch")
    if injected and torch is not None:
        # The shim injects only after PyTorch's allocator has allocated: CUDA is initialised, and the
        # main thread may be inside a _lazy_call callback, holding the non-reentrant lock that
        # _lazy_call would take again (a deadlock). Set up directly instead.
        _state["hooked"] = True
        _at_cuda_init()
    elif torch is not None and hasattr(torch, "cuda"):
        _hook_torch()
    else:
        sys.meta_path.insert(0, _TorchImportWatcher())


def dump(number):
    """The shim wrote live snapshot `number` (vramtrace dump): PyTorch's snapshot beside it."""
    try:
        if _state["history"]:
            _write_snapshot(f".torch-dump-{number}.pickle", f"for live dump {number}")
    except Exception as error:
        _say(f"dump {number}", f"PyTorch snapshot for live dump {number} failed ({type(error).__name__}: {error})")
