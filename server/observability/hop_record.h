#ifndef DEADLINE_SERVER_OBSERVABILITY_HOP_RECORD_H_
#define DEADLINE_SERVER_OBSERVABILITY_HOP_RECORD_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "google/protobuf/arena.h"
#include "proto/deadline.pb.h"
#include "server/observability/call_log.h"
#include "server/observability/call_stats.h"

namespace deadline {

// How a call ended at this hop.
struct HopEnding {
  absl::Status status;
  Outcome outcome = Outcome::kOk;
  // Why, in words: "done", "at its deadline", "the caller cancelled", ...
  std::string stop;
  int64_t steps_done = 0;
  // From the moment the call should have stopped to the moment it did.
  absl::Duration stop_latency = absl::ZeroDuration();
  // When this hop learned that its caller had gone, if it did.
  absl::optional<absl::Time> noticed_cancel_at = absl::nullopt;
  // The call left a queue without any work done.
  bool shed = false;
  // It arrived after its caller's absolute deadline, and was refused.
  bool arrived_late = false;
};

// Everything a hop's record knows of one call as it ends, for observers
// that count calls their own way (see ServerMetrics). Valid only during
// HopObserver::OnCallEnd().
struct EndedCall {
  absl::string_view hop;     // "frontend", "backend"
  absl::string_view method;  // "Fetch", "Work", ...
  const HopEnding& ending;   // stop_latency is at least zero
  absl::Time arrived;
  absl::Time finished;
  // Time left until the deadline at arrival: nullopt when the call ended
  // before its deadline was read (a request refused unread or unparsed);
  // InfiniteDuration() when the call had no deadline. Negative when the
  // deadline had passed before the call arrived.
  absl::optional<absl::Duration> budget_at_arrival;
  int64_t steps_requested;
  // From the caller's send to this hop's arrival, when known.
  absl::optional<absl::Duration> arrival_delay;
  // The caller's deadline-at was not to be trusted.
  bool deadline_at_ignored;
  // The whole trace: this hop first, then the hops it called.
  const deadline::v1::BudgetTrace& trace;
};

// Told of every call a sink's records end, on the thread that ends it.
// Implementations are thread-safe, quick and never block.
class HopObserver {
 public:
  virtual ~HopObserver() = default;
  virtual void OnCallEnd(const EndedCall& call) = 0;
};

// Where one server's hop records go as they end: its counters, its log
// lines, an optional observer and an optional hook. Each ended call is
// counted in `stats` and told to `observer` in the same HopRecord::End(),
// from the same HopEnding, so the two agree. Thread-safe.
struct HopSink {
  CallStats stats;
  LogMode log = LogMode::kErrors;
  // If set, told of each call as it ends, after `stats` counted it and
  // before `on_call_end` runs: the server's metrics. Must outlive the sink.
  HopObserver* observer = nullptr;
  // If set, called with the call's trace as each call ends, on the thread
  // that ends it, after the counters and the observer: for tests and
  // benchmarks. Thread-safe and quick.
  std::function<void(const deadline::v1::BudgetTrace&)> on_call_end;
};

// What one hop did with one call, recorded once and told five ways: the
// hop's entry in the call's BudgetTrace (which goes back to the caller), its
// log line, its counts in the sink's CallStats, and, when the sink has them,
// the observer (the metrics) and the end-of-call hook. Plain C++ (protobuf
// messages, no gRPC), so it is tested on a fake clock.
//
// Not thread-safe: a call's owner uses it from one thread at a time. The
// sink must outlive it.
class HopRecord {
 public:
  // Counts the call as started (and in flight) at `arrived`. `hop` and
  // `method` must outlive the record (literals).
  HopRecord(HopSink& sink, absl::string_view hop, absl::string_view method,
            std::string request_id, absl::Time arrived);
  HopRecord(const HopRecord&) = delete;
  HopRecord& operator=(const HopRecord&) = delete;

