#ifndef DEADLINE_SERVER_OBSERVABILITY_CALL_STATS_H_
#define DEADLINE_SERVER_OBSERVABILITY_CALL_STATS_H_

#include <atomic>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace deadline {

// How a call ended, as counted in Stats.
enum class Outcome {
  kOk,
  kDeadlineExceeded,
  kCancelled,
  kRejected,    // Refused before any work: too little budget left.
  kInvalid,     // INVALID_ARGUMENT.
  kOverloaded,  // RESOURCE_EXHAUSTED: a queue or a limit was full.
  kFailed,      // Any other error.
};

// The outcome a call that ended with `code` is counted as (never kRejected:
// that is a decision, not a code).
Outcome OutcomeOf(absl::StatusCode code);

struct StatsSnapshot {
  int64_t started = 0;
  int64_t ok = 0;
  int64_t deadline_exceeded = 0;
  int64_t cancelled = 0;
  int64_t rejected = 0;
  int64_t invalid = 0;
  int64_t overloaded = 0;
  int64_t failed = 0;
  int64_t in_flight = 0;
  // Calls taken out of a queue before any work because their caller had
  // gone or their deadline had passed (also counted by their outcome).
  int64_t shed = 0;
  // Calls waiting for a worker now (filled in by the service that queues).
  int64_t queue_depth = 0;
  int64_t steps_done = 0;
  absl::Duration max_stop_latency = absl::ZeroDuration();
  // Audit records (not calls, and counted apart from them): at a backend,
  // those stored; at a frontend, those that landed and those lost.
  int64_t records = 0;
  int64_t records_failed = 0;
  // Calls whose caller's absolute deadline had passed when they arrived
  // (also counted as rejected), and calls whose deadline-at was not trusted.
  int64_t arrived_late = 0;
  int64_t deadline_at_ignored = 0;
};

// Lock-free counters of one server's calls. Thread-safe. A snapshot reads
// each counter atomically but not all of them at one instant.
class CallStats {
 public:
  // One call, counted as started and in flight from construction until
  // End(); a Call destroyed without End() is counted as kFailed, so
  // in_flight always returns to zero.
  class Call {
   public:
    explicit Call(CallStats& stats);
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;
    ~Call();

    // Counts the outcome; only the first End() counts. `shed`: the call
    // left a queue without any work done.
    void End(Outcome outcome, int64_t steps_done = 0,
             absl::Duration stop_latency = absl::ZeroDuration(),
             bool shed = false);

   private:
    CallStats& stats_;
    bool ended_ = false;
  };

  // A call arrived after its caller's absolute deadline; a call's
  // deadline-at was not trusted.
  void CountArrivedLate() {
    arrived_late_.fetch_add(1, std::memory_order_relaxed);
  }
  void CountDeadlineAtIgnored() {
    deadline_at_ignored_.fetch_add(1, std::memory_order_relaxed);
  }

  StatsSnapshot Snapshot() const;
  // Calls in flight now (cheaper than a Snapshot()).
  int64_t in_flight() const {
    return in_flight_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t>& CounterFor(Outcome outcome);

  std::atomic<int64_t> arrived_late_{0};
  std::atomic<int64_t> deadline_at_ignored_{0};
  std::atomic<int64_t> started_{0};
  std::atomic<int64_t> ok_{0};
  std::atomic<int64_t> deadline_exceeded_{0};
  std::atomic<int64_t> cancelled_{0};
  std::atomic<int64_t> rejected_{0};
  std::atomic<int64_t> invalid_{0};
  std::atomic<int64_t> overloaded_{0};
  std::atomic<int64_t> failed_{0};
  std::atomic<int64_t> shed_{0};
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> steps_done_{0};
  std::atomic<int64_t> max_stop_latency_ns_{0};
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_OBSERVABILITY_CALL_STATS_H_
