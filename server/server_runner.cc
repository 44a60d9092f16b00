#include "server/server_runner.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/time_util.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace deadline {

absl::StatusOr<RunningServer> StartServer(
    absl::string_view listen, const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(std::string(listen),
                           grpc::InsecureServerCredentials(), &port);
  for (grpc::Service* service : services) builder.RegisterService(service);

  RunningServer running;
  running.server = builder.BuildAndStart();
  if (running.server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  }
  const absl::string_view host = listen.substr(0, listen.rfind(':'));
  running.address = absl::StrCat(host, ":", port);
  return running;
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

}  // namespace deadline
