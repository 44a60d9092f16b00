#ifndef DEADLINE_SERVER_FRONTEND_BACKEND_CHANNELS_H_
#define DEADLINE_SERVER_FRONTEND_BACKEND_CHANNELS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/transport.h"
#include "grpcpp/channel.h"

namespace deadline {

// One entry of the frontend's --backend list: a backend, or a replica set
// that gRPC balances over.
struct BackendTarget {
  // As written, for messages and traces: "127.0.0.1:7001",
  // "127.0.0.1:7001+127.0.0.1:7002", "dns:///backend:7000".
  std::string name;
  // What the channel dials: "127.0.0.1:7001", "ipv4:127.0.0.1:7001,...".
  std::string grpc_target;
  // Several replicas (a '+' list, or a resolver that may yield several):
  // balanced round robin, over the replicas whose health service says
  // SERVING.
  bool replica_set = false;
};

// Parses --backend: entries separated by commas; an entry is host:port,
// several host:port joined by '+' (a replica set), or a gRPC target with a
// scheme (dns:///name:port, ipv4:..., unix:...). INVALID_ARGUMENT naming the
// entry that does not parse.
absl::StatusOr<std::vector<BackendTarget>> ParseBackends(
    const std::vector<std::string>& entries);

// How the frontend's channels to its backends behave.
struct BackendChannelOptions {
  // TLS toward the backends: tls.ca to verify them, tls.cert/key as the
  // frontend's client certificate. Plaintext when empty.
  TlsFiles tls;
  Keepalive keepalive;
  // Each connection attempt gives up after this long (gRPC's own minimum,
  // 20 s, would leave fail-fast calls waiting that long on a dead host).
  absl::Duration connect_timeout = absl::Seconds(1);
  // Retries by gRPC's own policy (gRFC A6), of UNAVAILABLE only: attempts
  // in all, 1 (off) to 5. Every attempt lives inside the one deadline.
  int max_attempts = 1;
  absl::Duration initial_backoff = absl::Milliseconds(10);
  absl::Duration max_backoff = absl::Milliseconds(100);
  // Received metadata (trailers included) may be this large: well above
  // any legitimate trace, so that a hostile backend's oversized trailer is
  // received, trimmed and its real status kept, not turned into
  // RESOURCE_EXHAUSTED by gRPC's 8 KiB default.
  int max_metadata_bytes = 1 << 20;
  // The receive window of each backend call, in bytes: how much of a
  // backend's stream this side's transport may hold that the frontend has
  // not read yet. 0 keeps gRPC's default, which grows it to megabytes while
  // data flows fast (BDP probing); a small one makes a slow reader hold a
  // streaming backend back sooner.
  int stream_window_bytes = 0;
};

// OK, or INVALID_ARGUMENT naming the flag and its range.
absl::Status ValidateBackendChannelOptions(
    const BackendChannelOptions& options);

// The service config of a channel to `target`: round_robin with client-side
// health checking for replica sets (pick_first otherwise), the retry policy
// and retry throttling (so that retries cannot amplify an outage).
std::string BackendServiceConfig(const BackendTarget& target,
                                 const BackendChannelOptions& options);

// The paths of Backend's unary methods, for calls through a
// grpc::GenericStub on a backend channel (whose replies the caller parses
// itself: see ParseReply in server/serving/raw_messages.h).
extern const std::string kWorkMethod;    // "/deadline.v1.Backend/Work"
extern const std::string kRecordMethod;  // "/deadline.v1.Backend/Record"

// A channel to `target` with `options`: fail fast (calls never wait for a
// backend that is down), keepalive, reconnects at most 2 s apart.
// `credentials` as made by ChannelCredentialsFor(options.tls).
std::shared_ptr<grpc::Channel> CreateBackendChannel(
    const BackendTarget& target, const BackendChannelOptions& options,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials);

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_BACKEND_CHANNELS_H_
