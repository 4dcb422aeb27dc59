"""tests/standin_torch/test_standin_torch.py — checks the stand-in `torch` package against the PyTorch
2.11 behaviour it stands in for (tests/standin_torch/README.md): lazy CUDA initialisation and
_lazy_call, the caching allocator's rounding, splitting, caching, fragmentation and out-of-memory
path, the allocator modes, the history and snapshot format, tensors and a training loop; and, under
`vramtrace run --simulate`, that the CUDA calls come from libc10_cuda.so as PyTorch's do.

Run by meson (`meson test -C build standin_torch`), which sets PYTHONPATH (this directory),
LD_LIBRARY_PATH (the simulated CUDA libraries), VT_LIBC10_CUDA (the built libc10_cuda.so) and
VT_CLI_PATH (the vramtrace CLI). Every scenario runs in a fresh interpreter, since CUDA state is
per process; each prints one JSON line that the test reads.
"""
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest

MiB = 1 << 20


def run_python(code, env=None, timeout=60):
    """Runs `code` in a new interpreter; returns the JSON value of its last output line."""
    environment = dict(os.environ)
    environment.update(env or {})
    process = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=environment, capture_output=True,
                             text=True, timeout=timeout)
    if process.returncode != 0:
        raise AssertionError(f"exit {process.returncode}\nstdout:\n{process.stdout}\nstderr:\n{process.stderr}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def run_traced(code, env=None, timeout=120):
    """Runs `code` under `vramtrace run --simulate`; returns the exit report (stderr)."""
    environment = dict(os.environ)
    environment.update(env or {})
    process = subprocess.run([os.environ["VT_CLI_PATH"], "run", "--simulate", "-o", "none", "--report", "none",
                              sys.executable, "-c", textwrap.dedent(code)],
                             env=environment, capture_output=True, text=True, timeout=timeout)
    if process.returncode != 0:
        raise AssertionError(f"exit {process.returncode}\nstdout:\n{process.stdout}\nstderr:\n{process.stderr}")
    return process.stderr


def api_counts(report):
    """{"cudaMalloc": 2, ...} from the report's "Calls by API:" line."""
    line = next(line for line in report.splitlines() if line.startswith("Calls by API:"))
    return {name: int(count) for name, count in re.findall(r"(\w+)=(\d+)", line)}


class LazyInitialisation(unittest.TestCase):
    def test_import_and_cpu_work_touch_no_cuda(self):
        result = run_python("""
            import json, torch
            called = []
            torch.cuda._lazy_call(lambda: called.append(1))
            torch.manual_seed(0)
            x = torch.randn(8, 4)
            model = torch.nn.Linear(4, 2)
            model(x).sum().backward()
            with open("/proc/self/maps") as maps:
                driver_loaded = "libcuda.so.1" in maps.read()
            print(json.dumps({"calls": torch._c10_cuda.api_calls(), "initialized": torch.cuda.is_initialized(),
                              "allocated": torch.cuda.memory_allocated(), "reserved": torch.cuda.memory_reserved(),
                              "driver_loaded": driver_loaded, "called": called,
                              "queued": len(torch.cuda._queued_calls)}))
        """)
        self.assertEqual(result, {"calls": 0, "initialized": False, "allocated": 0, "reserved": 0,
                                  "driver_loaded": False, "called": [], "queued": 3})

    def test_is_available_counts_devices_without_initialising(self):
        result = run_python("""
            import json, torch
            available = torch.cuda.is_available()
            count = torch.cuda.device_count()
            calls = torch._c10_cuda.api_calls()
            torch.cuda.is_available()
            print(json.dumps({"available": available, "count": count, "calls": calls,
                              "calls_again": torch._c10_cuda.api_calls(),
                              "initialized": torch.cuda.is_initialized(),
                              "segments": torch.cuda.memory._snapshot()["segments"]}))
        """, env={"VRAMTRACE_SIMULATE_DEVICES": "2"})
        self.assertEqual(result, {"available": True, "count": 2, "calls": 1, "calls_again": 1,
                                  "initialized": False, "segments": []})

    def test_history_and_observer_do_not_initialise_python_side(self):
        result = run_python("""
            import json, torch
            called = []
            torch.cuda._lazy_call(lambda: called.append("callback"))
            torch.cuda.memory._record_memory_history(max_entries=1000)
            torch._C._cuda_attach_out_of_memory_observer(lambda *args: None)
            before = {"initialized": torch.cuda.is_initialized(), "called": list(called),
                      "segments": len(torch.cuda.memory._snapshot()["segments"])}
            x = torch.empty(10, device="cuda")
            print(json.dumps({"before": before, "after": called, "initialized": torch.cuda.is_initialized()}))
        """)
        self.assertEqual(result, {"before": {"initialized": False, "called": [], "segments": 0},
                                  "after": ["callback"], "initialized": True})

    def test_lazy_call_order(self):
        result = run_python("""
            import json, torch
            order = []
            def first():
                order.append(("first", len(torch.cuda.memory._snapshot()["segments"])))
            torch.cuda._lazy_call(first)
            torch.cuda._lazy_call(lambda: order.append(("second", torch.cuda.is_initialized())))
            names = [call.__name__ for call, _ in torch.cuda._queued_calls]
            order.append(("before tensor", None))
            x = torch.empty(10, device="cuda")
            order.append(("after tensor", None))
            torch.cuda._lazy_call(lambda: order.append(("after init", None)))
            print(json.dumps({"names": names, "order": order}))
        """)
        self.assertEqual(result["names"][:3], ["_check_capability", "_check_cubins", "first"])
        # Queued calls run at the first CUDA tensor, before its allocation and while
        # is_initialized() is still False; after initialisation, _lazy_call runs at once.
        self.assertEqual(result["order"], [["before tensor", None], ["first", 0], ["second", False],
                                           ["after tensor", None], ["after init", None]])

    def test_explicit_init_runs_the_queue(self):
        result = run_python("""
            import json, torch
            called = []
            torch.cuda._lazy_call(lambda: called.append(1))
            torch.cuda.init()
            print(json.dumps({"called": called, "initialized": torch.cuda.is_initialized(),
                              "allocated": torch.cuda.memory_allocated()}))
        """)
        self.assertEqual(result, {"called": [1], "initialized": True, "allocated": 0})

    def test_failing_callback_is_a_deferred_error(self):
        result = run_python("""
            import json, torch
            runs = []
            torch.cuda._lazy_call(lambda: runs.append("good"))
            def bad():
                runs.append("bad")
                raise ValueError("boom")
            torch.cuda._lazy_call(bad)
            errors = []
            for attempt in range(2):
                try:
                    torch.empty(4, device="cuda")
                except Exception as error:
                    errors.append([type(error).__name__, type(error.__cause__).__name__, str(error).splitlines()[0]])
            print(json.dumps({"errors": errors, "runs": runs, "initialized": torch.cuda.is_initialized()}))
        """)
        expected_error = ["DeferredCudaCallError", "ValueError",
                          "CUDA call failed lazily at initialization with error: boom"]
        self.assertEqual(result, {"errors": [expected_error, expected_error],
                                  "runs": ["good", "bad", "good", "bad"], "initialized": False})

    def test_reentrant_lazy_call_deadlocks_as_in_2_11(self):
        result = run_python("""
            import json, os, threading, torch
            def reenter():
                torch.cuda._lazy_call(lambda: None)
            def queued_then_init():
                torch.cuda._lazy_call(reenter)
                torch.cuda.init()
            results = {}
            for name, scenario in (("queued", queued_then_init),):
                thread = threading.Thread(target=scenario, daemon=True)
                thread.start()
                thread.join(1.0)
                results[name] = thread.is_alive()
            print(json.dumps(results), flush=True)
            os._exit(0)
        """)
        self.assertEqual(result, {"queued": True})
        result = run_python("""
            import json, os, threading, torch
            torch.cuda.init()
            thread = threading.Thread(target=lambda: torch.cuda._lazy_call(lambda: torch.cuda._lazy_call(print)),
                                      daemon=True)
            thread.start()
            thread.join(1.0)
            print(json.dumps({"deadlocked": thread.is_alive()}), flush=True)
            os._exit(0)
        """)
        self.assertEqual(result, {"deadlocked": True})

    def test_forked_child_cannot_initialise(self):
        result = run_python("""
            import json, os, torch
            x = torch.empty(4, device="cuda")
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                try:
                    torch.empty(4, device="cuda")
                    message = "no error"
                except RuntimeError as error:
                    message = str(error)
                os.write(write, json.dumps([torch.cuda.is_initialized(), message]).encode())
                os._exit(0)
            os.waitpid(pid, 0)
            child = json.loads(os.read(read, 4096))
            print(json.dumps({"child": child, "parent": torch.cuda.is_initialized()}))
        """)
        self.assertEqual(result["child"], [False, "Cannot re-initialize CUDA in forked subprocess. To use CUDA "
                                                  "with multiprocessing, you must use the 'spawn' start method"])
        self.assertTrue(result["parent"])


class CachingAllocator(unittest.TestCase):
    def test_rounding_and_pools(self):
        result = run_python("""
            import json, torch
            sizes = [1, 512, 513, 1 << 20, (1 << 20) + 1, 10 << 20, (11 << 20) + 1]
            rows = []
            for nbytes in sizes:
                t = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
                segment = next(s for s in torch.cuda.memory._snapshot()["segments"]
                               for b in s["blocks"] if b["address"] == t.data_ptr())
                block = next(b for b in segment["blocks"] if b["address"] == t.data_ptr())
                rows.append([block["size"], block["requested_size"], segment["segment_type"], segment["total_size"]])
                del t
                torch.cuda.empty_cache()
            print(json.dumps(rows))
        """)
        self.assertEqual(result, [
            [512, 1, "small", 2 * MiB], [512, 512, "small", 2 * MiB], [1024, 513, "small", 2 * MiB],
            [MiB, MiB, "small", 2 * MiB], [MiB + 512, MiB + 1, "large", 20 * MiB],
            [10 * MiB, 10 * MiB, "large", 10 * MiB],
            [12 * MiB, 11 * MiB + 1, "large", 12 * MiB]])  # 1 MiB - 512 left: not split off (needs > 1 MiB)

    def test_freed_block_is_reused_and_memory_stays_reserved(self):
        result = run_python("""
            import json, torch
            x = torch.empty(1000, device="cuda")
            first = x.data_ptr()
            reserved = torch.cuda.memory_reserved()
            del x
            after_free = [torch.cuda.memory_allocated(), torch.cuda.memory_reserved()]
            y = torch.empty(900, device="cuda")
            stats = torch.cuda.memory_stats()
            print(json.dumps({"same": y.data_ptr() == first, "reserved": reserved, "after_free": after_free,
                              "allocated": torch.cuda.memory_allocated(),
                              "device_allocs": stats["num_device_alloc"],
                              "max_allocated": torch.cuda.max_memory_allocated()}))
        """)
        self.assertEqual(result, {"same": True, "reserved": 2 * MiB, "after_free": [0, 2 * MiB], "allocated": 4096,
                                  "device_allocs": 1, "max_allocated": 4096})

    def test_split_blocks_merge_when_freed(self):
        result = run_python("""
            import json, torch
            a, b, c = (torch.empty(1000, dtype=torch.uint8, device="cuda") for _ in range(3))
            def blocks():
                (segment,) = torch.cuda.memory._snapshot()["segments"]
                return [[blk["size"], blk["state"]] for blk in segment["blocks"]]
            states = [blocks()]
            del b
            states.append(blocks())
            del a, c
            states.append(blocks())
            print(json.dumps(states))
        """)
        rest = 2 * MiB - 3 * 1024
        self.assertEqual(result, [
            [[1024, "active_allocated"], [1024, "active_allocated"], [1024, "active_allocated"], [rest, "inactive"]],
            [[1024, "active_allocated"], [1024, "inactive"], [1024, "active_allocated"], [rest, "inactive"]],
            [[2 * MiB, "inactive"]]])

    def test_fragmentation_makes_a_new_segment_then_an_out_of_memory(self):
        code = """
            import json, torch
            blocks = [torch.empty(4 << 20, dtype=torch.uint8, device="cuda") for _ in range(5)]
            for index in (0, 2, 4):
                blocks[index] = None
            state = {"allocated": torch.cuda.memory_allocated(), "reserved": torch.cuda.memory_reserved()}
            try:
                big = torch.empty(8 << 20, dtype=torch.uint8, device="cuda")
                state["outcome"] = "allocated"
            except torch.OutOfMemoryError as error:
                state["outcome"] = str(error)
            state["reserved_after"] = torch.cuda.memory_reserved()
            state["segments"] = sorted([[b["size"], b["state"][0]] for b in s["blocks"]]
                                       for s in torch.cuda.memory._snapshot()["segments"])
            print(json.dumps(state))
        """
        roomy = run_python(code)
        self.assertEqual(roomy["allocated"], 8 * MiB)
        self.assertEqual(roomy["reserved"], 20 * MiB)  # 12 MiB free in the segment, but 4 MiB pieces
        self.assertEqual(roomy["outcome"], "allocated")
        self.assertEqual(roomy["reserved_after"], 40 * MiB)
        fragmented = [[4 * MiB, "i"], [4 * MiB, "a"], [4 * MiB, "i"], [4 * MiB, "a"], [4 * MiB, "i"]]
        self.assertEqual(roomy["segments"], [fragmented, [[8 * MiB, "a"], [12 * MiB, "i"]]])
        tight = run_python(code, env={"VRAMTRACE_SIMULATE": "32M"})
        self.assertTrue(tight["outcome"].startswith(
            "CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 32.00 MiB of which "
            "12.00 MiB is free. Of the allocated memory 8.00 MiB is allocated by PyTorch, and 12.00 MiB is reserved "
            "by PyTorch but unallocated. If reserved but unallocated memory is large try setting "
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"), tight["outcome"])
        self.assertEqual(tight["reserved_after"], 20 * MiB)

    def test_empty_cache_frees_only_unused_segments(self):
        result = run_python("""
            import json, torch
            kept = torch.empty(1 << 20, dtype=torch.uint8, device="cuda")     # small pool segment
            dropped = torch.empty(30 << 20, dtype=torch.uint8, device="cuda")  # its own 30 MiB segment
            del dropped
            before = torch.cuda.memory_reserved()
            torch.cuda.empty_cache()
            print(json.dumps([before, torch.cuda.memory_reserved(), torch.cuda.memory_stats()["num_device_free"]]))
        """)
        self.assertEqual(result, [32 * MiB, 2 * MiB, 1])

    def test_out_of_memory_frees_the_cache_retries_calls_observers_and_raises(self):
        result = run_python("""
            import json, sys, torch
            torch.cuda.memory._record_memory_history()
            calls = []
            def observer(device, alloc, device_allocated, device_free):
                snapshot = torch.cuda.memory._snapshot()  # allowed: the allocator's lock is not held
                calls.append([device, alloc, device_allocated, device_free, len(snapshot["segments"])])
            torch._C._cuda_attach_out_of_memory_observer(observer)
            cached = torch.empty(10, device="cuda")  # a small-pool segment, free when the OOM comes
            del cached
            kept = torch.empty(10 << 20, dtype=torch.uint8, device="cuda")
            failing_line = sys._getframe().f_lineno + 2
            try:
                torch.empty(100 << 20, dtype=torch.uint8, device="cuda")
                error = None
            except torch.cuda.OutOfMemoryError as caught:
                error = [type(caught).__name__, isinstance(caught, RuntimeError), str(caught)]
            stats = torch.cuda.memory_stats()
            trace = torch.cuda.memory._snapshot()["device_traces"][0]
            oom = [entry for entry in trace if entry["action"] == "oom"][0]
            print(json.dumps({"calls": calls, "error": error, "retries": stats["num_alloc_retries"],
                              "ooms": stats["num_ooms"], "actions": [entry["action"] for entry in trace],
                              "oom": oom, "same_class": torch.OutOfMemoryError is torch.cuda.OutOfMemoryError,
                              "failing_line": failing_line}))
        """, env={"VRAMTRACE_SIMULATE": "64M"})
        free = 54 * MiB  # 64 MiB less the 10 MiB segment still in use
        self.assertEqual(result["calls"], [[0, 100 * MiB, 64 * MiB, free, 1]])
        self.assertEqual(result["error"][:2], ["OutOfMemoryError", True])
        self.assertTrue(result["error"][2].startswith(
            "CUDA out of memory. Tried to allocate 100.00 MiB. GPU 0 has a total capacity of 64.00 MiB of which "
            "54.00 MiB is free. Of the allocated memory 10.00 MiB is allocated by PyTorch, and 0 bytes is reserved "
            "by PyTorch but unallocated."), result["error"][2])
        self.assertTrue(result["same_class"])
        self.assertEqual((result["retries"], result["ooms"]), (1, 1))
        # The cached small segment is released before the retry, then the OOM is recorded.
        self.assertEqual(result["actions"], ["segment_alloc", "alloc", "free_requested", "free_completed",
                                             "segment_alloc", "alloc", "segment_free", "oom", "snapshot"])
        self.assertEqual(result["oom"]["device_free"], free)
        self.assertNotIn("addr", result["oom"])
        self.assertEqual(result["oom"]["size"], 100 * MiB)
        self.assertEqual(result["oom"]["frames"][0]["name"], "<module>")
        self.assertEqual(result["oom"]["frames"][0]["line"], result["failing_line"])

    def test_observer_exception_replaces_the_out_of_memory_error(self):
        result = run_python("""
            import json, torch
            def observer(*args):
                raise KeyError("from the observer")
            torch._C._cuda_attach_out_of_memory_observer(observer)
            try:
                torch.empty(1 << 40, dtype=torch.uint8, device="cuda")
            except Exception as error:
                print(json.dumps(type(error).__name__))
        """)
        self.assertEqual(result, "KeyError")


class AllocatorModes(unittest.TestCase):
    def test_async_backend_refuses_history_snapshot_and_observer(self):
        result = run_python("""
            import json, torch
            errors = []
            for call in (lambda: torch.cuda.memory._record_memory_history(),
                         lambda: torch.cuda.memory._record_memory_history(enabled=None),
                         torch.cuda.memory._snapshot,
                         lambda: torch._C._cuda_attach_out_of_memory_observer(print)):
                try:
                    call()
                    errors.append(None)
                except RuntimeError as error:
                    errors.append(str(error))
            x = torch.empty(1000, device="cuda")
            allocated = torch.cuda.memory_allocated()
            del x
            try:
                torch.empty(1 << 40, dtype=torch.uint8, device="cuda")
                oom = None
            except torch.OutOfMemoryError as error:
                oom = str(error).splitlines()
            print(json.dumps({"errors": errors, "allocated": [allocated, torch.cuda.memory_allocated()],
                              "backend": torch.cuda.get_allocator_backend(), "oom": oom}))
        """, env={"PYTORCH_CUDA_ALLOC_CONF": "backend:cudaMallocAsync"})
        history = ("cudaMallocAsync does not yet support recordHistory. If you need it, please file an issue "
                   "describing your use case.")
        self.assertEqual(result["errors"], [
            history, history,
            "Calling snapshot with backend:cudaMallocAsync is not meaningful. (For backend:native, snapshot returns "
            "a detailed summary of all blocks tracked by the allocator, but the cudaMallocAsync backend does not "
            "track individual blocks.)",
            "cudaMallocAsync does not yet support attachOutOfMemoryObserver. If you need it, please file an issue "
            "describing your use case."])
        self.assertEqual(result["allocated"], [4000, 0])  # no rounding, no cache
        self.assertEqual(result["backend"], "cudaMallocAsync")
        self.assertEqual(result["oom"][0], "Allocation on device 0 would exceed allowed memory. (out of memory)")

    def test_expandable_segments_map_pages_and_unmap_them(self):
        result = run_python("""
            import json, torch
            torch.cuda.memory._record_memory_history()
            a = torch.empty(30 << 20, dtype=torch.uint8, device="cuda")
            b = torch.empty(30 << 20, dtype=torch.uint8, device="cuda")
            segments = torch.cuda.memory._snapshot()["segments"]
            reserved = torch.cuda.memory_reserved()
            del a, b
            torch.cuda.empty_cache()
            trace = torch.cuda.memory._snapshot()["device_traces"][0]
            print(json.dumps({"segments": [[s["is_expandable"], s["total_size"], len(s["blocks"])] for s in segments],
                              "adjacent": segments[0]["blocks"][1]["address"] == segments[0]["blocks"][0]["address"]
                                          + (30 << 20),
                              "reserved": [reserved, torch.cuda.memory_reserved()],
                              "maps": [[e["action"], e["size"]] for e in trace if e["action"].startswith("segment")],
                              "settings": torch.cuda.memory._snapshot()["allocator_settings"]["expandable_segments"]}))
        """, env={"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"})
        self.assertEqual(result["segments"], [[True, 60 * MiB, 2]])  # one segment grown, 20 MiB pages
        self.assertTrue(result["adjacent"])
        self.assertEqual(result["reserved"], [60 * MiB, 0])
        self.assertEqual(result["maps"], [["segment_map", 40 * MiB], ["segment_map", 20 * MiB],
                                          ["segment_unmap", 60 * MiB]])
        self.assertTrue(result["settings"])

    def test_several_devices(self):
        result = run_python("""
            import json, torch
            torch.cuda.memory._record_memory_history()
            on_one = torch.empty(1000, device="cuda:1")
            torch.cuda.set_device(1)
            also_one = torch.empty(1000, device="cuda")
            by_device = [torch.cuda.memory_allocated(0), torch.cuda.memory_allocated(1)]
            snapshot = torch.cuda.memory._snapshot()
            free_one = torch.cuda.mem_get_info(1)[0]
            print(json.dumps({"by_device": by_device, "devices": [s["device"] for s in snapshot["segments"]],
                              "traces": [len(trace) for trace in snapshot["device_traces"]],
                              "current": torch.cuda.current_device(),
                              "free": [torch.cuda.mem_get_info(0)[0] - free_one]}))
        """, env={"VRAMTRACE_SIMULATE_DEVICES": "2"})
        self.assertEqual(result, {"by_device": [0, 8192], "devices": [1], "traces": [0, 3], "current": 1,
                                  "free": [2 * MiB]})

    def test_no_caching_mode_keeps_no_statistics(self):
        result = run_python("""
            import json, torch
            x = torch.empty(1000, device="cuda")
            print(json.dumps([torch.cuda.memory_allocated(), torch.cuda.memory_reserved(), x.data_ptr() != 0]))
        """, env={"PYTORCH_NO_CUDA_MEMORY_CACHING": "1"})
        self.assertEqual(result, [0, 0, True])


class HistoryAndSnapshot(unittest.TestCase):
    def test_snapshot_format_of_2_11(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "snapshot.pickle")
            result = run_python(f"""
                import json, torch
                torch.cuda.memory._record_memory_history(max_entries=100000)
                def make_weights():
                    return torch.empty(256, 256, device="cuda")  # line 5
                weights = make_weights()
                scratch = torch.empty(10, device="cuda")
                del scratch
                torch.cuda.memory._dump_snapshot({path!r})
                print(json.dumps(True))
            """)
            self.assertTrue(result)
            with open(path, "rb") as file:
                snapshot = pickle.load(file)
        self.assertEqual(set(snapshot), {"segments", "device_traces", "allocator_settings", "external_annotations"})
        (segment,) = snapshot["segments"]
        self.assertEqual(set(segment), {"device", "address", "total_size", "allocated_size", "active_size",
                                        "requested_size", "stream", "segment_type", "segment_pool_id",
                                        "is_expandable", "frames", "blocks"})
        self.assertEqual(segment["segment_pool_id"], (0, 0))
        self.assertEqual((segment["allocated_size"], segment["requested_size"]), (256 * 1024, 256 * 1024))
        block = segment["blocks"][0]
        self.assertEqual(set(block), {"address", "size", "requested_size", "state", "frames"})
        self.assertEqual(block["state"], "active_allocated")
        self.assertEqual(block["frames"][0], {"name": "make_weights", "filename": "<string>", "line": 5})
        self.assertEqual(block["frames"][1]["name"], "<module>")
        self.assertEqual(segment["blocks"][1]["frames"], [])  # inactive blocks have no frames
        (trace,) = snapshot["device_traces"]
        self.assertEqual([entry["action"] for entry in trace],
                         ["segment_alloc", "alloc", "alloc", "free_requested", "free_completed"])
        for entry in trace:
            self.assertEqual(set(entry), {"action", "addr", "size", "stream", "compile_context", "user_metadata",
                                          "time_us", "frames"})
            self.assertTrue(all(set(frame) == {"name", "filename", "line"} for frame in entry["frames"]))
        self.assertEqual(trace[1]["size"], 256 * 1024)  # the requested size
        self.assertLessEqual(trace[0]["time_us"], trace[-1]["time_us"])
        self.assertEqual(set(snapshot["allocator_settings"]) >= {"PYTORCH_CUDA_ALLOC_CONF", "expandable_segments",
                                                                  "max_split_size", "roundup_power2_divisions"}, True)
        self.assertEqual(snapshot["external_annotations"], [])

    def test_ring_disable_and_contexts(self):
        result = run_python("""
            import json, torch
            torch.cuda.memory._record_memory_history(max_entries=3)
            tensors = [torch.empty(10, device="cuda") for _ in range(4)]
            ring = [e["action"] for e in torch.cuda.memory._snapshot()["device_traces"][0]]
            torch.cuda.memory._record_memory_history(enabled=None)
            later = torch.empty(10, device="cuda")
            off = torch.cuda.memory._snapshot()
            torch.cuda.memory._record_memory_history(context="state")
            del tensors[0]
            state = torch.cuda.memory._snapshot()["device_traces"][0]
            blocks = {b["address"]: b for s in off["segments"] for b in s["blocks"]}
            print(json.dumps({"ring": ring, "off_trace": off["device_traces"][0],
                              "kept_frames": len(blocks[tensors[1].data_ptr()]["frames"]) > 0,
                              "later_frames": blocks[later.data_ptr()]["frames"],
                              "state_entries": [sorted(e) for e in state],
                              "enabled": torch._C._cuda_isHistoryEnabled()}))
        """)
        self.assertEqual(result["ring"], ["alloc", "alloc", "alloc"])  # the last 3 of 5 entries
        self.assertEqual(result["off_trace"], [])  # enabled=None clears the ring
        self.assertTrue(result["kept_frames"])  # live blocks keep their frames
        self.assertEqual(result["later_frames"], [])
        self.assertEqual(result["state_entries"], [sorted(["action", "addr", "size", "stream", "compile_context",
                                                           "user_metadata", "time_us"])] * 2)  # no frames
        self.assertTrue(result["enabled"])

    def test_record_memory_history_signature_and_checks(self):
        result = run_python("""
            import inspect, json, torch
            errors = []
            for kwargs in ({"enabled": "yes"}, {"context": "some"}, {"stacks": "cpp"}):
                try:
                    torch.cuda.memory._record_memory_history(**kwargs)
                except RuntimeError as error:
                    errors.append(str(error))
            print(json.dumps({"signature": str(inspect.signature(torch.cuda.memory._record_memory_history)),
                              "errors": errors}))
        """)
        self.assertIn("max_entries=9223372036854775807", result["signature"].replace(" ", ""))
        self.assertEqual([name for name in ("enabled", "context", "stacks", "max_entries", "device", "clear_history",
                                            "compile_context", "global_record_annotations", "skip_actions")
                          if name in result["signature"]], ["enabled", "context", "stacks", "max_entries", "device",
                                                            "clear_history", "compile_context",
                                                            "global_record_annotations", "skip_actions"])
        self.assertEqual(result["errors"], ["expected state to be 'state', 'all', or None",
                                            "expected context to be 'state', 'alloc', 'all', or None",
                                            "expected stacks to be 'python', or 'all'"])


class Tensors(unittest.TestCase):
    def test_shapes_sizes_and_devices(self):
        result = run_python("""
            import json, torch
            x = torch.randn(4, 8, device="cuda")
            w = torch.ones((8, 3), device="cuda:0", dtype=torch.float16)
            rows = {
                "matmul": list((x @ torch.randn(8, 3, device="cuda")).shape),
                "batched": list(torch.matmul(torch.empty(2, 4, 8, device="cuda"),
                                             torch.empty(8, 5, device="cuda")).shape),
                "sum": [list(x.sum().shape), x.sum().item(), list(x.sum(dim=1).shape)],
                "add": list((x + torch.empty(8, device="cuda")).shape),
                "scalar": list((x * 2).shape),
                "half": w.nbytes, "bf16": torch.zeros(10, dtype=torch.bfloat16, device="cuda").nbytes,
                "int64": torch.zeros(10, dtype=torch.int64, device="cuda").nbytes,
                "device": [str(x.device), repr(torch.device("cuda", 0)), x.is_cuda, x.cpu().is_cuda],
            }
            try:
                x @ torch.randn(4, 3, device="cuda")
            except RuntimeError as error:
                rows["mismatch"] = str(error)
            try:
                x + torch.randn(4, 8)
            except RuntimeError as error:
                rows["devices"] = str(error)
            before = torch.cuda.memory_allocated()
            view = x.view(32)[4:8]
            cpu = x.cpu()
            rows["views_allocate_nothing"] = torch.cuda.memory_allocated() == before
            rows["view_shares"] = view.data_ptr() == x.data_ptr() + 16
            moved = cpu.to("cuda")
            rows["to_allocates"] = torch.cuda.memory_allocated() - before
            print(json.dumps(rows))
        """)
        self.assertEqual(result["matmul"], [4, 3])
        self.assertEqual(result["batched"], [2, 4, 5])
        self.assertEqual(result["sum"], [[], 0.0, [4]])
        self.assertEqual(result["add"], [4, 8])
        self.assertEqual(result["scalar"], [4, 8])
        self.assertEqual((result["half"], result["bf16"], result["int64"]), (48, 20, 80))
        self.assertEqual(result["device"], ["cuda:0", "device(type='cuda', index=0)", True, False])
        self.assertEqual(result["mismatch"], "mat1 and mat2 shapes cannot be multiplied (4x8 and 4x3)")
        self.assertIn("Expected all tensors to be on the same device", result["devices"])
        self.assertTrue(result["views_allocate_nothing"])
        self.assertTrue(result["view_shares"])
        self.assertEqual(result["to_allocates"], 512)  # 128 bytes, rounded to 512

    def test_training_loop(self):
        result = run_python("""
            import json, torch
            model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
            params = list(model.parameters())
            cpu_allocated = torch.cuda.memory_allocated()
            model.cuda()
            same = all(a is b for a, b in zip(params, model.parameters()))
            weights = torch.cuda.memory_allocated()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            losses, allocated = [], []
            for step in range(4):
                x = torch.randn(32, 256, device="cuda")
                loss = torch.nn.functional.cross_entropy(model(x), torch.randint(0, 10, (32,), device="cuda"))
                loss.backward()
                grads = all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())
                optimizer.step()
                optimizer.zero_grad()
                losses.append(loss)  # keeps each step's loss alive
                allocated.append(torch.cuda.memory_allocated())
            try:
                losses[0].backward()
                second = None
            except RuntimeError as error:
                second = str(error).split(" (")[0]
            print(json.dumps({"cpu": cpu_allocated, "same": same, "weights": weights, "grads": grads,
                              "growth": [b - a for a, b in zip(allocated, allocated[1:])], "second": second,
                              "cuda_params": all(p.is_cuda for p in model.parameters())}))
        """)
        self.assertEqual(result["cpu"], 0)
        self.assertTrue(result["same"])
        self.assertTrue(result["cuda_params"])
        self.assertEqual(result["weights"], 4 * (256 * 512 + 512 + 512 * 10) + 512)  # bias of 10 rounds to 512
        self.assertTrue(result["grads"])
        self.assertEqual(result["growth"], [512, 512, 512])  # one retained 0-d loss per step
        self.assertEqual(result["second"], "Trying to backward through the graph a second time")


class UnderTheShim(unittest.TestCase):
    """The CUDA calls come from libc10_cuda.so, one per segment (or per tensor) as in PyTorch."""

    def test_default_mode_allocates_segments_from_libc10_cuda(self):
        report = run_traced("""
            import torch
            tensors = [torch.empty(1000, device="cuda") for _ in range(50)]
            del tensors
            big = torch.empty(30 << 20, dtype=torch.uint8, device="cuda")
        """)
        self.assertEqual(api_counts(report), {"cudaMalloc": 2})
        self.assertIn("in c10_cuda_malloc ", report)
        self.assertIn("(libc10_cuda.so+", report)

    def test_async_backend_is_one_call_per_tensor(self):
        report = run_traced("""
            import torch
            for _ in range(20):
                x = torch.empty(1000, device="cuda")
        """, env={"PYTORCH_CUDA_ALLOC_CONF": "backend:cudaMallocAsync"})
        self.assertEqual(api_counts(report), {"cudaMallocAsync": 20, "cudaFreeAsync": 19})
        self.assertIn("20 allocation(s), 19 free(s)", report)

    def test_no_caching_is_one_cudamalloc_per_tensor(self):
        report = run_traced("""
            import torch
            for _ in range(20):
                x = torch.empty(1000, device="cuda")
        """, env={"PYTORCH_NO_CUDA_MEMORY_CACHING": "1"})
        self.assertEqual(api_counts(report), {"cudaMalloc": 20, "cudaFree": 19})
        self.assertIn("20 allocation(s), 19 free(s)", report)

    def test_expandable_segments_use_the_driver_vmm_calls(self):
        report = run_traced("""
            import torch
            x = torch.empty(30 << 20, dtype=torch.uint8, device="cuda")
        """, env={"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"})
        counts = api_counts(report)
        self.assertNotIn("cudaMalloc", counts)
        self.assertEqual(counts.get("cuMemCreate"), 2, report)


if __name__ == "__main__":
    unittest.main()
