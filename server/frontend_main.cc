// The frontend: forwards its caller's remaining budget to the backend.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "common/signals.h"
#include "server/call_log.h"
#include "server/frontend_service.h"
#include "server/server_runner.h"
#include "server/stats_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to serve on; port 0 picks a free port");
ABSL_FLAG(std::vector<std::string>, backend, {"127.0.0.1:50052"},
          "the backends' host:port, comma-separated; calls and panels are "
          "spread over them");
ABSL_FLAG(absl::Duration, reserve, absl::Milliseconds(10),
          "margin kept back from the caller's budget: the backend call's "
          "deadline is the caller's minus this");
ABSL_FLAG(absl::Duration, min_budget, absl::Milliseconds(5),
          "fail fast with DEADLINE_EXCEEDED when less than reserve + this "
          "is left");
ABSL_FLAG(absl::Duration, default_deadline, absl::Seconds(5),
          "budget for calls that arrive without a deadline");
ABSL_FLAG(absl::Duration, max_deadline, absl::Seconds(60),
          "longer deadlines are clamped to this");
ABSL_FLAG(std::string, propagation, "on",
          "on: the backend call inherits the caller's deadline and "
          "cancellation; off: THE ANTI-PATTERN, a fresh context that drops "
          "both");
ABSL_FLAG(std::string, log, "errors",
          "one line per call on stderr: all, errors (calls not OK) or none");
ABSL_FLAG(absl::Duration, shutdown_drain, absl::Milliseconds(200),
          "on SIGINT/SIGTERM, how long health reports NOT_SERVING while "
          "calls are still accepted, so load balancers move away (0 to 1m)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(1),
          "on SIGINT/SIGTERM, how long calls in flight may finish before "
          "they are cancelled");

int main(int argc, char** argv) {
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler({});  // A stack trace if it ever crashes.
  deadline::BlockTerminationSignals();
  deadline::ParseFlagsOrExit(
      argc, argv,
      "frontend: serves deadline.v1.Frontend and Stats, calling a backend.\n"
      "Usage: frontend [--listen=HOST:PORT] [--backend=HOST:PORT] [flags]",
      __FILE__);
  deadline::FrontendOptions options;
  options.budget.reserve = absl::GetFlag(FLAGS_reserve);
  options.budget.min_budget = absl::GetFlag(FLAGS_min_budget);
  options.budget.default_deadline = absl::GetFlag(FLAGS_default_deadline);
  options.budget.max_deadline = absl::GetFlag(FLAGS_max_deadline);
  if (const absl::Status status = ValidateBudgetOptions(options.budget);
      !status.ok()) {
    deadline::ExitWithUsageError(status.message());
  }
  const std::string propagation = absl::GetFlag(FLAGS_propagation);
  if (propagation != "on" && propagation != "off") {
    deadline::ExitWithUsageError("--propagation must be on or off");
  }
  options.propagate = propagation == "on";
  const absl::StatusOr<deadline::LogMode> log =
      deadline::ParseLogMode(absl::GetFlag(FLAGS_log));
  if (!log.ok()) deadline::ExitWithUsageError(log.status().message());
  options.log = *log;
  const absl::Duration drain = absl::GetFlag(FLAGS_shutdown_drain);
  if (drain < absl::ZeroDuration() || drain > absl::Minutes(1)) {
    deadline::ExitWithUsageError("--shutdown_drain must be 0 to 1m");
  }
  const absl::Duration grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (grace < absl::ZeroDuration() || grace > absl::Minutes(5)) {
    deadline::ExitWithUsageError("--shutdown_grace must be 0 to 5m");
  }

  const std::vector<std::string> backends = absl::GetFlag(FLAGS_backend);
  if (backends.empty()) deadline::ExitWithUsageError("--backend is empty");
  deadline::FrontendService frontend(backends, options);
  deadline::StatsService stats(frontend.stats());
  auto running =
      deadline::StartServer(absl::GetFlag(FLAGS_listen), {&frontend, &stats});
  if (!running.ok()) {
    std::fprintf(stderr, "frontend: %s\n", running.status().ToString().c_str());
    return 1;
  }
  std::printf("frontend listening on %s (backends %s, propagation %s)\n",
              running->address.c_str(), absl::StrJoin(backends, ",").c_str(),
              propagation.c_str());
  std::fflush(stdout);

  const int signal = deadline::WaitForTerminationSignal();
  std::fprintf(stderr, "frontend: signal %d, shutting down\n", signal);
  frontend.BeginShutdown();
  deadline::StopServer(*running->server, drain, grace);
  return 0;
}
