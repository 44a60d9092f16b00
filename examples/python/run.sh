#!/usr/bin/env bash
# run.sh [FLAGS...]: generates the Python code for proto/deadline.proto into
# a temporary folder and runs client.py with FLAGS, on Debian's Python (where
# python3-grpcio lives; $PYTHON to override). Exits with the client's status.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
"$here/gen.sh" "$gen"
status=0
PYTHONPATH="$gen" "${PYTHON:-/usr/bin/python3}" "$here/client.py" "$@" ||
  status=$?
exit "$status"
