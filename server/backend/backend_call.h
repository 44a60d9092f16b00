#ifndef DEADLINE_SERVER_BACKEND_BACKEND_CALL_H_
#define DEADLINE_SERVER_BACKEND_BACKEND_CALL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "proto/deadline.pb.h"
#include "server/backend/behavior.h"
#include "server/deadline/budget.h"
#include "server/deadline/work_loop.h"
#include "server/deadline/work_request.h"
#include "server/observability/hop_record.h"

namespace deadline {

struct BackendOptions {
  WorkLimits limits;
  // The backend's own budget: it stops `reserve` before its caller's
  // deadline, so the answer, with its explanation and steps done, reaches
  // the caller before the caller's own timer fires. Calls without a
  // deadline get `default_deadline`, longer ones are clamped to
  // `max_deadline`: anyone may call the backend, not only the frontend.
  BudgetOptions budget{/*reserve=*/absl::Milliseconds(2),
                       /*min_budget=*/absl::ZeroDuration(),
                       /*default_deadline=*/absl::Seconds(5),
                       /*max_deadline=*/absl::Seconds(60)};
  // CPU-bound work checks its caller and its deadline at least this often:
  // it stops within about this long of either.
  absl::Duration check_interval = absl::Microseconds(500);
  // Every step takes this many times its requested length: a way to run one
  // slow backend among fast ones (the dashboard story). At least 1.
  double slowdown = 1.0;
  // A TEST AID (fail_rate.h): this share of calls, 0 to 1, is answered
  // UNAVAILABLE at once, before any work.
  double fail_rate = 0;
  // AN ANTI-PATTERN (ignore_cancel.h): the work never checks its caller or
  // its deadline.
  bool ignore_cancel = false;
  // Threads for CPU-bound work (the callback service): default, the cores.
  int workers =
      static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // CPU-bound calls that may wait for a worker; beyond, RESOURCE_EXHAUSTED
  // (as for a call the work ahead would keep from finishing in its time:
  // WorkerPool::Submit).
  int max_queue = 256;
  // Which calls get a log line on stderr.
  LogMode log = LogMode::kErrors;
  // If set, called with the call's trace (this hop only) as each call ends,
  // on the thread that ends it: a hook for tests and benchmarks.
  // Thread-safe and quick.
  std::function<void(const deadline::v1::BudgetTrace&)> on_call_end;
  // If set, told of each call as it ends (the server's metrics); must
  // outlive the service.
  HopObserver* observer = nullptr;
};

// OK when the options make sense; otherwise INVALID_ARGUMENT naming the
// flag and its range.
absl::Status ValidateBackendOptions(const BackendOptions& options);

class BackendCall;

// What a call brings with it, besides its request.
struct CallArrival {
  absl::string_view method;  // A literal: "Work", "WorkStream".
  std::string request_id;
  // grpc-timeout, and deadline-at if the caller sent it.
  CallerDeadline deadline;
  int attempt = 1;  // 1-based, as gRPC's retries count.
};

// What both backend services (callback and sync) share, free of gRPC: the
// options, the budget policy, the behaviour the flags ask for, the counters
// and the log. Each call begins here and ends in its BackendCall.
// Thread-safe; `clock` must outlive it.
class BackendCore {
 public:
  BackendCore(const BackendOptions& options, Clock& clock);
  ~BackendCore();

  const BackendOptions& options() const { return options_; }
  Clock& clock() { return clock_; }
  const CallStats& stats() const { return sink_.stats; }
  // The pattern, or what --fail_rate and --ignore_cancel make of it.
  const BackendBehavior& behavior() const { return *behavior_; }

  // Backend.Record: stores (here, counts) an audit record. INVALID_ARGUMENT
  // naming the field and its limit for a record out of bounds.
  absl::Status Store(const deadline::v1::AuditRecord& record);
  int64_t records() const { return records_.load(std::memory_order_relaxed); }

  // The server is shutting down and cancels the calls still in flight at
  // `cancel_at` (the end of its grace): calls cancelled from then on say the
  // server did it, not their callers.
  void BeginShutdown(absl::Time cancel_at) {
    shutdown_cancels_at_ = absl::ToUnixNanos(cancel_at);
  }

 private:
  friend class BackendCall;

