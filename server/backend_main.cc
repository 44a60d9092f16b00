// The backend: slow work that stops as soon as its caller gives up.
#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "server/backend_service.h"
#include "server/server_main.h"
#include "server/stats_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50052",
          "host:port to serve on; port 0 picks a free port");
ABSL_FLAG(absl::Duration, check_interval, absl::Microseconds(500),
          "how often calls in flight are checked for cancellation (1us to "
          "100ms)");
ABSL_FLAG(absl::Duration, backend_reserve, absl::Milliseconds(2),
          "stop work this long before the call's deadline, so the answer "
          "reaches the caller before its own timer fires (0 to 1s)");
ABSL_FLAG(double, slowdown, 1.0,
          "every step takes this many times its requested length (1 to "
          "1000): a slow backend for the fan-out demo");

int main(int argc, char** argv) {
  deadline::InitServerMain(argc, argv,
                           "backend: serves deadline.v1.Backend and Stats.\n"
                           "Usage: backend [--listen=HOST:PORT] [flags]",
                           __FILE__);
  const deadline::ServingFlags serving = deadline::ServingFlagsOrExit();
  deadline::BackendOptions options;
  options.log = serving.log;
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

  deadline::BackendService backend(options);
  deadline::StatsService stats(backend.stats());
  return deadline::ServeUntilSignalled("backend", absl::GetFlag(FLAGS_listen),
                                       {&backend, &stats}, serving, "");
}
