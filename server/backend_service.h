#ifndef DEADLINE_SERVER_BACKEND_SERVICE_H_
#define DEADLINE_SERVER_BACKEND_SERVICE_H_

#include <functional>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "proto/deadline.grpc.pb.h"
#include "server/call_log.h"
#include "server/call_stats.h"
#include "server/cancellation_watcher.h"
#include "server/work_request.h"

namespace deadline {

struct BackendOptions {
  WorkLimits limits;
  // How often the calls in flight are asked whether their callers are still
  // waiting (and how often CPU-bound work looks at the answer): work stops
  // within about this long of a cancellation.
  absl::Duration check_interval = absl::Microseconds(500);
  // The loop stops this long before the call's deadline, so the answer, with
  // its explanation and steps done, reaches the caller before the caller's
  // own timer fires.
  absl::Duration reserve = absl::Milliseconds(2);
  // Every step takes this many times its requested length: a way to run one
  // slow backend among fast ones (the dashboard story). At least 1.
  double slowdown = 1.0;
  // Which calls get a log line on stderr.
  LogMode log = LogMode::kErrors;
  // If set, called with the call's trace (this hop only) as each call ends,
  // on its thread: a hook for metrics and benchmarks. Thread-safe and quick.
  std::function<void(const deadline::v1::BudgetTrace&)> on_call_end;
};

// deadline.v1.Backend on the synchronous API: each call runs RunWork() on a
// server thread, under the call's deadline and a CancelSignal that a shared
// CancellationWatcher sets once ServerContext::IsCancelled() says so (the
// sync API has no cancellation callback; one thread asks for all calls).
//
// Work returns OK with the steps done and the budget at start;
// DEADLINE_EXCEEDED when the deadline (less options.reserve) passed, also at
// arrival, when no work is done; CANCELLED when the caller cancelled (or the
// server shut down); INVALID_ARGUMENT for requests outside `limits`. WorkStream
// ends the same ways, writing one WorkProgress per finished step; each write
// waits until the transport has taken the previous one, so a slow reader holds
// the work back instead of growing a buffer. Every call is counted in stats().
// Thread-safe; `clock` must outlive the service.
class BackendService final : public deadline::v1::Backend::Service {
 public:
  explicit BackendService(const BackendOptions& options,
                          Clock& clock = RealClock())
      : options_(options),
        clock_(clock),
        watcher_(options.check_interval, clock) {}

  grpc::Status Work(grpc::ServerContext* context,
                    const deadline::v1::WorkRequest* request,
                    deadline::v1::WorkReply* reply) override;

  grpc::Status WorkStream(
      grpc::ServerContext* context, const deadline::v1::WorkRequest* request,
      grpc::ServerWriter<deadline::v1::WorkProgress>* writer) override;

  const CallStats& stats() const { return stats_; }

 private:
  // After each step: the steps done, the time since the start and the time
  // left (InfiniteDuration() without a deadline). False stops the work.
  using Progress = absl::FunctionRef<bool(
      int steps_done, absl::Duration elapsed, absl::Duration time_left)>;

  // One call of either method: validates, runs the loop, counts, traces and
  // logs the outcome and says how it ended. Fills `reply` when given.
  grpc::Status Run(absl::string_view method, grpc::ServerContext& context,
                   const deadline::v1::WorkRequest& request,
                   deadline::v1::WorkReply* reply, Progress on_step);

  const BackendOptions options_;
  Clock& clock_;
  CancellationWatcher watcher_;
  CallStats stats_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_BACKEND_SERVICE_H_
