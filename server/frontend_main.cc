// The frontend: forwards its caller's remaining budget to the backend.
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "server/frontend_service.h"
#include "server/server_main.h"
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
int main(int argc, char** argv) {
  deadline::InitServerMain(
      argc, argv,
      "frontend: serves deadline.v1.Frontend and Stats, calling backends.\n"
      "Usage: frontend [--listen=HOST:PORT] [--backend=HOST:PORT,...] [flags]",
      __FILE__);
  const deadline::ServingFlags serving = deadline::ServingFlagsOrExit();
  deadline::FrontendOptions options;
  options.log = serving.log;
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
  options.propagation = propagation == "on"
                            ? deadline::Propagation::kDeadlineAndCancellation
                            : deadline::Propagation::kNone;
  const std::vector<std::string> backends = absl::GetFlag(FLAGS_backend);
  if (backends.empty()) deadline::ExitWithUsageError("--backend is empty");

  deadline::FrontendService frontend(backends, options);
  deadline::StatsService stats(frontend.stats());
  return deadline::ServeUntilSignalled(
      "frontend", absl::GetFlag(FLAGS_listen), {&frontend, &stats}, serving,
      absl::StrCat(" (backends ", absl::StrJoin(backends, ","),
                   ", propagation ", propagation, ")"),
      [&frontend] { frontend.BeginShutdown(); });
}
