#ifndef DEADLINE_BENCH_HARNESS_H_
#define DEADLINE_BENCH_HARNESS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/calls.h"
#include "proto/deadline.grpc.pb.h"
#include "server/backend_service.h"
#include "server/frontend_service.h"
#include "server/server_runner.h"
#include "server/stats_service.h"

namespace deadline::bench {

// A backend, a frontend calling it, and a bare server (only the Stats
// service: the cheapest unary call there is) in this process on
// 127.0.0.1:0. Remembers how each backend call ended, by request id.
class Servers {
 public:
  Servers(BackendOptions backend_options, const FrontendOptions& options);
  ~Servers();

  deadline::v1::Frontend::Stub& frontend() { return *frontend_stub_; }
  deadline::v1::Backend::Stub& backend() { return *backend_stub_; }
  deadline::v1::Stats::Stub& bare() { return *bare_stub_; }
  const std::string& backend_address() const { return backend_.address; }
  const CallStats& backend_stats() const { return backend_service_->stats(); }

  // How the backend call with this request id ended (its hop of the trace),
  // waiting up to `timeout` for it to end.
  absl::optional<deadline::v1::HopTrace> BackendHop(
      const std::string& request_id, absl::Duration timeout);

 private:
  absl::Mutex mu_;
  std::map<std::string, deadline::v1::HopTrace> ended_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<BackendService> backend_service_;
  std::unique_ptr<StatsService> backend_stats_;
  RunningServer backend_;
  std::unique_ptr<FrontendService> frontend_service_;
  std::unique_ptr<StatsService> frontend_stats_;
  RunningServer frontend_;
  CallStats bare_counters_;
  std::unique_ptr<StatsService> bare_service_;
  RunningServer bare_;

  std::unique_ptr<deadline::v1::Frontend::Stub> frontend_stub_;
  std::unique_ptr<deadline::v1::Backend::Stub> backend_stub_;
  std::unique_ptr<deadline::v1::Stats::Stub> bare_stub_;
};

// Backend.Work and Stats.GetStats as UnaryCalls (the client's FetchCall is
// the third).
class WorkCall final
    : public UnaryCall<deadline::v1::WorkRequest, deadline::v1::WorkReply> {
 public:
  WorkCall(deadline::v1::Backend::Stub& stub,
           const deadline::v1::WorkRequest& request, absl::Time deadline);
};

class BareCall final : public UnaryCall<deadline::v1::GetStatsRequest,
                                        deadline::v1::StatsReply> {
 public:
  BareCall(deadline::v1::Stats::Stub& stub, absl::Time deadline);
};

// Keeps `in_flight` calls going for `duration`, starting the next as soon as
// one completes (closed loop, callback API: no thread waits per call), and
// returns the completed calls per second. `start_call(done)` must start one
// call and have it run `done()` on completion.
double ClosedLoopRate(
    int in_flight, absl::Duration duration,
    const std::function<void(std::function<void()>)>& start_call);

// Work of `steps` sleep-like (or spinning) steps of `step`.
deadline::v1::WorkRequest Work(int steps, absl::Duration step,
                               bool spin = false);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_HARNESS_H_
