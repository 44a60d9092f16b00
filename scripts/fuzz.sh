#!/usr/bin/env bash
# Fuzzes for real: builds the libFuzzer targets of fuzz/ with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer (--config=fuzz), then runs
# each with libFuzzer over a copy of its corpus.
#
#   scripts/fuzz.sh                     every target, 60 s each
#   scripts/fuzz.sh trace_fuzz 600      one target, 10 minutes
#   scripts/fuzz.sh all 300             every target, 5 minutes each
#
# Everything goes to $FUZZ_OUT (default ./fuzz-output), per target:
# corpus/ (the seeds plus what libFuzzer found interesting; kept between
# runs), crashes/ (crash-*, timeout-*, oom-*: the inputs that failed) and
# log. Exits 1 if a target failed. Once fixed, copy the input into
# fuzz/corpus/<target>/ (named crash-<what>) so `bazel test //fuzz/...`
# replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/fuzz.sh [TARGET|all] [SECONDS]" >&2
  exit 2
}
[ $# -le 2 ] || usage
which="${1:-all}"
seconds="${2:-60}"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || usage

scripts/deps.sh fuzz

mapfile -t all < <(bazel query --noshow_progress 'kind(cc_binary, //fuzz:*)' \
  2>/dev/null | sed -n 's|^//fuzz:\(.*\)_libfuzzer$|\1|p')
[ ${#all[@]} -gt 0 ] || { echo "fuzz: no targets in //fuzz" >&2; exit 1; }
if [ "$which" = all ]; then
  targets=("${all[@]}")
elif printf '%s\n' "${all[@]}" | grep -qx -- "$which"; then
  targets=("$which")
else
  echo "fuzz: no target '$which'; the targets: ${all[*]}" >&2
  exit 2
fi

labels=()
for target in "${targets[@]}"; do labels+=("//fuzz:${target}_libfuzzer"); done
# gold warns about every ASan helper symbol it cannot export: not news.
set +o pipefail
bazel build --config=fuzz "${labels[@]}" 2>&1 |
  grep --line-buffered -v "Cannot export local symbol" >&2
built="${PIPESTATUS[0]}"
set -o pipefail
if [ "$built" -ne 0 ]; then
  echo "fuzz: the build failed: bazel build --config=fuzz ${labels[*]}" >&2
  exit 1
fi
bin="$(bazel info --config=fuzz bazel-bin 2>/dev/null)/fuzz"

out="${FUZZ_OUT:-$PWD/fuzz-output}"
symbolizer="$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)"
failed=0
for target in "${targets[@]}"; do
  dir="$out/$target"
  mkdir -p "$dir/corpus" "$dir/crashes"
  cp -n fuzz/corpus/"$target"/* "$dir/corpus/"
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
           -artifact_prefix="$dir/crashes/" -print_final_stats=1)
  [ -f "fuzz/$target.dict" ] && options+=(-dict="fuzz/$target.dict")
  echo "fuzz: $target for ${seconds}s ($(ls "$dir/corpus" | wc -l) inputs" \
    "to start from)" >&2
  before="$(ls "$dir/crashes" | wc -l)"
  if ASAN_OPTIONS=detect_leaks=1 \
     UBSAN_OPTIONS=print_stacktrace=1 ASAN_SYMBOLIZER_PATH="$symbolizer" \
     "$bin/${target}_libfuzzer" "${options[@]}" "$dir/corpus" \
     >"$dir/log" 2>&1; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")"
    echo "fuzz: $target: no failure in ${runs:-?} runs; corpus now" \
      "$(ls "$dir/corpus" | wc -l) inputs in $dir/corpus" >&2
  else
    failed=1
    echo "fuzz: $target FAILED; the log: $dir/log" >&2
    grep -m1 -E "ERROR: |invariant broken|SUMMARY: " "$dir/log" >&2 || true
    if [ "$(ls "$dir/crashes" | wc -l)" -gt "$before" ]; then
      for input in $(ls -t "$dir/crashes" | head -1); do
        echo "fuzz: the input: $dir/crashes/$input; replay it with" \
          "$bin/${target}_libfuzzer $dir/crashes/$input" >&2
      done
    fi
  fi
done
exit "$failed"
