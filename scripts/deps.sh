#!/usr/bin/env bash
# Installs the Debian (bookworm) packages a task needs, if any are missing.
# Safe to run again: it installs nothing when all are present.
#
#   scripts/deps.sh          what the build and the demo need
#   scripts/deps.sh test     ... and what the test suite uses
#   scripts/deps.sh bench    ... and the load generator and profiler
#   scripts/deps.sh fuzz     ... and clang with libFuzzer
#
# It says in one line what it installs; apt's output goes to a log that is
# shown only if the install fails.
set -euo pipefail

build=(
  bazel-bootstrap                        # Bazel 4.2.3
  g++ pkgconf
  libgrpc++-dev protobuf-compiler-grpc   # gRPC 1.51 and grpc_cpp_plugin
  libprotobuf-dev protobuf-compiler      # Protobuf 3.21 and protoc
  libabsl-dev                            # Abseil 20220623
  libgtest-dev libgmock-dev              # GoogleTest 1.12
  prometheus-cpp-dev                     # the servers' /metrics
  procps                                 # pgrep, used by the demo
  nginx                                  # the edge proxy (deploy/edge/)
  libnginx-mod-stream                    # ... as a TCP relay (passthrough)
)
test=(
  librsvg2-bin                           # rsvg-convert: the SVG timeline test
  python3 python3-yaml                   # test helpers: XML/JSON/YAML checks
  python3-grpcio python3-protobuf        # the Python client, foreign peers
  python3-h2                             # raw HTTP/2 peers: floods, half-open streams
  golang-go golang-google-grpc-dev       # the Go client (GOPATH mode)
  golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev
  golang-golang-x-sync-dev protoc-gen-go protoc-gen-go-grpc
  openssl                                # certificates for the TLS tests
  iproute2                               # network namespaces as test hosts
)
bench=(nghttp2-client linux-perf python3-h2)  # h2load; perf; HTTP/2 floods
fuzz=(clang libfuzzer-14-dev)
# Installed without their recommends (which pull in a web UI and services).
no_recommends=()
test_no_recommends=(prometheus)          # promtool and a Prometheus server

wanted=("${build[@]}")
case "${1:-build}" in
  build) ;;
  test) wanted+=("${test[@]}"); no_recommends+=("${test_no_recommends[@]}") ;;
  bench) wanted+=("${bench[@]}" golang-go golang-google-grpc-dev
                  golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev
                  protoc-gen-go protoc-gen-go-grpc) ;;
  fuzz) wanted+=("${fuzz[@]}") ;;
  *) echo "usage: scripts/deps.sh [build|test|bench|fuzz]" >&2; exit 2 ;;
esac

missing_of() {
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
      grep -q "install ok installed" || echo "$package"
  done
}
mapfile -t missing < <(missing_of "${wanted[@]}")
mapfile -t missing_nr < <(missing_of "${no_recommends[@]}")
[ $((${#missing[@]} + ${#missing_nr[@]})) -eq 0 ] && exit 0

echo "deps: installing ${missing[*]} ${missing_nr[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
log="$(mktemp -t deps.XXXXXX.log)"
install() {
  $sudo apt-get update -q &&
    { [ ${#missing[@]} -eq 0 ] ||
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
          "${missing[@]}"; } &&
    { [ ${#missing_nr[@]} -eq 0 ] ||
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
          --no-install-recommends "${missing_nr[@]}"; }
}
if ! install >"$log" 2>&1; then
  echo "deps: the install failed; apt's output:" >&2
  cat "$log" >&2
  exit 1
fi
# The prometheus package enables a system service; the tests start their
# own servers and want none running.
if [ ${#missing_nr[@]} -gt 0 ] && command -v systemctl >/dev/null &&
    systemctl is-active --quiet prometheus 2>/dev/null; then
  $sudo systemctl disable --now prometheus >>"$log" 2>&1 || true
fi
# So does the nginx package (on port 80); the demo and the tests start
# their own nginx, with a configuration of their own, and want none running.
if printf '%s\n' "${missing[@]}" | grep -qx nginx; then
  if command -v systemctl >/dev/null; then
    # Without a running systemd, disable still removes the unit's links.
    $sudo systemctl disable --now nginx >>"$log" 2>&1 ||
      $sudo systemctl disable nginx >>"$log" 2>&1 || true
  fi
  if [ ! -d /run/systemd/system ] && [ -x /etc/init.d/nginx ]; then
    $sudo /etc/init.d/nginx stop >>"$log" 2>&1 || true
    $sudo update-rc.d nginx disable >>"$log" 2>&1 || true
  fi
fi
rm -f "$log"
echo "deps: done" >&2
