#ifndef DEADLINE_BENCH_OPEN_LOOP_H_
#define DEADLINE_BENCH_OPEN_LOOP_H_

// Calls started at the arrival times of a Poisson process without waiting
// for answers, as real users make them: the benchmarks under load and the
// soak tool (bench/soak.cc) drive the servers with these.

#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "grpcpp/support/status.h"
#include "proto/deadline.grpc.pb.h"

namespace deadline::bench {

// One call of an open-loop run, as the client saw it.
struct CallRecord {
  absl::Time sent;
  absl::Time deadline = absl::InfiniteFuture();  // Infinite: none set.
  absl::Time answered = absl::InfinitePast();    // Past: not answered yet.
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message;
  std::string request_id;
  // The hops' story, when asked for and sent back.
  absl::optional<deadline::v1::BudgetTrace> trace;
  // FetchAll: panels answered OK, and panels that ran out of time.
  int panels_ok = 0;
  int panels_deadline = 0;
  // The answer's lateness after the deadline (negative: early).
  absl::Duration Lateness() const { return answered - deadline; }
};

// Calls started at the arrival times of a Poisson process, without waiting
// for answers (open loop), through the async stubs: the offered rate does
// not drop when the servers slow down, as with real users.
class OpenLoop {
 public:
  // How to start one call: fill in what the record needs (its deadline,
  // request id, kind), start it asynchronously, and run `done` once the
  // record is complete. Runs on the generator's thread.
  using Starter =
      std::function<void(CallRecord& record, std::function<void()> done)>;

  // `rate` calls per second on average for `duration`, with random gaps
  // from `seed`. Returns when every call has been answered. The records
  // stay valid until the OpenLoop is destroyed.
  OpenLoop(double rate, absl::Duration duration, uint64_t seed = 1);
  void Run(const Starter& start);

  const std::deque<CallRecord>& records() const { return records_; }
  // The span over which calls were started, and how many per second were.
  absl::Duration span() const { return span_; }
  double sent_rate() const;

 private:
  double rate_;
  absl::Duration duration_;
  uint64_t seed_;
  std::deque<CallRecord> records_;
  absl::Duration span_ = absl::ZeroDuration();
};

// Starts Frontend.Fetch / FetchAll / Backend.Work calls for an OpenLoop.
// `budget` is the call's deadline from its start (infinite: none);
// `want_trace` asks for the trace of OK answers too; `cancel_after`
// cancels the call from the client after that long (infinite: never).
void StartFetch(deadline::v1::Frontend::Stub& stub,
                const deadline::v1::FetchRequest& request,
                absl::Duration budget, bool want_trace, CallRecord& record,
                std::function<void()> done,
                absl::Duration cancel_after = absl::InfiniteDuration());
void StartFetchAll(deadline::v1::Frontend::Stub& stub,
                   const deadline::v1::FetchAllRequest& request,
                   absl::Duration budget, bool want_trace, CallRecord& record,
                   std::function<void()> done,
                   absl::Duration cancel_after = absl::InfiniteDuration());
void StartWork(deadline::v1::Backend::Stub& stub,
               const deadline::v1::WorkRequest& request, absl::Duration budget,
               CallRecord& record, std::function<void()> done,
               absl::Duration cancel_after = absl::InfiniteDuration());

// "DEADLINE_EXCEEDED" for grpc::StatusCode::DEADLINE_EXCEEDED.
std::string CodeName(grpc::StatusCode code);

// How the records' calls ended, by code: "OK 1200, DEADLINE_EXCEEDED 3,
// RESOURCE_EXHAUSTED 800".
std::string CodeCounts(const std::deque<CallRecord>& records);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_OPEN_LOOP_H_
