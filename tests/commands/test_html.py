#!/usr/bin/env python3
"""tests/commands/test_html.py — `vramtrace html`, checked in a real browser.

Makes two traces on the simulated device: examples/leaky, and a PyTorch stand-in run that runs out
of memory (tests/programs/python/torch_jobs.py out_of_memory on tests/standin_torch). For each, the
page's embedded JSON must parse and agree with `vramtrace report --format json` (same peaks), every
track must keep its peak exactly, no '<' may appear in the embedded data (the trace is named with
one). Then headless Chromium (Debian's `chromium`) loads each page with --dump-dom and
`#click=FRACTION` at a moment with a live set (the page dispatches a mouse click on the timeline
there): no console message (an uncaught error would be one), the expected elements present, the live
set of that moment rendered with the thread(s) of each group; and takes a screenshot of the leaky
page, decoded here (zlib) to check that it is not blank. Without chromium the test is skipped (exit 77), saying so.

Usage: test_html.py CLI LEAKY STANDIN_TORCH_DIR LIBC10_CUDA TORCH_JOBS [--keep DIR]
(--keep: copy the pages and screenshots to DIR; scripts/html-screenshot.sh uses it.)
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

SKIP = 77


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def run(args, env=None, timeout=60):
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    if result.returncode != 0:
        fail(f"{' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result.stdout


def page_data(html):
    match = re.search(r'<script id="vt-data" type="application/json">(.*?)</script>', html, re.S)
    if not match:
        fail("no #vt-data script element in the page")
    if "<" in match.group(1):
        fail("a '<' in the embedded data (must be escaped as \\u003c)")
    return json.loads(match.group(1))


def check_structure(cli, trace, html_path):
    run([cli, "html", trace, "-o", html_path])
    data = page_data(open(html_path, encoding="utf-8").read())
    report = json.loads(run([cli, "report", "--format", "json", trace]))
    if data["format"] != "vramtrace-html":
        fail("format: " + data["format"])
    peaks = [(p["device"], p["bytes"], p["time_ns"]) for p in data["report"]["peaks"]]
    expected = [(p["device"], p["bytes"], p["time_ns"]) for p in report["peaks"]]
    if not peaks or peaks != expected:
        fail(f"peaks {peaks} differ from vramtrace report's {expected}")
    if data["report"]["trace"]["path"] != trace:
        fail(f"trace path {data['report']['trace']['path']!r}, expected {trace!r}")
    if not data["tracks"]:
        fail("no track")
    for track in data["tracks"]:
        if len(track["t"]) != len(track["v"]) or len(track["t"]) > 2 * data["aggregation"]["buckets_per_track"] + 1:
            fail(f"track {track['layer']} of device {track['device']}: {len(track['t'])} points")
        if max(track["v"]) != track["peak_bytes"]:
            fail(f"track {track['layer']} of device {track['device']} lost its peak: {max(track['v'])} != {track['peak_bytes']}")
    for peak in data["report"]["peaks"]:
        device_track = [t for t in data["tracks"] if t["device"] == peak["device"] and t["layer"] == "device"]
        if device_track and peak["time_s"] not in device_track[0]["t"]:
            fail(f"the peak's time {peak['time_s']} is not a point of device {peak['device']}'s track")
        at_peak = [m for m in data["moments"] if m["why"].startswith("peak of") and m["time_ns"] == peak["time_ns"]]
        if not at_peak or "groups" not in at_peak[0]:
            fail(f"no live set at the peak of {peak['device']}")
        expected_bytes = sum(k["bytes"] for k in peak["snapshot"]["kinds"])
        in_use = [u["bytes"] for u in at_peak[0]["in_use"] if u["device"] == peak["device"]]
        if in_use != [expected_bytes]:
            fail(f"in use at the peak of {peak['device']}: {in_use}, the snapshot has {expected_bytes}")
    checkpoints = [m for m in data["moments"] if m["checkpoint"]]
    if len(checkpoints) != data["aggregation"]["checkpoints"]:
        fail(f"{len(checkpoints)} checkpoint moments, expected {data['aggregation']['checkpoints']}")
    named = len(data["report"]["peaks"]) + min(len(data["ooms"]), 20) + 1 + min(len((data["report"].get("torch") or {}).get("snapshots", [])), 50)
    if len(data["moments"]) != len(checkpoints) + named:
        fail(f"{len(data['moments'])} moments: not the {len(checkpoints)} checkpoints and {named} named ones")
    for moment in data["moments"]:
        if "same_as" in moment and "groups" not in data["moments"][moment["same_as"]]:
            fail("a moment refers to one without a live set")
        if "groups" in moment and len(moment["groups"]) > data["aggregation"]["groups_per_live_set"]:
            fail("a live set with more groups than --top")
    return data


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(browser, profile, extra, url):
    args = [browser, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
            "--disable-dev-shm-usage", "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0"] + extra + [url]
    result = subprocess.run(args, capture_output=True, text=True, timeout=90,
                            env=dict(os.environ, HOME=profile))
    if result.returncode != 0:
        fail(f"chromium exited {result.returncode}: {result.stderr[-2000:]}")
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    if console:
        fail("console messages: " + "\n".join(console))
    return result.stdout


def click_target(data):
    """A moment with a non-empty live set, the one farthest from its neighbours (a click lands on a
    whole pixel): (#click=FRACTION of it, its time as the page prints it)."""
    moments = [dict(data["moments"][m["same_as"]], **m) if "same_as" in m else m for m in data["moments"]]
    times = sorted({m["time_s"] for m in moments})
    def room(moment):
        i = times.index(moment["time_s"])
        before = moment["time_s"] - times[i - 1] if i > 0 else moment["time_s"]
        after = times[i + 1] - moment["time_s"] if i + 1 < len(times) else data["duration_s"] - moment["time_s"]
        return min(before, after)
    best = max((m for m in moments if m["groups"]), key=room)
    if data["duration_s"] and room(best) < data["duration_s"] / 400:
        fail(f"no moment with a live set is a few pixels away from the others: {best['time_s']}")
    fraction = best["time_s"] / data["duration_s"] if data["duration_s"] else 0
    shown = "%.6f s" % best["time_s"] if best["time_s"] < 10 else "%.3f s" % best["time_s"]
    return "#click=%.9f" % fraction, shown


def check_dom(browser, profile, html_path, target, torch):
    click, shown = target
    dom = chromium(browser, profile, ["--dump-dom"], "file://" + html_path + click)
    for element in ("vt-meta", "vt-timeline", "vt-live", "vt-live-title", "vt-flame", "vt-leaks", "vt-oom", "vt-run"):
        if f'id="{element}"' not in dom:
            fail(f"no #{element} in the rendered page")
    if 'data-ready="true"' not in dom:
        fail("the page's script did not run to its end")
    title = re.search(r'id="vt-live-title">([^<]*)<', dom)
    if not title or not title.group(1).startswith(f"Live set at {shown} (nearest"):
        fail(f"not the live set at {shown} after {click}: {title.group(1) if title else None}")
    live = dom[dom.index('id="vt-live"'):]
    live = live[:live.index("</section>")]
    if "<table" not in live or "Allocated from" not in live:
        fail("the live set has no table of groups")
    if not re.search(r'<div class="threads">threads? \d+', live):
        fail("the live set's groups do not say which thread(s) allocated them")
    if dom.count('class="vt-track"') < 1 or "vt-peak-mark" not in dom:
        fail("no track or no peak mark drawn")
    if torch:
        for layer in ("torch_allocated", "torch_reserved"):
            if f'data-layer="{layer}"' not in dom:
                fail(f"no {layer} track drawn")
        if "vt-oom-mark" not in dom or "failure(s)" not in dom:
            fail("the out-of-memory failure is not shown")
    print(f"ok: {os.path.basename(html_path)}: rendered, {title.group(1)}")


def png_pixels(path, max_rows):
    """Decodes an 8-bit RGB/RGBA PNG (non-interlaced): its first max_rows rows as tuples."""
    blob = open(path, "rb").read()
    if blob[:8] != b"\x89PNG\r\n\x1a\n":
        fail("the screenshot is not a PNG")
    offset, idat, header = 8, b"", None
    while offset < len(blob):
        length, kind = struct.unpack(">I4s", blob[offset:offset + 8])
        body = blob[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        fail(f"unexpected PNG format: depth {depth}, color type {color}, interlace {interlace}")
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    rows = []
    for y in range(min(height, max_rows)):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up = previous[i]
            if kind == 1:
                row[i] = (row[i] + left) & 255
            elif kind == 2:
                row[i] = (row[i] + up) & 255
            elif kind == 3:
                row[i] = (row[i] + ((left + up) >> 1)) & 255
            elif kind == 4:
                corner = previous[i - channels] if i >= channels else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append([bytes(row[x:x + channels]) for x in range(0, stride, channels)])
        previous = row
    return width, height, rows


def check_screenshot(browser, profile, html_path, click, png_path):
    chromium(browser, profile, ["--hide-scrollbars", "--window-size=1280,1400", "--screenshot=" + png_path],
             "file://" + html_path + click)
    width, height, rows = png_pixels(png_path, 700)
    counts = {}
    for row in rows:
        for pixel in row:
            counts[pixel] = counts.get(pixel, 0) + 1
    total = sum(counts.values())
    commonest = max(counts.values()) / total
    if (width, height) != (1280, 1400) or len(counts) < 50 or commonest > 0.95:
        fail(f"blank-looking screenshot: {width}x{height}, {len(counts)} distinct colours, commonest {commonest:.0%}")
    print(f"ok: screenshot {width}x{height}: {len(counts)} distinct colours in its top {len(rows)} rows, commonest {commonest:.0%}")


def main():
    args = sys.argv[1:]
    keep = None
    if "--keep" in args:
        keep = os.path.abspath(args[args.index("--keep") + 1])
        del args[args.index("--keep"):args.index("--keep") + 2]
    cli, leaky, standin_torch, libc10, jobs = args
    work = tempfile.mkdtemp(prefix="vt-html-")
    try:
        leaky_trace = os.path.join(work, "leaky<script>.trace")  # a '<' the page must escape
        run([cli, "run", "--simulate", "-q", "-o", leaky_trace, leaky])
        env = dict(os.environ, PYTHONPATH=standin_torch, VT_LIBC10_CUDA=libc10, PYTHONDONTWRITEBYTECODE="1")
        torch_trace = os.path.join(work, "torch_oom.trace")
        run([cli, "run", "--simulate", "-q", "-o", torch_trace, "python3", jobs, "out_of_memory"], env=env)
        pages = {"leaky": os.path.join(work, "leaky.html"), "torch": os.path.join(work, "torch_oom.html")}
        leaky = check_structure(cli, leaky_trace, pages["leaky"])
        torch = check_structure(cli, torch_trace, pages["torch"])
        one_device = page_data(run([cli, "html", "--device", "0", leaky_trace]))
        if {t["device"] for t in one_device["tracks"]} != {0} or [p["device"] for p in one_device["report"]["peaks"]] != [0]:
            fail("--device 0 still shows other devices or the host")
        if not any(t["layer"] == "torch_reserved" for t in torch["tracks"]) or not torch["ooms"]:
            fail("the PyTorch trace's page has no PyTorch layer or no OOM")
        if not any("tensors" in m for m in torch["moments"]):
            fail("no PyTorch snapshot moment with its tensors")
        print("ok: embedded data agrees with vramtrace report --format json")
        browser = find_chromium()
        if not browser:
            print("SKIP: chromium is not installed (scripts/install-deps.sh installs Debian's chromium); "
                  "the page was checked but not loaded in a browser")
            return SKIP
        profile = os.path.join(work, "profile")
        check_dom(browser, profile, pages["leaky"], click_target(leaky), False)
        check_dom(browser, profile, pages["torch"], click_target(torch), True)
        shots = {"leaky": os.path.join(work, "leaky.png")}
        check_screenshot(browser, profile, pages["leaky"], click_target(leaky)[0], shots["leaky"])
        if keep:
            shots["torch"] = os.path.join(work, "torch_oom.png")
            check_screenshot(browser, profile, pages["torch"], click_target(torch)[0], shots["torch"])
            os.makedirs(keep, exist_ok=True)
            for path in list(pages.values()) + list(shots.values()):
                shutil.copy(path, keep)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
