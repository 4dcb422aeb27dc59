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
import types

_DEFAULT_ENTRIES = 10000
_MAX_ENTRIES = 100000000  # as the settings table (src/common/options.c)

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
    if not 0 <= value <= _MAX_ENTRIES:
        if _shim_function("vramtrace_output_base") is None:  # (the shim already said so at start)
            _say("entries", f"VRAMTRACE_TORCH_ENTRIES={text!r} is not a count from 0 to {_MAX_ENTRIES}; "
                            f"using {_DEFAULT_ENTRIES}")
        return _DEFAULT_ENTRIES
    return value


def _output_base():
    """The shim's name for this process's report files, without extension; None without the shim
    (a process started with vramtrace's PYTHONPATH but not preloaded) or when it writes no files."""
    if _state["base"] is None:
        import ctypes

        function = _shim_function("vramtrace_output_base")
        if function is None:
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


def _shim_function(name):
    """A function the preloaded shim exports (include/vramtrace/shim_api.h), or None without it."""
    import ctypes

    try:
        return getattr(ctypes.CDLL(None), name)
    except (AttributeError, OSError):
        return None


# The snapshot blob handed to the shim: its layout is in include/vramtrace/shim_api.h.
_BLOB_MAGIC = b"VTTS"
_BLOB_VERSION = 1
_MOMENTS = {"exit": 1, "oom": 2, "dump": 3}  # enum vt_torch_moment
_BLOCK_STATES = {"active_allocated": 1, "active_pending_free": 2, "inactive": 3}  # enum vt_torch_block_state
_ACTIONS = {"alloc": 1, "free_requested": 2, "free_completed": 3, "segment_alloc": 4, "segment_free": 5,
            "segment_map": 6, "segment_unmap": 7, "snapshot": 8, "oom": 9}  # enum vt_torch_action
_U64 = (1 << 64) - 1
_COST_OFFSET = 32  # of the header's u64 cost: after "VTTS" and u32 version, moment, dump, device, flags, u64 request


class _BlobWriter:
    """PyTorch's snapshot (torch.cuda.memory._snapshot(): segments with blocks, device_traces) as the
    shim's blob: strings, frames and stacks deduplicated, then devices, segments, blocks, history."""

    def __init__(self):
        import struct

        self.struct = struct
        self.strings, self.frames, self.stacks = {}, {}, {}
        self.frame_list, self.depths = [], []

    def _string(self, text):
        index = self.strings.get(text)
        if index is None:
            index = self.strings[text] = len(self.strings)
        return index

    def stack(self, frames):
        """A stack reference (index + 1; 0: none) for a list of snapshot frames, innermost first."""
        if not frames:
            return 0
        key = tuple((str(f.get("filename", "??")), str(f.get("name", "??")), int(f.get("line", 0) or 0))
                    for f in frames)
        reference = self.stacks.get(key)
        if reference is None:
            for file_name, name, line in key:
                frame = (self._string(file_name), self._string(name), line & 0xFFFFFFFF)
                index = self.frames.get(frame)
                if index is None:
                    index = self.frames[frame] = len(self.frames)
                self.frame_list.append(index)
            self.depths.append(len(key))
            reference = self.stacks[key] = len(self.depths)
        return reference

    def build(self, header, oom_stack, devices, segments, blocks, entries):
        pack = self.struct.pack
        parts = [_BLOB_MAGIC, pack("<IIIiIQQ", _BLOB_VERSION, *header)]
        parts.append(pack("<I", len(self.strings)))
        for text in self.strings:
            encoded = text.encode("utf-8", "surrogateescape")
            parts.append(pack("<I", len(encoded)))
            parts.append(encoded)
        parts.append(pack("<I", len(self.frames)))
        parts.extend(pack("<III", *frame) for frame in self.frames)
        parts.append(pack("<I", len(self.frame_list)))
        parts.append(pack(f"<{len(self.frame_list)}I", *self.frame_list))
        parts.append(pack("<I", len(self.depths)))
        parts.append(pack(f"<{len(self.depths)}I", *self.depths))
        parts.append(pack("<I", oom_stack))
        for rows, layout in ((devices, "<iQQ"), (segments, "<iIQQQI"), (blocks, "<iIQQQI"), (entries, "<iIQQQQI")):
            parts.append(pack("<I", len(rows)))
            parts.extend(pack(layout, *row) for row in rows)
        return b"".join(parts)


