#include "server/backend/backend_call.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"
#include "server/backend/fail_rate.h"
#include "server/backend/ignore_cancel.h"

namespace deadline {

absl::Status ValidateBackendOptions(const BackendOptions& options) {
  if (absl::Status budget = ValidateBudgetOptions(options.budget);
      !budget.ok()) {
    return budget;
  }
  if (options.check_interval < absl::Microseconds(1) ||
      options.check_interval > absl::Milliseconds(100)) {
    return absl::InvalidArgumentError("--check_interval must be 1us to 100ms");
  }
  if (!(options.slowdown >= 1.0 && options.slowdown <= 1000.0)) {
    return absl::InvalidArgumentError("--slowdown must be 1 to 1000");
  }
  if (!(options.fail_rate >= 0.0 && options.fail_rate <= 1.0)) {
    return absl::InvalidArgumentError("--fail_rate must be 0 to 1");
  }
  if (options.workers < 1 || options.workers > 1024) {
    return absl::InvalidArgumentError("--workers must be 1 to 1024");
  }
  if (options.max_queue < 0 || options.max_queue > 1'000'000) {
    return absl::InvalidArgumentError("--max_queue must be 0 to 1000000");
  }
  return absl::OkStatus();
}

BackendCore::BackendCore(const BackendOptions& options, Clock& clock)
    : options_(options), clock_(clock), policy_(options.budget, clock) {
  sink_.log = options.log;
  sink_.on_call_end = options.on_call_end;
  sink_.observer = options.observer;
  // The flags that change the pattern each wrap it in a piece of their own.
  const auto wrap = [this](std::unique_ptr<BackendBehavior> wrapper) {
    behavior_ = wrapper.get();
    wrappers_.push_back(std::move(wrapper));
  };
  if (options.fail_rate > 0) wrap(FailSome(options.fail_rate, *behavior_));
  if (options.ignore_cancel) wrap(IgnoreCancel(*behavior_, clock));
}

BackendCore::~BackendCore() = default;

absl::Status BackendCore::Store(const deadline::v1::AuditRecord& record) {
  constexpr size_t kMaxId = 128, kMaxName = 32;
  if (record.request_id().size() > kMaxId) {
    return absl::InvalidArgumentError(
        absl::StrCat("backend: request_id is ", record.request_id().size(),
                     " bytes, at most ", kMaxId, " allowed"));
  }
  if (record.method().size() > kMaxName || record.code().size() > kMaxName) {
    return absl::InvalidArgumentError(absl::StrCat(
        "backend: method and code are at most ", kMaxName, " bytes each"));
  }
  if (record.steps_done() < 0) {
    return absl::InvalidArgumentError("backend: steps_done must be 0 or more");
  }
  records_.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

BackendCall::BackendCall(BackendCore& core, CallArrival arrival,
                         const deadline::v1::WorkRequest& request,
                         const absl::Status& received)
    : core_(core),
      record_(core.sink_, "backend", arrival.method,
              std::move(arrival.request_id), core.clock_.Now()) {
  const Budget budget = core.policy_.Plan(arrival.deadline, record_.arrived());
  deadline_ = budget.deadline;
  record_.SetDeadline(budget.deadline);
  record_.SetDeadlineSource(DeadlineFromName(budget.from),
                            budget.deadline_at_ignored, budget.arrival_delay);
  record_.SetAttempt(arrival.attempt);
  if (!received.ok()) {
    Finish({absl::Status(received.code(),
                         absl::StrCat("backend: ", received.message())),
            OutcomeOf(received.code()), std::string(received.message())});
    return;
  }
  record_.SetStepsRequested(request.steps());
  const absl::StatusOr<WorkSpec> spec =
      ParseWorkRequest(request, core.options_.limits);
  if (!spec.ok()) {
    Finish({absl::InvalidArgumentError(
                absl::StrCat("backend: ", spec.status().message())),
            Outcome::kInvalid, "invalid request"});
    return;
  }
  if (const absl::Status admitted = core.behavior().Admit(); !admitted.ok()) {
    Finish({absl::Status(admitted.code(),
                         absl::StrCat("backend: ", admitted.message())),
            Outcome::kFailed, std::string(admitted.message())});
    return;
  }
  spec_ = *spec;
  spec_.step *= core.options_.slowdown;
  if (budget.fail_fast) {
    const std::string why = core.policy_.ExplainFailFast(budget);
    HopEnding ending{absl::DeadlineExceededError(
                         absl::StrCat("backend: ", why, "; no work done")),
                     Outcome::kRejected, absl::StrCat("fail fast: ", why)};
    ending.arrived_late = budget.arrived_late.has_value();
    Finish(std::move(ending));
    return;
  }
  stop_at_ = core.behavior().StopAt(budget.forward_deadline);
}

WorkStop WorkStop::Of(const WorkResult& result) {
  WorkStop stop;
  stop.steps_done = result.steps_done;
  stop.at = result.finished;
  if (result.reason == StopReason::kCancelled ||
      result.reason == StopReason::kAborted) {
    stop.cancel_heard_at = result.finished;
    stop.alive_at = result.finished - result.stop_latency;
  }
  return stop;
}

const absl::Status& BackendCall::End(const WorkStop& stop) {
  if (!admitted()) return status_;
  steps_done_ = stop.steps_done;
  HopEnding ending;
  ending.steps_done = stop.steps_done;
  ending.shed = stop.shed;
  const bool heard = stop.cancel_heard_at != absl::InfiniteFuture();
  if (stop.steps_done >= spec_.steps) {
    ending.status = absl::OkStatus();
    ending.outcome = Outcome::kOk;
    ending.stop = "done";
    if (heard && !AtOrPast(deadline_, stop.cancel_heard_at)) {
      ending.stop = "done, for a caller that had cancelled";
      ending.noticed_cancel_at = stop.cancel_heard_at;
    }
    return Finish(std::move(ending));
  }
  const absl::string_view waiting =
      stop.shed ? " while waiting for a worker" : "";
  const bool cancelled = heard && !AtOrPast(deadline_, stop.cancel_heard_at);
  if (cancelled) {
    const bool shutdown = absl::ToUnixNanos(stop.cancel_heard_at) >=
                          core_.shutdown_cancels_at_.load();
    ending.outcome = Outcome::kCancelled;
    ending.stop = absl::StrCat(
        shutdown ? "the server shut down" : "the caller cancelled", waiting);
    ending.noticed_cancel_at = stop.cancel_heard_at;
    ending.stop_latency = stop.at - (stop.alive_at != absl::InfinitePast()
                                         ? stop.alive_at
                                         : stop.cancel_heard_at);
  } else {
    // The stop time came first; or gRPC cancelled the call at its deadline,
    // which on a busy machine can reach the work before this side's own
    // stop time does.
    ending.outcome = Outcome::kDeadlineExceeded;
    ending.stop = absl::StrCat("at its deadline", waiting);
    ending.stop_latency = stop.at - stop_at_;
  }
  ending.status =
      absl::Status(cancelled ? absl::StatusCode::kCancelled
                             : absl::StatusCode::kDeadlineExceeded,
                   absl::StrCat("backend: ", BudgetWords(), ", stopped after ",
                                stop.steps_done, "/", spec_.steps, " steps",
                                cancelled ? ": " : " ", ending.stop));
  return Finish(std::move(ending));
}

std::string BackendCall::BudgetWords() const {
  if (record_.budget_at_arrival() == absl::InfiniteDuration()) {
    return absl::StrCat("no deadline at arrival, so the default ",
                        FormatBudget(core_.options_.budget.default_deadline));
  }
  return absl::StrCat(FormatBudget(record_.budget_at_arrival()), " at arrival");
}

const absl::Status& BackendCall::Refuse(const absl::Status& why) {
  return Finish(
      {absl::Status(why.code(), absl::StrCat("backend: ", why.message())),
       Outcome::kOverloaded, "overloaded: refused at once"});
}

const absl::Status& BackendCall::Finish(HopEnding ending) {
  status_ = record_.End(std::move(ending), core_.clock_.Now());
  return status_;
}

void BackendCall::FillReply(deadline::v1::WorkReply& reply) const {
  reply.set_steps_done(steps_done_);
  if (record_.budget_at_arrival() != absl::InfiniteDuration()) {
    ToProtoDuration(record_.budget_at_arrival(),
                    reply.mutable_budget_at_arrival());
  }
}

void BackendCall::FillProgress(int step, absl::Time now,
                               deadline::v1::WorkProgress& progress) const {
  progress.set_step(step);
  ToProtoDuration(now - record_.arrived(), progress.mutable_elapsed());
  if (deadline_ != absl::InfiniteFuture()) {
    ToProtoDuration(deadline_ - now, progress.mutable_time_left());
  }
}

}  // namespace deadline
