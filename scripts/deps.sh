#!/usr/bin/env bash
# Installs the Debian (bookworm) packages the build and tests need, if any
# are missing. Safe to run again: it installs nothing when all are present.
set -euo pipefail

packages=(
  bazel-bootstrap          # Bazel 4.2.3
  g++ pkgconf
  libgrpc++-dev protobuf-compiler-grpc   # gRPC 1.51 and grpc_cpp_plugin
  libprotobuf-dev protobuf-compiler      # Protobuf 3.21 and protoc
  libabsl-dev                            # Abseil 20220623
  libgtest-dev libgmock-dev              # GoogleTest 1.12
  librsvg2-bin                           # rsvg-convert: the SVG timeline test
  python3 procps                         # test helpers: XML/JSON checks, pgrep
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
