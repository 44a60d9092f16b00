#ifndef DEADLINE_SERVER_SERVER_RUNNER_H_
#define DEADLINE_SERVER_SERVER_RUNNER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"

namespace deadline {

struct RunningServer {
  std::unique_ptr<grpc::Server> server;
  // "host:port" with the port actually bound (useful after port 0).
  std::string address;
};

// Starts a plaintext server on `listen` ("host:port"; port 0 picks a free
// port) serving `services` (not owned; they must outlive the server), the
// standard health service (grpc.health.v1.Health) and server reflection.
// UNAVAILABLE when the address cannot be bound.
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

}  // namespace deadline

#endif  // DEADLINE_SERVER_SERVER_RUNNER_H_