  const BackendOptions options_;
  Clock& clock_;
  const BudgetPolicy policy_;
  // The wrappers the flags ask for, innermost first; behavior_ the last.
  std::vector<std::unique_ptr<BackendBehavior>> wrappers_;
  const BackendBehavior* behavior_ = &BackendBehavior::Pattern();
  HopSink sink_;
  std::atomic<int64_t> records_{0};
  std::atomic<int64_t> shutdown_cancels_at_{
      std::numeric_limits<int64_t>::max()};
};

// How a call's work stopped, as the adapter that ran it saw it: the facts,
// from which BackendCall::End() alone decides why.
struct WorkStop {
  // Steps finished (a stream: messages the transport took).
  int steps_done = 0;
  // When the work stopped.
  absl::Time at;
  // When this side first heard that the caller had gone: gRPC's
  // cancellation (OnCancel, a watcher, IsCancelled() in the loop) or a
  // stream write that failed. InfiniteFuture(): never.
  absl::Time cancel_heard_at = absl::InfiniteFuture();
  // The last moment the caller was known to be still waiting, when the
  // adapter knows better than `cancel_heard_at` (a loop's previous check, a
  // watcher's last "no"): the stop latency of a cancel counts from it.
  absl::Time alive_at = absl::InfinitePast();
  // The call left the queue without any work done.
  bool shed = false;

  // The facts of RunWork's result; `aborted` (a stream write failed) means
  // the call was over when the work heard of it.
  static WorkStop Of(const WorkResult& result);
};

// One call to the backend, free of gRPC: what it asks for and may spend,
// and the one record of how it ended. A service makes one per call from
// what gRPC tells it, runs the work it admits, then ends it once (End,
// Refuse) and answers with the status that returns and the trace().
// Not thread-safe: one thread at a time.
class BackendCall {
 public:
  // The call arrives now: validates `request` (INVALID_ARGUMENT naming the
  // field) and plans its budget from the arrival's deadline. `received`
  // says whether a request arrived that parsed (see ParseRequest()); when it
  // is not OK, the call ends at once with its code.
  BackendCall(BackendCore& core, CallArrival arrival,
              const deadline::v1::WorkRequest& request,
              const absl::Status& received = absl::OkStatus());

  // True when the work should run. Otherwise the call has ended already (a
  // bad request, too little budget left, refused): answer with status().
  bool admitted() const { return !record_.ended(); }

  // The work, with the backend's slowdown applied.
  const WorkSpec& spec() const { return spec_; }
  // When the work must stop: the deadline (or the default, clamped) less
  // the reserve and the arrival slack.
  absl::Time stop_at() const { return stop_at_; }
  // The work began at `started` (the first call counts): before it, the
  // call waited for a worker.
  void WorkStarted(absl::Time started) { record_.WorkStarted(started); }
  // What the work asks about its caller: `caller`, unless a flag says
  // otherwise (see BackendBehavior).
  Caller& Heard(Caller& caller) const { return core_.behavior().Heard(caller); }

  // Ends the call, deciding from `stop` why its work stopped (the one place
  // that does): every step done is OK; a cancellation heard before the
  // deadline (not at it, within kClockTolerance: gRPC cancels a call at its
  // deadline too) is CANCELLED, "the server shut down" once the shutdown's
  // cancel time has come, else "the caller cancelled"; anything else is
  // DEADLINE_EXCEEDED, the stop time having come.
  // The message names this hop, its budget and the steps done. A call that
  // completed after its caller had gone says so. Only the first End() (or
  // Refuse()) counts; it returns the status to answer with.
  const absl::Status& End(const WorkStop& stop);
  // Ends the call refused for overload: RESOURCE_EXHAUSTED with `why`.
  const absl::Status& Refuse(const absl::Status& why);

  // The answer so far: the status once ended.
  const absl::Status& status() const { return status_; }
  // The reply of a unary call: steps done and budget at start.
  void FillReply(deadline::v1::WorkReply& reply) const;
  // A stream's message for finished step `step` (1-based), at `now`.
  void FillProgress(int step, absl::Time now,
                    deadline::v1::WorkProgress& progress) const;
  // This hop's trace, to send back with the status.
  const deadline::v1::BudgetTrace& trace() const { return record_.trace(); }
  absl::Time arrived() const { return record_.arrived(); }

 private:
  const absl::Status& Finish(HopEnding ending);
  // "88ms at arrival", or "no deadline at arrival, so the default 5s".
  std::string BudgetWords() const;

  BackendCore& core_;
  HopRecord record_;
  WorkSpec spec_;
  absl::Time deadline_;
  absl::Time stop_at_ = absl::InfiniteFuture();
  int steps_done_ = 0;
  absl::Status status_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_BACKEND_BACKEND_CALL_H_
