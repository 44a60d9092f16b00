#!/usr/bin/env bash
# The Go example client (go/build.sh: Debian's grpc-go 1.33, built here,
# offline) against the real C++ frontend and backend: its
# context.WithTimeout reaches the backend as a budget, its cancel() stops the
# backend's work, and it prints a hostile trace harmlessly. The checks are
# in chain_fixture.sh.
# shellcheck source=examples/chain_fixture.sh
source "$TEST_SRCDIR/$TEST_WORKSPACE/examples/chain_fixture.sh"
# The sandbox has no writable home: Go's cache and settings go here.
export HOME="$work/home" GOCACHE="$work/gocache"
mkdir -p "$HOME"

begin_case "go client: builds offline in GOPATH mode"
client="$work/go-client"
"$root/examples/go/build.sh" "$client" || {
  fail "go/build.sh failed"
  finish
}
end_case

start_chain
check_deadline go "$client"
check_cancel go "$client"
start_hostile_frontend
check_safe_trace go "$client"
finish
