#!/usr/bin/env bash
# One minute of the soak (bench/soak.cc): a frontend and a backend, real
# processes on ports they choose, under every kind of call. The soak itself
# asserts and exits 1 when a check fails: both servers stay up and exit 0 on
# SIGTERM, calls_in_flight is 0 at the end, open files are back to their
# count at rest, every kind of call got its answer (95% of each, for a
# noisy machine), and RSS grew less than a generous bound after the
# warm-up (the 5 MB floor is for the 10-minute soak, scripts/soak.sh).
set -uo pipefail
root="$TEST_SRCDIR/$TEST_WORKSPACE"
max_rss_growth_mb=32
if [ -n "${DEADLINE_SANITIZED:-}" ]; then
  # Under ASan a process's RSS grows with the sanitizer's quarantine (freed
  # memory held back, 256 MB by default), not with the servers' own use:
  # the memory bound is for the plain build. Every other check stands.
  echo "soak_test: built with $DEADLINE_SANITIZED, RSS growth not bounded"
  max_rss_growth_mb=100000
fi
"$root/bench/soak" --bin_dir="$root" --duration=60s --warmup=20s \
  --sample_every=2s --max_rss_growth_mb="$max_rss_growth_mb" \
  --json="$TEST_TMPDIR/soak.json"
