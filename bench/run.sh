#!/usr/bin/env bash
# Runs the benchmarks for real (optimised build) and writes
# bench/results/results.md, results.json and latency.svg.
# Extra arguments go to the bench binary, e.g. --only=hop_overhead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh bench
bazel build -c opt --ui_event_filters=-info,-stdout --noshow_progress \
  //bench //bench:bare_chain //server/backend //server/frontend
bin="$(bazel info -c opt bazel-bin 2>/dev/null)"
# The Go comparison chain, built fresh for this run.
go_dir="$(mktemp -d -t bench-go.XXXXXX)"
trap 'rm -rf "$go_dir"' EXIT
bench/go_chain/build.sh "$go_dir/go_chain"
mkdir -p bench/results
"$bin/bench/bench" --bin_dir="$bin" --out=bench/results \
  --h2load="$(command -v h2load)" --go_chain="$go_dir/go_chain" \
  --python=/usr/bin/python3 --h2flood=bench/h2flood.py \
  --edge_render=deploy/edge/render.sh "$@"
