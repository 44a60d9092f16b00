#!/usr/bin/env bash
# The whole test suite: installs what is missing, then `bazel test //...`.
# Extra arguments go to bazel, e.g. scripts/test.sh --config=asan
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
exec bazel test "$@" //...