  // The call's deadline at this hop (InfiniteFuture() for none): sets the
  // deadline and the budget at arrival.
  void SetDeadline(absl::Time deadline);
  // Where the deadline came from ("grpc-timeout", "deadline-at"; a
  // literal), whether a deadline-at was ignored as not to be trusted, and
  // how long the call took from its caller's send to this hop, if known.
  // Counts an ignored deadline-at.
  void SetDeadlineSource(absl::string_view from, bool deadline_at_ignored,
                         absl::optional<absl::Duration> arrival_delay);
  // The timeout this hop gave the calls it made.
  void SetForwarded(absl::Duration forwarded);
  // Where the time went, from arrival to finish: the work began at
  // `started` (before it, the call waited for a worker; the first call
  // counts), and `waiting` of it was spent waiting on the calls this hop
  // made (added up); the rest is this hop's own doing.
  void WorkStarted(absl::Time started);
  void AddWaiting(absl::Duration waiting);
  void SetStepsRequested(int64_t steps);
  // Which attempt of its call this is, 1-based (gRPC's retries).
  void SetAttempt(int attempt);
  // Appends the hop of a call this one made (in call order).
  void AddCalledHop(deadline::v1::HopTrace hop);
  // The same for a hop made in arena(), which the record takes over.
  void AddCalledHop(deadline::v1::HopTrace* hop);

  // Ends the record at `now`: completes this hop's entry, counts and logs
  // the call, and runs the sink's hook. Only the first End() counts; it
  // returns the status to answer with.
  const absl::Status& End(HopEnding ending, absl::Time now);
  bool ended() const { return ended_; }
  // The steps done, once ended.
  int64_t steps_done() const { return ending_.steps_done; }

  // The whole trace: this hop first, then the hops it called. Made when
  // first asked for (most calls end OK with nobody asking, and then none is
  // made: it would cost more than the rest of the hop's own work).
  const deadline::v1::BudgetTrace& trace() const;
  const deadline::v1::HopTrace& hop() const { return trace().hops(0); }
  const std::string& request_id() const { return request_id_; }
  // Where messages that live as long as this record can be made cheaply.
  // Thread-safe, unlike the rest.
  google::protobuf::Arena& arena() { return arena_; }
  absl::Time arrived() const { return arrived_; }
  // InfiniteDuration() when the call has no deadline.
  absl::Duration budget_at_arrival() const { return budget_at_arrival_; }

 private:
  // Writes what the record knows of this hop into `hop`.
  void FillHop(deadline::v1::HopTrace& hop) const;
  // After a change: keeps a trace already made up to date.
  void Refresh() {
    if (trace_ != nullptr) FillHop(*trace_->mutable_hops(0));
  }

  HopSink& sink_;
  CallStats::Call call_;
  const absl::string_view hop_;
  const absl::string_view method_;
  const std::string request_id_;
  const absl::Time arrived_;
  absl::Time deadline_ = absl::InfiniteFuture();
  absl::Duration budget_at_arrival_ = absl::InfiniteDuration();
  bool deadline_read_ = false;  // SetDeadline() was called.
  absl::optional<absl::Duration> forwarded_;
  absl::string_view deadline_from_;
  bool deadline_at_ignored_ = false;
  absl::optional<absl::Duration> arrival_delay_;
  absl::Time work_started_ = absl::InfiniteFuture();
  absl::Duration waiting_ = absl::ZeroDuration();
  int64_t steps_requested_ = 0;
  int attempt_ = 0;  // 0: not set.
  absl::Time finished_;
  HopEnding ending_;
  bool ended_ = false;
  // The trace is made in an arena whose first block is part of this
  // record: a call's trace costs no heap allocation.
  alignas(8) char arena_block_[1024];
  mutable google::protobuf::Arena arena_{arena_block_, sizeof(arena_block_)};
  // The hops of the calls this one made, in arena_, until trace() is made.
  std::vector<deadline::v1::HopTrace*> called_;
  mutable deadline::v1::BudgetTrace* trace_ = nullptr;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_OBSERVABILITY_HOP_RECORD_H_
