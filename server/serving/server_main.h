#ifndef DEADLINE_SERVER_SERVING_SERVER_MAIN_H_
#define DEADLINE_SERVER_SERVING_SERVER_MAIN_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/impl/service_type.h"
#include "server/deadline/budget.h"
#include "server/observability/call_log.h"
#include "server/observability/metrics.h"
#include "server/serving/server_runner.h"

namespace deadline {

// What both servers' main() share: process set-up, the flags defined in
// server_main.cc (logging, shutdown, the connection limits, keepalive and
// TLS of ServingOptions), and serving until SIGINT or SIGTERM.

// Installs a crash handler that prints a stack trace, blocks SIGINT and
// SIGTERM for WaitForTerminationSignal(), and parses the flags defined in
// `main_file` (the main's __FILE__) and here; exits 2 on a bad flag.
void InitServerMain(int argc, char** argv, absl::string_view usage,
                    absl::string_view main_file);

// Process settings for serving, made by InitServerMain(); for servers with
// a main() of their own (benchmarks).
void TuneForServing();

// The shared flags, checked (exits 2 on a bad value). `listen` and
// `max_deadline` come from the main's own flags: no connection outlives its
// grace while a call may still run, so the grace after the maximum
// connection age must be at least the longest deadline the server allows.
struct ServingFlags {
  LogMode log = LogMode::kErrors;
  absl::Duration drain;
  absl::Duration grace;
  ServingOptions serving;
  // --metrics_listen: HOST:PORT for Prometheus's /metrics; empty: none.
  std::string metrics_listen;
};
ServingFlags ServingFlagsOrExit(absl::string_view listen,
                                absl::Duration max_deadline);

// Sets the budget options both servers take from the shared flags:
// --clock_skew and --absolute_deadline (see BudgetOptions).
void ApplySharedBudgetFlags(BudgetOptions& budget);

// Serves `services` as `flags.serving` says (with health and reflection),
// and, with `flags.metrics_listen` set, `metrics` over HTTP at /metrics
// there, printing "<name> metrics on HOST:PORT"; then prints "<name>
// listening on HOST:PORT<detail>" to stdout (last: everything is served by
// then), waits for SIGINT or SIGTERM, then stops gracefully, calling
// `before_stop` (if any) after the drain (see StopServer); the metrics are
// served until the server has stopped. Warns on stderr when it serves
// plaintext beyond loopback. Returns the process's exit status: 0, or 1 when
// it cannot serve (or cannot serve the metrics).
int ServeUntilSignalled(absl::string_view name, const ServingFlags& flags,
                        const std::vector<grpc::Service*>& services,
                        absl::string_view detail,
                        const std::function<void()>& before_stop = nullptr,
                        const ServerMetrics* metrics = nullptr);

}  // namespace deadline

#endif  // DEADLINE_SERVER_SERVING_SERVER_MAIN_H_
