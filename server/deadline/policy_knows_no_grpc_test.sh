#!/usr/bin/env bash
# policy_knows_no_grpc_test POLICY_DEPS PROPAGATION_DEPS: each file lists a
# set of targets' whole dependency graph (genquery). The policy's must not
# hold gRPC; propagation's must (or the check could not see it).
set -euo pipefail
grpc='^@system//:grpc$'
if grep -q "$grpc" "$1"; then
  echo "the pattern's policy depends on gRPC; these pull it in:" >&2
  grep -v '^@' "$1" >&2
  exit 1
fi
if ! grep -q "$grpc" "$2"; then
  echo "propagation does not depend on gRPC: the check sees nothing" >&2
  exit 1
fi
echo "no gRPC in $(grep -c '^//' "$1") targets of the policy"
