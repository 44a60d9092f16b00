// The example backend's main(): flags, then serve. See backend.h.
#include <string>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "examples/cpp/backend.h"
#include "examples/cpp/serve.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50052",
          "host:port to serve on; port 0 picks a free port");
ABSL_FLAG(int, workers, 4, "threads that run the work (1 to 1000)");
ABSL_FLAG(absl::Duration, reserve, absl::Milliseconds(2),
          "stop the work this long before the call's deadline");

int main(int argc, char** argv) {
  deadline::ParseFlagsOrExit(
      argc, argv,
      "backend: the example's deadline.v1.Backend.\n"
      "Usage: backend [--listen=HOST:PORT] [--workers=N] [--reserve=2ms]",
      {__FILE__});
  deadline::example::BackendOptions options;
  options.workers = absl::GetFlag(FLAGS_workers);
  options.budget.reserve = absl::GetFlag(FLAGS_reserve);
  if (options.workers < 1 || options.workers > 1000) {
    deadline::ExitWithUsageError("--workers must be 1 to 1000");
  }
  if (const absl::Status valid =
          deadline::ValidateBudgetOptions(options.budget);
      !valid.ok()) {
    deadline::ExitWithUsageError(valid.message());
  }
  deadline::example::BackendService backend(options);
  return deadline::example::ServeForever("backend", &backend,
                                         absl::GetFlag(FLAGS_listen));
}
