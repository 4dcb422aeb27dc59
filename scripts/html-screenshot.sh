#!/usr/bin/env bash
# scripts/html-screenshot.sh — builds vramtrace, then runs the browser test of `vramtrace html`
# (tests/commands/test_html.py) keeping what it made, and copies its screenshots into docs/images/
# (the README shows them): html-leaky.png (examples/leaky) and html-torch-oom.png (the PyTorch
# stand-in running out of memory). Needs chromium (scripts/install-deps.sh installs it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/build.sh >/dev/null
kept=$(mktemp -d)
trap 'rm -rf "$kept"' EXIT
python3 tests/commands/test_html.py build/src/cli/vramtrace build/examples/leaky tests/standin_torch \
    build/tests/standin_torch/libc10_cuda.so tests/programs/python/torch_jobs.py --keep "$kept" ||
    { status=$?; [[ $status -eq 77 ]] && echo "error: chromium is not installed" >&2; exit 1; }
mkdir -p docs/images
cp "$kept/leaky.png" docs/images/html-leaky.png
cp "$kept/torch_oom.png" docs/images/html-torch-oom.png
echo "==> docs/images/html-leaky.png, docs/images/html-torch-oom.png"
