#!/usr/bin/env bash
# The soak: a frontend and a backend (optimised build, real processes) under
# a steady mix of every kind of call, sampling their memory, threads and
# open files; reports the growth after the first minute and checks that
# nothing leaked (see bench/soak.cc).
#
#   scripts/soak.sh               10 minutes
#   scripts/soak.sh --minutes=30  longer (1 to 120)
#
# Writes bench/results/soak.md and soak.json; exits 1 if a check failed.
# Extra arguments go to the soak binary, e.g. --rate=300.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/soak.sh [--minutes=N] [soak flags]" >&2
  exit 2
}
minutes=10
args=()
for arg in "$@"; do
  case "$arg" in
    --minutes=*) minutes="${arg#--minutes=}" ;;
    --minutes) usage ;;
    *) args+=("$arg") ;;
  esac
done
[[ "$minutes" =~ ^[1-9][0-9]*$ ]] && [ "$minutes" -le 120 ] || usage

scripts/deps.sh build
bazel build -c opt --ui_event_filters=-info,-stdout --noshow_progress \
  //bench:soak //server/backend //server/frontend
bin="$(bazel info -c opt bazel-bin 2>/dev/null)"
mkdir -p bench/results
status=0
"$bin/bench/soak" --bin_dir="$bin" --duration="${minutes}m" \
  --json=bench/results/soak.json "${args[@]}" | tee bench/results/soak.md ||
  status=$?
exit "$status"
