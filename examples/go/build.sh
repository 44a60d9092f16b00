#!/usr/bin/env bash
# build.sh OUT_BINARY: builds the Go client offline, in GOPATH mode, against
# Debian's grpc-go 1.33 and protobuf APIv2 (/usr/share/gocode).
#
# The Go code for proto/deadline.proto is generated into a temporary GOPATH
# as package deadlinepb, import path "deadline/v1". The .proto names no
# go_package, so both plugins get the mapping as an M option instead.
# Go's build cache is $GOCACHE (default: Go's own, under $HOME).
set -euo pipefail
out="${1:?usage: build.sh OUT_BINARY}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
gopath="$(mktemp -d)"
trap 'rm -rf "$gopath"' EXIT

mapping="Mproto/deadline.proto=deadline/v1;deadlinepb"
mkdir -p "$gopath/src"
/usr/bin/protoc -I "$root" -I /usr/include \
  --plugin=protoc-gen-go=/usr/bin/protoc-gen-go \
  --plugin=protoc-gen-go-grpc=/usr/bin/protoc-gen-go-grpc \
  --go_out="$gopath/src" --go_opt="$mapping" \
  --go-grpc_out="$gopath/src" --go-grpc_opt="$mapping" \
  "$root/proto/deadline.proto"

GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS="" GOPROXY=off \
  /usr/bin/go build -o "$out" "$here/client.go"
