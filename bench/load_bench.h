#ifndef DEADLINE_BENCH_LOAD_BENCH_H_
#define DEADLINE_BENCH_LOAD_BENCH_H_

// Benchmarks under load, every server a real process of --bin_dir and this
// process the client: overload (open-loop arrivals beyond capacity),
// PARTIAL fan-outs at a steady rate and where their time goes, hedging over
// a slow backend, and the work a backend does for callers that left when
// nobody checks for cancellation. Also the pieces the soak tool
// (bench/soak.cc) shares with them: child servers, their logs and /proc, and
// an open-loop call generator.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "bench/benchmarks.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/subprocess.h"

namespace deadline::bench {

Section Overload(const Config& config);
Section Partial(const Config& config);
Section Hedging(const Config& config);
Section IgnoredCancel(const Config& config);

// A server binary running as a child process on 127.0.0.1:0, with a
// channel to it. Its output (the call log) is drained into memory by a
// thread of its own, so the server never blocks writing its log, and read
// with TakeLog(). Destroying it kills the process.
class ChildServer {
 public:
  // Starts `binary` (a path under `bin_dir`, e.g. "server/backend/backend") with
  // `args`; nullptr when it did not start (no "listening on" line within
  // 20 s).
  static std::unique_ptr<ChildServer> Start(const std::string& bin_dir,
                                            absl::string_view binary,
                                            std::vector<std::string> args);
  ~ChildServer();

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // Its Stats, or an empty reply when it does not answer within 5 s.
  deadline::v1::StatsReply Stats() const;
  // Whether the process is still running.
  bool Alive() const;
  // What it printed since the last TakeLog() (whole lines only).
  std::string TakeLog();
  // Everything it printed since it started, as far as drained.
  std::string AllOutput();
  // Stops it gracefully (SIGTERM) and waits up to `timeout` for it to
  // exit; returns its exit status (128 + N if killed by signal N), or
  // nullopt if it did not exit in time. Once.
  absl::optional<int> Stop(absl::Duration timeout);

 private:
  ChildServer() = default;
  void Drain();
  void StopDraining();

  std::unique_ptr<testing::Subprocess> process_;  // Touched by drainer_ only.
  std::string address_;
  pid_t pid_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  absl::Mutex mu_;
  std::string output_ ABSL_GUARDED_BY(mu_);
  size_t taken_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> stop_{false};
  std::thread drainer_;
};

// Open files of process `pid` (entries in /proc/PID/fd); -1 when unknown.
int FdsOf(pid_t pid);

// The fields of a logfmt call-log line. A quoted value holding spaces is
// cut at its first space, so only the fields before it are sound: the call
// log puts its one such field, stop=, last.
absl::flat_hash_map<absl::string_view, absl::string_view> LogFields(
    absl::string_view line);

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
  // What the run asked of this call, for mixed runs (see OpenLoop::Kind).
  int kind = 0;
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

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_LOAD_BENCH_H_
