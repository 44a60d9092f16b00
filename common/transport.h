#ifndef DEADLINE_COMMON_TRANSPORT_H_
#define DEADLINE_COMMON_TRANSPORT_H_

#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace deadline {

// TLS material, as paths to PEM files; all empty means plaintext.
struct TlsFiles {
  // This side's certificate chain and private key: a server's identity, or
  // a client's certificate for mutual TLS.
  std::string cert;
  std::string key;
  // A server: the CA that client certificates must chain to (set: mutual
  // TLS is required). A client: the CA the server's certificate must chain
  // to (set: TLS).
  std::string ca;
};

// TLS when `tls.cert` and `tls.key` are set, requiring and verifying client
// certificates when `tls.ca` is set too; plaintext when all are empty.
// INVALID_ARGUMENT naming the flag for a half-given pair or an unreadable
// file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const TlsFiles& tls);

// TLS when `tls.ca` is set (presenting `tls.cert`/`tls.key` as the client's
// certificate when they are set); plaintext when all are empty.
// INVALID_ARGUMENT as above, also for a client certificate without a CA.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
ChannelCredentialsFor(const TlsFiles& tls);

// Keepalive: a connection that stays silent for `time` is pinged, and
// closed when the ping is not answered within `timeout`, so that a peer
// whose host vanished without closing TCP is found out within about
// time + timeout, and its calls end (cancelled) instead of living forever.
struct Keepalive {
  absl::Duration time = absl::Seconds(20);
  absl::Duration timeout = absl::Seconds(10);
};

// The channel arguments that set `keepalive` on either side of a
// connection (a server, or a channel), passed to `set` one by one. gRPC
// 1.51 needs more than the times: pings must be allowed without calls in
// flight, and without a cap on pings without data (its default, 2,
// silently stops keepalive on a connection whose only call is idle). The
// peer must also accept pings this often: a server's
// GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS (5 minutes by
// default) must not exceed its clients' keepalive time.
void ForEachKeepaliveArg(const Keepalive& keepalive,
                         absl::FunctionRef<void(const char*, int)> set);
// The same, into `args`.
void SetKeepalive(const Keepalive& keepalive, grpc::ChannelArguments& args);

// Reads a whole file; INVALID_ARGUMENT naming `flag` when it cannot.
absl::StatusOr<std::string> ReadFileForFlag(const std::string& path,
                                            absl::string_view flag);

}  // namespace deadline

#endif  // DEADLINE_COMMON_TRANSPORT_H_
