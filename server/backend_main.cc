// The backend: slow work that stops as soon as its caller gives up.
#include <cstdio>
#include <string>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "common/signals.h"
#include "server/backend_service.h"
#include "server/call_log.h"
#include "server/server_runner.h"
#include "server/stats_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50052",
          "host:port to serve on; port 0 picks a free port");
ABSL_FLAG(absl::Duration, check_interval, absl::Microseconds(500),
          "how often the work loop checks for cancellation (1us to 100ms)");
ABSL_FLAG(absl::Duration, backend_reserve, absl::Milliseconds(2),
          "stop work this long before the call's deadline, so the answer "
          "reaches the caller before its own timer fires (0 to 1s)");
ABSL_FLAG(double, slowdown, 1.0,
          "every step takes this many times its requested length (1 to "
          "1000): a slow backend for the fan-out demo");
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
  deadline::ParseFlagsOrExit(argc, argv,
                             "backend: serves deadline.v1.Backend and Stats.\n"
                             "Usage: backend [--listen=HOST:PORT] [flags]",
                             __FILE__);
  deadline::BackendOptions options;
  options.check_interval = absl::GetFlag(FLAGS_check_interval);
  if (options.check_interval < absl::Microseconds(1) ||
      options.check_interval > absl::Milliseconds(100)) {
    deadline::ExitWithUsageError("--check_interval must be 1us to 100ms");
  }
  options.reserve = absl::GetFlag(FLAGS_backend_reserve);
  if (options.reserve < absl::ZeroDuration() ||
      options.reserve > absl::Seconds(1)) {
    deadline::ExitWithUsageError("--backend_reserve must be 0 to 1s");
  }
  options.slowdown = absl::GetFlag(FLAGS_slowdown);
  if (!(options.slowdown >= 1.0 && options.slowdown <= 1000.0)) {
    deadline::ExitWithUsageError("--slowdown must be 1 to 1000");
  }
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

  deadline::BackendService backend(options);
  deadline::StatsService stats(backend.stats());
  auto running =
      deadline::StartServer(absl::GetFlag(FLAGS_listen), {&backend, &stats});
  if (!running.ok()) {
    std::fprintf(stderr, "backend: %s\n", running.status().ToString().c_str());
    return 1;
  }
  std::printf("backend listening on %s\n", running->address.c_str());
  std::fflush(stdout);

  const int signal = deadline::WaitForTerminationSignal();
  std::fprintf(stderr, "backend: signal %d, shutting down\n", signal);
  deadline::StopServer(*running->server, drain, grace);
  return 0;
}
