"""tests/commands/memory_viz_check.py — reads a `vramtrace export --memory-viz` pickle the way
PyTorch's memory_viz does (torch/utils/viz/MemoryViz.js: annotate_snapshot, process_alloc_data for
the "Active Memory Timeline" and "Active Cached Segment Timeline", and the segment view's
simulate_memory, which replays the history backwards from the segments), and prints what those
views would show as JSON, for tests/commands/test_export.c:

    python3 memory_viz_check.py FILE.pickle DEVICE

{"keys": [...], "peak": bytes at the highest point of the active timeline, "live": bytes active at
 its end, "segment_peak": the same for the segment timeline, "initially_allocated": allocations the
 timeline found live before its first event (0 for a whole trace), "start_blocks"/"start_segments":
 what simulate_memory finds before the first event (0 for a whole trace), "ooms": oom entries,
 "functions": the function names of every frame of every entry}
"""
import json
import pickle
import sys


def annotate(snapshot):
    """annotate_snapshot: free_requested followed by free_completed of one address becomes "free"."""
    traces = []
    for device_trace in snapshot["device_traces"]:
        trace = []
        for entry in device_trace:
            entry.setdefault("frames", [])
            if entry["action"] == "free_completed" and trace and trace[-1]["action"] == "free_requested" \
                    and trace[-1]["addr"] == entry["addr"]:
                trace[-1]["action"] = "free"
                continue
            trace.append(entry)
        traces.append(trace)
    snapshot["device_traces"] = traces
    for segment in snapshot["segments"]:
        address = segment["address"]
        for block in segment["blocks"]:
            block["addr"] = address
            address += block["size"]


def process_alloc_data(snapshot, device, plot_segments):
    """process_alloc_data, without the drawing: the running total and what was live before."""
    alloc = "segment_alloc" if plot_segments else "alloc"
    frees = ("segment_free",) if plot_segments else ("free", "free_completed")
    elements, actions, initially_allocated, addr_to_alloc = [], [], [], {}
    for entry in snapshot["device_traces"][device]:
        if entry["action"] == alloc:
            elements.append(entry)
            addr_to_alloc[entry["addr"]] = len(elements) - 1
            actions.append(len(elements) - 1)
        elif entry["action"] in frees:
            if entry["addr"] in addr_to_alloc:
                actions.append(addr_to_alloc.pop(entry["addr"]))
            else:
                elements.append(entry)
                initially_allocated.append(len(elements) - 1)
                actions.append(len(elements) - 1)
    for segment in snapshot["segments"]:
        if segment["device"] != device:
            continue
        if plot_segments:
            if segment["address"] not in addr_to_alloc:
                elements.append({"size": segment["total_size"]})
                initially_allocated.append(len(elements) - 1)
        else:
            for block in segment["blocks"]:
                if block["state"] == "active_allocated" and block["addr"] not in addr_to_alloc:
                    elements.append({"size": block["requested_size"]})
                    initially_allocated.append(len(elements) - 1)
    total = sum(elements[e]["size"] for e in initially_allocated)
    current, peak = set(initially_allocated), total
    for element in actions:
        if element in current:
            current.remove(element)
            total -= elements[element]["size"]
        else:
            current.add(element)
            total += elements[element]["size"]
        peak = max(peak, total)
    return peak, total, len(initially_allocated)


def simulate_memory_at_start(snapshot, device):
    """The segment view's simulate_memory(-1): the history undone from the end."""
    segments = {s["address"]: s["total_size"] for s in snapshot["segments"] if s["device"] == device}
    blocks = {b["addr"] for s in snapshot["segments"] if s["device"] == device for b in s["blocks"]
              if b["state"] in ("active_allocated", "active_pending_free")}
    for entry in reversed(snapshot["device_traces"][device]):
        action = entry["action"]
        if action in ("free", "free_completed"):
            blocks.add(entry["addr"])
        elif action == "alloc":
            blocks.remove(entry["addr"])  # KeyError: an alloc of a block that was not there
        elif action == "segment_free":
            segments[entry["addr"]] = entry["size"]
        elif action == "segment_alloc":
            del segments[entry["addr"]]
    return len(blocks), len(segments)


def main():
    with open(sys.argv[1], "rb") as file:
        snapshot = pickle.load(file)
    device = int(sys.argv[2])
    keys = sorted(snapshot)
    annotate(snapshot)
    peak, live, initially = process_alloc_data(snapshot, device, False)
    segment_peak, _, _ = process_alloc_data(snapshot, device, True)
    start_blocks, start_segments = simulate_memory_at_start(snapshot, device)
    functions = sorted({frame["name"] for entry in snapshot["device_traces"][device] for frame in entry["frames"]})
    ooms = sum(1 for entry in snapshot["device_traces"][device] if entry["action"] == "oom")
    print(json.dumps({"keys": keys, "peak": peak, "live": live, "segment_peak": segment_peak,
                      "initially_allocated": initially, "start_blocks": start_blocks,
                      "start_segments": start_segments, "ooms": ooms, "functions": functions}))


if __name__ == "__main__":
    main()
