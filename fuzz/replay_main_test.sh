#!/usr/bin/env bash
# replay_main: replays every file it is given (or that a directory holds),
# and fails when an input is missing or none is given.
# Usage: replay_main_test.sh REPLAY_BINARY CORPUS_FILE...
set -uo pipefail
replay="$1"
shift
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

out="$("$replay" "$@" 2>/dev/null)" || fail "the corpus did not replay"
[ "$out" = "replay: $# inputs ran" ] || fail "expected '$# inputs ran', got '$out'"

dir="${TEST_TMPDIR:-/tmp}/corpus.$$"
mkdir -p "$dir"
cp "$@" "$dir/"
out="$("$replay" -runs=1 "$dir" 2>/dev/null)" || fail "a directory did not replay"
[ "$out" = "replay: $# inputs ran" ] || fail "directory: got '$out'"

err="$("$replay" "$1" "$dir/no-such-input" 2>&1 >/dev/null)" &&
  fail "a missing input passed"
[[ "$err" == *"no-such-input: no such file or directory"* ]] ||
  fail "a missing input was not named: $err"

"$replay" >/dev/null 2>&1 && fail "no input at all passed"
mkdir -p "$dir/empty"
"$replay" "$dir/empty" >/dev/null 2>&1 && fail "an empty directory passed"

[ "$failures" -eq 0 ] && echo "PASS"
exit "$failures"
