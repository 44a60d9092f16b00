#!/usr/bin/env bash
# Runs the benchmarks for real (optimised build) and writes
# bench/results/results.md, results.json and latency.svg.
# Extra arguments go to the bench binary, e.g. --only=hop_overhead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
if ! command -v h2load >/dev/null; then
  echo "bench: installing nghttp2-client (h2load)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nghttp2-client >&2
fi
bazel build -c opt --ui_event_filters=-info,-stdout --noshow_progress \
  //bench //server:backend //server:frontend
bin="$(bazel info -c opt bazel-bin 2>/dev/null)"
mkdir -p bench/results
"$bin/bench/bench" --bin_dir="$bin" --out=bench/results "$@"
