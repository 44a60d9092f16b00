#ifndef DEADLINE_TESTS_SUPPORT_METRICS_SERVERS_H_
#define DEADLINE_TESTS_SUPPORT_METRICS_SERVERS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "grpcpp/support/status.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/subprocess.h"

// What the tests of the servers' Prometheus metrics share: the real
// binaries started with --metrics_listen, calls that end each way, and
// scrapes.
namespace deadline::testing {

// A server binary running as a process, serving its metrics.
struct MetricsServer {
  std::unique_ptr<Subprocess> process;
  std::string address;          // gRPC, HOST:PORT
  std::string metrics_address;  // HTTP /metrics, HOST:PORT
};

// Starts the workspace's `binary` ("server/backend/backend", "server/frontend/frontend")
// with `flags`, --listen=127.0.0.1:0 and --metrics_listen=127.0.0.1:0, and
// waits for its "metrics on" and "listening on" lines; nullopt when it did
// not start. Pass --log=none or --log=errors: nobody reads the output
// while the test runs, and a full pipe would stall the server.
absl::optional<MetricsServer> StartWithMetrics(absl::string_view binary,
                                               std::vector<std::string> flags);

// How a call through the frontend is made to end.
enum class Ending {
  kOk,                // 2 steps of 1 ms, 5 s deadline.
  kDeadlineExceeded,  // 100 steps of 10 ms, 150 ms deadline.
  kCancelled,         // 100 steps of 10 ms, 10 s deadline, cancelled after
                      // 100 ms.
};
// Makes one Frontend.Fetch call that ends as `ending` says; returns the
// code the client saw.
grpc::StatusCode FetchEnding(deadline::v1::Frontend::Stub& frontend,
                             Ending ending);

// Backend.Work of one 1 ms step, without a deadline.
grpc::StatusCode WorkWithoutDeadline(deadline::v1::Backend::Stub& backend);

// GET http://<metrics_address>/metrics: the exposition text.
absl::StatusOr<std::string> ScrapeText(const std::string& metrics_address);
// The same, parsed.
absl::StatusOr<std::vector<Sample>> Scrape(const std::string& metrics_address);

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_METRICS_SERVERS_H_
