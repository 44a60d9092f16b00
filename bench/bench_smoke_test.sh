#!/usr/bin/env bash
# Runs every benchmark in quick mode and checks that each one reported and
# that the three result files are well formed. The numbers are not checked:
# benchmarks are not tests.
set -uo pipefail
root="$TEST_SRCDIR/$TEST_WORKSPACE"
out="$TEST_TMPDIR/bench"
mkdir -p "$out"
# h2load drives the chain comparison when installed, and python3-h2 the
# flood, and nginx the edge proxy; without them, those sections say so in
# a row.
"$root/bench/bench" --quick --out="$out" --bin_dir="$root" \
  --h2load="$(command -v h2load || true)" \
  --python=/usr/bin/python3 --h2flood="$root/bench/h2flood.py" \
  --edge_render="$root/deploy/edge/render.sh" \
  >"$out/stdout" 2>&1
status=$?
cat "$out/stdout"
failed=0
fail() { echo "FAIL: $*"; failed=1; }
[ "$status" -eq 0 ] || fail "bench exited $status"
python3 - "$out" <<'PY' || failed=1
import json, sys, xml.etree.ElementTree as ET
out = sys.argv[1]
results = json.load(open(f"{out}/results.json"))
ids = [s["id"] for s in results["sections"]]
expected = ["hop_overhead", "throughput", "deadline_fidelity", "stop_latency",
            "wasted_work", "budget_accuracy", "checking_cost", "scale",
            "chain_comparison", "flood", "stream_cancel", "overload",
            "partial", "hedging", "ignored_cancel", "burst", "edge"]
assert ids == expected, f"sections {ids}"
for section in results["sections"]:
    assert section["rows"], f"{section['id']} reported nothing"
ET.parse(f"{out}/latency.svg")
md = open(f"{out}/results.md").read()
assert md.count("\n## ") == len(expected), "markdown sections"
print("smoke: every benchmark ran and reported")
PY
exit "$failed"
