#!/usr/bin/env bash
# gen.sh OUT_DIR: generates deadline_pb2.py and deadline_pb2_grpc.py from
# proto/deadline.proto into OUT_DIR, with Debian's protoc and
# grpc_python_plugin (the same gRPC 1.51 as python3-grpcio).
set -euo pipefail
out="${1:?usage: gen.sh OUT_DIR}"
proto_dir="$(cd "$(dirname "$0")/../../proto" && pwd)"
mkdir -p "$out"
/usr/bin/protoc -I "$proto_dir" -I /usr/include \
  --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin \
  "$proto_dir/deadline.proto"
