#!/usr/bin/env bash
# promtool checks docs/prometheus/rules.yml and runs its unit tests,
# docs/prometheus/rules_test.yml.
set -euo pipefail
if ! command -v promtool >/dev/null; then
  echo "promtool is missing: scripts/deps.sh test installs it" \
    "(Debian's prometheus package)" >&2
  exit 1
fi
cd "$TEST_SRCDIR/$TEST_WORKSPACE/docs/prometheus"
promtool check rules rules.yml
promtool test rules rules_test.yml
