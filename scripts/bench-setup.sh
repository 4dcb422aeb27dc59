# scripts/bench-setup.sh — sourced (from the repository root, `source scripts/bench-setup.sh [DIR]`)
# by the analysis benchmarks (bench-analyze.sh, bench-merge.sh, bench-top.sh): builds build/
# (configuring it first when needed), checks that /usr/bin/time is there, and sets root, cli (this
# build's vramtrace), bench (bench/alloc_bench) and work: DIR when given and not empty (kept), else
# a temporary directory removed at exit.
root=$PWD
if [[ ! -f build/build.ninja ]]; then
    ./scripts/build.sh
fi
ninja -C build >/dev/null
cli=$root/build/src/cli/vramtrace
bench=$root/build/bench/alloc_bench
if [[ ! -x /usr/bin/time ]]; then
    echo "$(basename "$0"): /usr/bin/time is missing (Debian package 'time')" >&2
    exit 1
fi
work=${1:-}
if [[ -z $work ]]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
