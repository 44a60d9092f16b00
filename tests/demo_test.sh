#!/usr/bin/env bash
# Runs the README's demo end to end on the binaries built for the tests,
# and checks that it behaved as described, drew its timelines, and left no
# process behind.
set -uo pipefail
root="$TEST_SRCDIR/$TEST_WORKSPACE"
export DEMO_BIN_DIR="$root"
export DEMO_OUT="$TEST_TMPDIR/demo-output"
# The demo's own files (nginx's directories among them) under this run's
# temporary directory, so that the check below sees this run's nginx only.
export TMPDIR="$TEST_TMPDIR"
log="$TEST_TMPDIR/demo.log"

status=0
bash "$root/scripts/demo.sh" >"$log" 2>&1 || status=$?
cat "$log"

failed=0
fail() { echo "FAIL: $*"; failed=1; }
[ "$status" -eq 0 ] || fail "the demo exited $status"
grep -q "demo: every scenario behaved as described" "$log" ||
  fail "not every scenario behaved as described"
for scenario in 1-generous 2-tight 3-ctrl-c 4-fail-fast 5-fanout-partial \
    5-fanout-all 5-fanout-sibling-cancel 7-no-propagation 11-edge-ok \
    11-edge-tight; do
  grep -q "<svg" "$DEMO_OUT/$scenario.svg" 2>/dev/null ||
    fail "no timeline drawn for $scenario"
done
grep -q "timeline of request" "$log" || fail "no text timeline printed"
sleep 0.2
if pgrep -f "$root/server/" >/dev/null; then
  pgrep -af "$root/server/"
  fail "the demo left servers running"
fi
if pgrep -f "nginx.*$TEST_TMPDIR" >/dev/null; then
  pgrep -af "nginx.*$TEST_TMPDIR"
  fail "the demo left nginx running"
fi
grep -q "request_id=demo-edge-ok" "$log" ||
  fail "the edge scenario showed no nginx log line"
[ "$failed" -eq 0 ] && echo "demo test: ok"
exit "$failed"