def _snapshot_blob(snapshot, moment, dump_number, oom, cost_ns):
    """The blob for `snapshot`; `oom` is (device, free bytes) at an out-of-memory, else None."""
    writer = _BlobWriter()
    segments, blocks, devices_seen = [], [], set()
    for segment in snapshot.get("segments", []):
        device = int(segment.get("device", 0))
        devices_seen.add(device)
        flags = (1 if segment.get("segment_type") == "small" else 0) | (2 if segment.get("is_expandable") else 0)
        segments.append((device, flags, int(segment["address"]) & _U64, int(segment["total_size"]),
                         int(segment.get("stream", 0) or 0) & _U64, writer.stack(segment.get("frames"))))
        for block in segment.get("blocks", []):
            blocks.append((device, _BLOCK_STATES.get(block.get("state"), 3), int(block["address"]) & _U64,
                           int(block["size"]), int(block.get("requested_size", block["size"])),
                           writer.stack(block.get("frames"))))
    entries, oom_request, oom_stack = [], 0, 0
    for device, trace in enumerate(snapshot.get("device_traces", [])):
        for entry in trace:
            action = _ACTIONS.get(entry.get("action"), 0)
            stack = writer.stack(entry.get("frames"))
            entries.append((device, action, int(entry.get("addr", 0)) & _U64, int(entry.get("size", 0)),
                            int(entry.get("stream", 0) or 0) & _U64, int(entry.get("time_us", 0) or 0) * 1000,
                            stack))
            if action == _ACTIONS["oom"] and oom is not None and device == oom[0]:
                oom_request, oom_stack = int(entry.get("size", 0)), stack
    devices = []
    import torch

    for device in sorted(devices_seen | ({oom[0]} if oom is not None else set())):
        try:
            free, total = torch.cuda.mem_get_info(device)
        except Exception:
            free, total = 0, 0
        devices.append((device, int(free), int(total)))
    flags = 1 if _state["history"] else 0  # VT_TORCH_HISTORY
    header = (_MOMENTS[moment], dump_number, oom[0] if oom is not None else -1, flags, oom_request, cost_ns)
    return writer.build(header, oom_stack, devices, segments, blocks, entries)


def _snapshot_leaving_inductor_alone(torch):
    """torch.cuda.memory._snapshot(), without importing torch._inductor when the program never did.

    While it symbolizes the Python frames, PyTorch's C++ asks `hasattr(torch, "_inductor")` to map
    frames of code that Inductor generated back to their source (torch/csrc/profiler/python/
    combined_traceback.cpp). torch._inductor is one of torch's lazy modules: that question imports
    it, with torch._dynamo and sympy (880 modules, 4.5-7.4 s measured on the H200), in a process
    that never compiled anything and so has no generated code to map. For that call only, torch's
    attribute is a stand-in without `codecache`, which the C++ then skips; any other thread that
    reads an attribute of it meanwhile gets the real module (imported then, as it would have been).
    The attribute is removed afterwards unless an import put the real module there meanwhile."""
    import threading

    if "torch._inductor" in sys.modules or "_inductor" in vars(torch):
        return torch.cuda.memory._snapshot()
    stand_in = _InductorNotImported("torch._inductor", threading.get_ident())
    setattr(torch, "_inductor", stand_in)
    try:
        return torch.cuda.memory._snapshot()
    finally:
        if vars(torch).get("_inductor") is stand_in:
            delattr(torch, "_inductor")


class _InductorNotImported(types.ModuleType):
    """torch._inductor while a snapshot is taken (_snapshot_leaving_inductor_alone): empty for the
    snapshot's thread, the real module for any other."""

    def __init__(self, name, owner):
        super().__init__(name)
        self._owner = owner

    def __getattr__(self, name):
        import importlib
        import threading

        if name.startswith("__") or threading.get_ident() == self._owner:
            raise AttributeError(name)
        return getattr(importlib.import_module("torch._inductor"), name)


def _take_snapshot(moment, suffix, what, dump_number=0, oom=None):
    """PyTorch's own snapshot, pickled beside the trace (<base><suffix>, as
    torch.cuda.memory._dump_snapshot writes it) and handed to the shim for the trace and its reports."""
    base = _output_base()
    if base is None or _in_forked_child():
        return None
    import pickle
    import time

    import torch

    started = time.perf_counter()
    snapshot = _snapshot_leaving_inductor_alone(torch)
    taken = time.perf_counter()
    handed = _shim_function("vramtrace_torch_snapshot")
    handover = ""
    if handed is not None:
        import ctypes

        blob = _snapshot_blob(snapshot, moment, dump_number, oom, 0)
        converted = time.perf_counter()
        cost_ns = int((converted - started) * 1e9)
        blob = blob[:_COST_OFFSET] + cost_ns.to_bytes(8, "little") + blob[_COST_OFFSET + 8:]
        handed.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        handed.restype = ctypes.c_int
        handed(blob, len(blob))
        handover = f", {len(blob)} bytes into the trace in {time.perf_counter() - taken:.3f} s"
    file, path = _create_output(base + suffix, "PyTorch memory snapshot")
    with file:
        pickle.dump(snapshot, file)
    _say(f"written {suffix}", f"PyTorch memory snapshot {what} written to {path} (snapshot {taken - started:.3f} s"
                               f"{handover}; pytorch.org/memory_viz opens it)")
    return path


def _on_out_of_memory(device, alloc, device_allocated, device_free):
    if _state["oom_written"]:
        return
    _state["oom_written"] = True
    try:
        _take_snapshot("oom", ".torch-oom.pickle", f"at the out-of-memory on device {device} ({alloc} bytes requested)",
                       oom=(int(device), int(device_free)))
    except Exception as error:
        _say("oom", f"PyTorch snapshot at the out-of-memory failed ({type(error).__name__}: {error})")


def _at_exit():
    if not _state["history"] or _in_forked_child():
        return
    try:
        _take_snapshot("exit", ".torch.pickle", "at exit")
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
            _take_snapshot("dump", f".torch-dump-{number}.pickle", f"for live dump {number}", dump_number=number)
    except Exception as error:
        _say(f"dump {number}", f"PyTorch snapshot for live dump {number} failed ({type(error).__name__}: {error})")
