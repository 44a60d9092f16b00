#!/usr/bin/env bash
# Builds the Go comparison chain (main.go, for measurement only) into
# OUT_BINARY, offline, in GOPATH mode against Debian's grpc-go: the Go code
# for proto/deadline.proto is generated into a temporary GOPATH, with its Go
# import path given by protoc's M mapping (the .proto names none). Prints
# only errors.
#
#   bench/go_chain/build.sh OUT_BINARY
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bench/go_chain/build.sh OUT_BINARY" >&2; exit 2; }
out="$(realpath -m -- "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

gopath="$(mktemp -d -t go_chain.XXXXXX)"
trap 'rm -rf "$gopath"' EXIT
package=bench.local/deadlinepb
mapping="Mproto/deadline.proto=$package"
mkdir -p "$gopath/src/bench.local/go_chain"
(cd "$root" && protoc -I. -I/usr/include \
  --go_out="$gopath/src" --go_opt="$mapping" \
  --go-grpc_out="$gopath/src" --go-grpc_opt="$mapping" \
  proto/deadline.proto)
cp "$here/main.go" "$gopath/src/bench.local/go_chain/"

export GO111MODULE=off GOFLAGS= GOPATH="$gopath:/usr/share/gocode"
# Go keeps its build cache under $HOME; without one, a throwaway cache.
if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
  export GOCACHE="$gopath/cache"
fi
cd "$gopath/src/bench.local/go_chain"
go build -o "$out" .
