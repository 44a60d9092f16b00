#!/usr/bin/env bash
# The Python example client (python/run.sh: Debian's python3-grpcio) against
# the real C++ frontend and backend: its timeout= reaches the backend as a
# budget (with deadline-at, and as grpc-timeout alone), its .cancel() stops
# the backend's work, and it prints a hostile trace harmlessly. The checks
# are in chain_fixture.sh.
# shellcheck source=examples/chain_fixture.sh
source "$TEST_SRCDIR/$TEST_WORKSPACE/examples/chain_fixture.sh"
client=("$root/examples/python/run.sh")

start_chain
check_deadline python "${client[@]}"
check_relative_only python "${client[@]}" --grpc_timeout_only
check_cancel python "${client[@]}"
start_hostile_frontend
check_safe_trace python "${client[@]}"
finish
