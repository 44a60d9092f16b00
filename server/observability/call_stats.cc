#include "server/observability/call_stats.h"

namespace deadline {

Outcome OutcomeOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return Outcome::kOk;
    case absl::StatusCode::kDeadlineExceeded:
      return Outcome::kDeadlineExceeded;
    case absl::StatusCode::kCancelled:
      return Outcome::kCancelled;
    case absl::StatusCode::kInvalidArgument:
      return Outcome::kInvalid;
    case absl::StatusCode::kResourceExhausted:
      return Outcome::kOverloaded;
    default:
      return Outcome::kFailed;
  }
}

CallStats::Call::Call(CallStats& stats) : stats_(stats) {
  stats_.started_.fetch_add(1, std::memory_order_relaxed);
  stats_.in_flight_.fetch_add(1, std::memory_order_relaxed);
}

CallStats::Call::~Call() { End(Outcome::kFailed); }

void CallStats::Call::End(Outcome outcome, int64_t steps_done,
                          absl::Duration stop_latency, bool shed) {
  if (ended_) return;
  ended_ = true;
  stats_.CounterFor(outcome).fetch_add(1, std::memory_order_relaxed);
  if (shed) stats_.shed_.fetch_add(1, std::memory_order_relaxed);
  stats_.steps_done_.fetch_add(steps_done, std::memory_order_relaxed);
  const int64_t latency_ns = absl::ToInt64Nanoseconds(stop_latency);
  int64_t worst = stats_.max_stop_latency_ns_.load(std::memory_order_relaxed);
  while (latency_ns > worst &&
         !stats_.max_stop_latency_ns_.compare_exchange_weak(
             worst, latency_ns, std::memory_order_relaxed)) {
  }
  // Last, so that in_flight == 0 means every ended call is fully counted.
  stats_.in_flight_.fetch_sub(1, std::memory_order_release);
}

std::atomic<int64_t>& CallStats::CounterFor(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return ok_;
    case Outcome::kDeadlineExceeded:
      return deadline_exceeded_;
    case Outcome::kCancelled:
      return cancelled_;
    case Outcome::kRejected:
      return rejected_;
    case Outcome::kInvalid:
      return invalid_;
    case Outcome::kOverloaded:
      return overloaded_;
    case Outcome::kFailed:
      break;
  }
  return failed_;
}

StatsSnapshot CallStats::Snapshot() const {
  StatsSnapshot s;
  s.in_flight = in_flight_.load(std::memory_order_acquire);
  s.started = started_.load(std::memory_order_relaxed);
  s.ok = ok_.load(std::memory_order_relaxed);
  s.deadline_exceeded = deadline_exceeded_.load(std::memory_order_relaxed);
  s.cancelled = cancelled_.load(std::memory_order_relaxed);
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.invalid = invalid_.load(std::memory_order_relaxed);
  s.overloaded = overloaded_.load(std::memory_order_relaxed);
  s.shed = shed_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.steps_done = steps_done_.load(std::memory_order_relaxed);
  s.arrived_late = arrived_late_.load(std::memory_order_relaxed);
  s.deadline_at_ignored = deadline_at_ignored_.load(std::memory_order_relaxed);
  s.max_stop_latency =
      absl::Nanoseconds(max_stop_latency_ns_.load(std::memory_order_relaxed));
  return s;
}

}  // namespace deadline
