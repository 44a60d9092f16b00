#include "server/server_main.h"

#include <cstdio>
#include <string>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/flags.h"
#include "common/signals.h"
#include "server/server_runner.h"

ABSL_FLAG(std::string, log, "errors",
          "one line per call on stderr: all, errors (calls not OK) or none");
ABSL_FLAG(absl::Duration, shutdown_drain, absl::Milliseconds(200),
          "on SIGINT/SIGTERM, how long health reports NOT_SERVING while "
          "calls are still accepted, so load balancers move away (0 to 1m)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(1),
          "on SIGINT/SIGTERM, how long calls in flight may finish before "
          "they are cancelled (0 to 5m)");

namespace deadline {

void InitServerMain(int argc, char** argv, absl::string_view usage,
                    absl::string_view main_file) {
  TuneForServing();
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler({});
  BlockTerminationSignals();
  ParseFlagsOrExit(argc, argv, usage, {main_file, __FILE__});
}

void TuneForServing() {
  // Debian's Abseil is built with Mutex deadlock detection on: every lock
  // of every absl::Mutex (gRPC's own included) updates a graph of lock
  // order, a few per cent of a server's CPU (see bench/). It is a debugging
  // aid; servers turn it off, tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

ServingFlags ServingFlagsOrExit() {
  ServingFlags flags;
  const absl::StatusOr<LogMode> log = ParseLogMode(absl::GetFlag(FLAGS_log));
  if (!log.ok()) ExitWithUsageError(log.status().message());
  flags.log = *log;
  flags.drain = absl::GetFlag(FLAGS_shutdown_drain);
  if (flags.drain < absl::ZeroDuration() || flags.drain > absl::Minutes(1)) {
    ExitWithUsageError("--shutdown_drain must be 0 to 1m");
  }
  flags.grace = absl::GetFlag(FLAGS_shutdown_grace);
  if (flags.grace < absl::ZeroDuration() || flags.grace > absl::Minutes(5)) {
    ExitWithUsageError("--shutdown_grace must be 0 to 5m");
  }
  return flags;
}

int ServeUntilSignalled(absl::string_view name, absl::string_view listen,
                        const std::vector<grpc::Service*>& services,
                        const ServingFlags& flags, absl::string_view detail,
                        const std::function<void()>& before_stop) {
  const std::string who(name);
  absl::StatusOr<RunningServer> running = StartServer(listen, services);
  if (!running.ok()) {
    std::fprintf(stderr, "%s: %s\n", who.c_str(),
                 running.status().ToString().c_str());
    return 1;
  }
  std::printf("%s listening on %s%s\n", who.c_str(), running->address.c_str(),
              std::string(detail).c_str());
  std::fflush(stdout);

  const int signal = WaitForTerminationSignal();
  std::fprintf(stderr, "%s: signal %d, shutting down\n", who.c_str(), signal);
  StopServer(*running->server, flags.drain, flags.grace, before_stop);
  return 0;
}

}  // namespace deadline
