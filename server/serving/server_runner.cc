#include "server/serving/server_runner.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/server_builder.h"

namespace deadline {
namespace {

int Milliseconds(absl::Duration d) {
  return static_cast<int>(absl::ToInt64Milliseconds(d));
}

}  // namespace

absl::Status ValidateServingOptions(const ServingOptions& options) {
  const auto check = [](bool ok, absl::string_view what) {
    return ok ? absl::OkStatus() : absl::InvalidArgumentError(what);
  };
  const absl::Duration day = absl::Hours(24);
  for (absl::Status status : {
           check(options.max_streams >= 1 && options.max_streams <= 1'000'000,
                 "--max_streams must be 1 to 1000000"),
           check(options.max_memory_bytes >= 0,
                 "--max_memory must be at least 0 (0: unbounded)"),
           check(options.keepalive.time >= absl::Milliseconds(100) &&
                     options.keepalive.time <= day,
                 "--keepalive_time must be 100ms to 24h"),
           check(options.keepalive.timeout >= absl::Milliseconds(100) &&
                     options.keepalive.timeout <= day,
                 "--keepalive_timeout must be 100ms to 24h"),
           check(options.min_ping_interval >= absl::ZeroDuration() &&
                     options.min_ping_interval <= day,
                 "--min_ping_interval must be 0 to 24h"),
           check(options.max_connection_age >= absl::Seconds(1) &&
                     options.max_connection_age <= 7 * day,
                 "--max_connection_age must be 1s to 168h"),
           check(options.max_connection_age_grace >= absl::ZeroDuration() &&
                     options.max_connection_age_grace <= day,
                 "--max_connection_age_grace must be 0 to 24h"),
       }) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<RunningServer> StartServer(
    const ServingOptions& options,
    const std::vector<grpc::Service*>& services) {
  if (absl::Status valid = ValidateServingOptions(options); !valid.ok()) {
    return valid;
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(options.tls);
  if (!credentials.ok()) return credentials.status();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, *credentials, &port);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options.max_streams);
  ForEachKeepaliveArg(options.keepalive, [&](const char* name, int value) {
    builder.AddChannelArgument(name, value);
  });
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      Milliseconds(options.min_ping_interval));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             Milliseconds(options.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             Milliseconds(options.max_connection_age_grace));
  // One process per address: a restarted server must not share its port
  // with an old one still draining (gRPC 1.51 turns SO_REUSEPORT on).
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  grpc::ResourceQuota quota("server");
  if (options.max_memory_bytes > 0) {
    quota.Resize(static_cast<size_t>(options.max_memory_bytes));
    builder.SetResourceQuota(quota);
  }
  for (grpc::Service* service : services) builder.RegisterService(service);

  RunningServer running;
  running.server = builder.BuildAndStart();
  if (running.server == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen));
  }
  if (IsUnixSocket(options.listen)) {
    running.address = options.listen;  // gRPC reports no port for it.
    return running;
  }
  const absl::string_view host =
      absl::string_view(options.listen).substr(0, options.listen.rfind(':'));
  running.address = absl::StrCat(host, ":", port);
  return running;
}

absl::StatusOr<RunningServer> StartServer(
    absl::string_view listen, const std::vector<grpc::Service*>& services) {
  ServingOptions options;
  options.listen = std::string(listen);
  return StartServer(options, services);
}

void StopServer(grpc::Server& server, absl::Duration drain,
                absl::Duration grace,
                const std::function<void()>& before_shutdown) {
  if (grpc::HealthCheckServiceInterface* health =
          server.GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  absl::SleepFor(drain);
  if (before_shutdown) before_shutdown();
  server.Shutdown(ToGrpcDeadline(absl::Now() + grace));
}

bool IsUnixSocket(absl::string_view listen) {
  return absl::StartsWith(listen, "unix:") ||
         absl::StartsWith(listen, "unix-abstract:");
}

bool IsLoopback(absl::string_view listen) {
  if (IsUnixSocket(listen)) return true;
  const absl::string_view host = listen.substr(0, listen.rfind(':'));
  return absl::StartsWith(host, "127.") || host == "localhost" ||
         host == "[::1]" || host == "::1";
}

}  // namespace deadline
