// The backend: slow work that stops as soon as its caller gives up.
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/flags.h"
#include "server/backend/backend_service.h"
#include "server/backend/sync_backend_service.h"
#include "server/observability/metrics.h"
#include "server/observability/stats_service.h"
#include "server/serving/server_main.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50052",
          "host:port to serve on (port 0 picks a free port), or unix:PATH "
          "for a Unix-domain socket");
ABSL_FLAG(std::string, api, "callback",
          "callback: a call costs memory, not a thread, and OnCancel ends "
          "waiting work at once; sync: a thread per call and a watcher "
          "thread that polls IsCancelled(), for teams whose services are sync");
ABSL_FLAG(absl::Duration, check_interval, absl::Microseconds(500),
          "CPU-bound work checks its caller and its deadline at least this "
          "often (1us to 100ms)");
ABSL_FLAG(absl::Duration, reserve, absl::Milliseconds(2),
          "stop work this long before the call's deadline, so the answer "
          "reaches the caller before its own timer fires");
ABSL_FLAG(absl::Duration, min_budget, absl::ZeroDuration(),
          "answer DEADLINE_EXCEEDED at once, without work, when less than "
          "reserve + this is left at arrival");
ABSL_FLAG(absl::Duration, default_deadline, absl::Seconds(5),
          "budget for calls that arrive without a deadline");
ABSL_FLAG(absl::Duration, max_deadline, absl::Seconds(60),
          "longer deadlines are clamped to this");
ABSL_FLAG(double, slowdown, 1.0,
          "every step takes this many times its requested length (1 to "
          "1000): a slow backend for the fan-out demo");
ABSL_FLAG(double, fail_rate, 0,
          "A TEST AID: answer this fraction of calls (0 to 1) UNAVAILABLE at "
          "once, before any work, as a refusing backend would; the "
          "frontend's --retries resend them");
ABSL_FLAG(bool, ignore_cancel, false,
          "AN ANTI-PATTERN, for teaching: the work never checks for "
          "cancellation or its deadline, and runs every call to the end");
ABSL_FLAG(int, workers, 0,
          "threads for CPU-bound work (callback API); 0: one per core");
ABSL_FLAG(int, max_queue, 256,
          "CPU-bound calls that may wait for a worker; beyond that, or "
          "when the work ahead would keep a call from finishing by its "
          "deadline, RESOURCE_EXHAUSTED at once (callback API)");

// Said where the server says it is listening, so nobody runs the
// anti-pattern by accident.
constexpr char kIgnoring[] = ", IGNORING CANCELLATION: an anti-pattern";

int main(int argc, char** argv) {
  deadline::InitServerMain(argc, argv,
                           "backend: serves deadline.v1.Backend and Stats.\n"
                           "Usage: backend [--listen=HOST:PORT] [flags]",
                           __FILE__);
  deadline::BackendOptions options;
  options.check_interval = absl::GetFlag(FLAGS_check_interval);
  options.budget.reserve = absl::GetFlag(FLAGS_reserve);
  options.budget.min_budget = absl::GetFlag(FLAGS_min_budget);
  options.budget.default_deadline = absl::GetFlag(FLAGS_default_deadline);
  options.budget.max_deadline = absl::GetFlag(FLAGS_max_deadline);
  deadline::ApplySharedBudgetFlags(options.budget);
  options.slowdown = absl::GetFlag(FLAGS_slowdown);
  options.fail_rate = absl::GetFlag(FLAGS_fail_rate);
  options.ignore_cancel = absl::GetFlag(FLAGS_ignore_cancel);
  if (absl::GetFlag(FLAGS_workers) != 0) {
    options.workers = absl::GetFlag(FLAGS_workers);
  }
  options.max_queue = absl::GetFlag(FLAGS_max_queue);
  if (const absl::Status valid = deadline::ValidateBackendOptions(options);
      !valid.ok()) {
    deadline::ExitWithUsageError(valid.message());
  }
  const deadline::ServingFlags serving = deadline::ServingFlagsOrExit(
      absl::GetFlag(FLAGS_listen), options.budget.max_deadline);
  options.log = serving.log;
  const std::string api = absl::GetFlag(FLAGS_api);
  if (api != "callback" && api != "sync") {
    deadline::ExitWithUsageError("--api must be callback or sync");
  }
  // Prometheus's view of the calls, fed as each ends; the gauges read the
  // same snapshot as Stats. Only the callback API has a worker queue.
  std::unique_ptr<deadline::ServerMetrics> metrics;
  if (!serving.metrics_listen.empty()) {
    metrics = std::make_unique<deadline::ServerMetrics>(
        "backend", std::vector<std::string>{"Work", "WorkStream"},
        /*queue=*/api == "callback");
    options.observer = metrics.get();
  }
  if (api == "callback") {
    deadline::BackendService backend(options);
    deadline::StatsService stats([&backend] { return backend.stats(); });
    if (metrics)
      metrics->ReadGaugesFrom([&backend] { return backend.stats(); });
    return deadline::ServeUntilSignalled(
        "backend", serving, {&backend, &stats},
        absl::StrCat(" (callback API, ", options.workers, " workers",
                     options.ignore_cancel ? kIgnoring : "", ")"),
        [&] { backend.BeginShutdown(absl::Now() + serving.grace); },
        metrics.get());
  }
  deadline::SyncBackendService backend(options);
  deadline::StatsService stats([&backend] { return backend.stats(); });
  if (metrics) metrics->ReadGaugesFrom([&backend] { return backend.stats(); });
  return deadline::ServeUntilSignalled(
      "backend", serving, {&backend, &stats},
      absl::StrCat(" (sync API", options.ignore_cancel ? kIgnoring : "", ")"),
      [&] { backend.BeginShutdown(absl::Now() + serving.grace); },
      metrics.get());
}
