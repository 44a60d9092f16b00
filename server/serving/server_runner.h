#ifndef DEADLINE_SERVER_SERVING_SERVER_RUNNER_H_
#define DEADLINE_SERVER_SERVING_SERVER_RUNNER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/transport.h"
#include "grpcpp/server.h"

namespace deadline {

// How a server listens, and the bounds that keep hostile, flooding or dead
// peers from holding its resources. The defaults fit a production service:
// they do not cap legitimate load (thousands of calls in flight on one
// frontend connection), yet no stream can live forever.
struct ServingOptions {
  // "host:port"; port 0 picks a free port.
  std::string listen = "127.0.0.1:0";
  // HTTP/2 MAX_CONCURRENT_STREAMS: calls in flight on one connection. The
  // default carries the scale this project is held to (5,000 calls over a
  // frontend's one connection to a backend) with room for health checks;
  // each stream a peer holds open costs about 12 KB (20 KB as it goes).
  int max_streams = 5'100;
  // gRPC's memory quota for the server (ResourceQuota): under pressure gRPC
  // shrinks its buffers and flow-control windows. In 1.51 it does not count
  // calls' own memory, so it bounds neither half-open streams nor rapid
  // resets (see README, "Reliability and security"). 0: unbounded.
  int64_t max_memory_bytes = int64_t{512} << 20;
  // See Keepalive: a silent connection is pinged, a dead one dropped.
  Keepalive keepalive;
  // Clients may ping this often without being told off (GOAWAY
  // too_many_pings): at most their keepalive time.
  absl::Duration min_ping_interval = absl::Seconds(5);
  // A connection is closed (GOAWAY) after this long, plus gRPC's jitter,
  // and its calls get `max_connection_age_grace` to finish, after which
  // they are cancelled: no stream, half-open or not, lives forever. The
  // grace must be at least the longest call a server allows.
  absl::Duration max_connection_age = absl::Minutes(30);
  absl::Duration max_connection_age_grace = absl::Minutes(2);
  // TLS (and mutual TLS with tls.ca); plaintext when empty.
  TlsFiles tls;
};

// OK, or INVALID_ARGUMENT naming the flag and its range.
absl::Status ValidateServingOptions(const ServingOptions& options);

struct RunningServer {
  std::unique_ptr<grpc::Server> server;
  // "host:port" with the port actually bound (useful after port 0).
  std::string address;
};

// Starts a server with `options` serving `services` (not owned; they must
// outlive the server), the standard health service (grpc.health.v1.Health)
// and server reflection. INVALID_ARGUMENT for bad TLS files, UNAVAILABLE
// when the address cannot be bound.
absl::StatusOr<RunningServer> StartServer(
    const ServingOptions& options, const std::vector<grpc::Service*>& services);

// A plaintext server on `listen` with the default limits.
absl::StatusOr<RunningServer> StartServer(
    absl::string_view listen, const std::vector<grpc::Service*>& services);

// Graceful stop: health turns NOT_SERVING at once, calls are still served
// for `drain` (so health checkers and load balancers see it and move
// away), then `before_shutdown` runs (if any), new calls are refused, calls
// in flight get `grace` to finish and are then cancelled; returns once every
// handler has returned.
void StopServer(grpc::Server& server, absl::Duration drain,
                absl::Duration grace,
                const std::function<void()>& before_shutdown = nullptr);

// Whether `listen` is a Unix-domain socket ("unix:PATH",
// "unix-abstract:NAME", as gRPC spells them): only this host reaches it.
bool IsUnixSocket(absl::string_view listen);

// Whether `listen` ("host:port", or a Unix-domain socket) can be reached
// from this host only.
bool IsLoopback(absl::string_view listen);

}  // namespace deadline

#endif  // DEADLINE_SERVER_SERVING_SERVER_RUNNER_H_
