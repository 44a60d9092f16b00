#include "server/backend/backend_call.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"

namespace deadline {
namespace {

// A uniform draw in [0, 1), one generator per thread.
double Draw() {
  thread_local std::mt19937_64 engine(std::random_device{}());
  return std::uniform_real_distribution<double>(0, 1)(engine);
}

}  // namespace

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
}

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
              std::move(arrival.request_id), core.clock_.Now()),
      deadline_(arrival.deadline) {
  const absl::Time deadline = arrival.deadline;
  record_.SetDeadline(deadline);
  record_.SetAttempt(arrival.attempt);
  if (!received.ok()) {
    Finish({absl::Status(received.code(),
                         absl::StrCat("backend: ", received.message())),
            OutcomeOf(received.code()), std::string(received.message())});
    return;
  }
  record_.SetStepsRequested(request.steps());
  if (core.options_.fail_rate > 0 && Draw() < core.options_.fail_rate) {
    Finish({absl::UnavailableError(absl::StrCat(
                "backend: refused on purpose, before any work (--fail_rate=",
                core.options_.fail_rate, ", a test aid)")),
            Outcome::kFailed, "refused on purpose (--fail_rate)"});
    return;
  }
  const absl::StatusOr<WorkSpec> spec =
      ParseWorkRequest(request, core.options_.limits);
  if (!spec.ok()) {
    Finish({absl::InvalidArgumentError(
                absl::StrCat("backend: ", spec.status().message())),
            Outcome::kInvalid, "invalid request"});
    return;
  }
  spec_ = *spec;
  spec_.step *= core.options_.slowdown;
  const Budget budget = core.policy_.Plan(deadline, record_.arrived());
  if (budget.fail_fast) {
    const std::string why = core.policy_.ExplainFailFast(budget);
    Finish({absl::DeadlineExceededError(
                absl::StrCat("backend: ", why, "; no work done")),
            Outcome::kRejected, absl::StrCat("fail fast: ", why)});
    return;
  }
  // The anti-pattern runs to the end, whatever the deadline says.
  stop_at_ = core.options_.ignore_cancel ? absl::InfiniteFuture()
                                         : budget.forward_deadline;
}

const absl::Status& BackendCall::End(const WorkResult& result, bool shed) {
  steps_done_ = result.steps_done;
  HopEnding ending;
  ending.steps_done = result.steps_done;
  ending.stop_latency = result.stop_latency;
  ending.shed = shed;
  StopReason reason = result.reason;
  // gRPC also cancels a call when its deadline passes. On a busy machine
  // that can reach the work before this side's own stop time does: it is
  // the deadline, not the caller leaving. (A millisecond of tolerance:
  // gRPC's timer and this clock may disagree by a fraction of one.)
  if (reason == StopReason::kCancelled &&
      result.finished >= deadline_ - absl::Milliseconds(1)) {
    reason = StopReason::kDeadline;
    ending.stop_latency =
        std::max(result.finished - stop_at_, absl::ZeroDuration());
  }
  if (reason == StopReason::kCompleted) {
    ending.status = absl::OkStatus();
    ending.outcome = Outcome::kOk;
    ending.stop = "done";
    if (ignored_cancel_at_ != absl::InfiniteFuture()) {
      ending.stop = "done, for a caller that had cancelled (--ignore_cancel)";
      ending.noticed_cancel_at = ignored_cancel_at_;
    }
    return Finish(std::move(ending));
  }
  const absl::string_view waiting = shed ? " while waiting for a worker" : "";
  if (reason == StopReason::kDeadline) {
    ending.outcome = Outcome::kDeadlineExceeded;
    ending.stop = absl::StrCat("at its deadline", waiting);
  } else {
    // Cancelled, or a stream whose write failed: the call is over.
    const bool shutdown =
        absl::ToUnixNanos(result.finished) >= core_.shutdown_cancels_at_.load();
    ending.outcome = Outcome::kCancelled;
    ending.stop = absl::StrCat(
        shutdown ? "the server shut down" : "the caller cancelled", waiting);
    ending.noticed_cancel_at = result.finished;
  }
  ending.status = absl::Status(
      ending.outcome == Outcome::kDeadlineExceeded
          ? absl::StatusCode::kDeadlineExceeded
          : absl::StatusCode::kCancelled,
      absl::StrCat("backend: ", BudgetWords(), ", stopped after ",
                   result.steps_done, "/", spec_.steps, " steps",
                   reason == StopReason::kDeadline ? " " : ": ", ending.stop));
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
