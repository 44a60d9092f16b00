#ifndef DEADLINE_BENCH_HARNESS_H_
#define DEADLINE_BENCH_HARNESS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/calls.h"
#include "proto/deadline.grpc.pb.h"
#include "server/backend/backend_call.h"
#include "server/frontend/frontend_service.h"
#include "tests/support/test_servers.h"

namespace deadline::bench {

using ::deadline::testing::Work;

// A backend, a frontend calling it, and a bare server (only the Stats
// service: the cheapest unary call there is) in this process on
// 127.0.0.1:0, started as the tests start them.
class Servers {
 public:
  Servers(const BackendOptions& backend_options,
          const FrontendOptions& options);
  ~Servers();

  deadline::v1::Frontend::Stub& frontend() { return frontend_.stub(); }
  deadline::v1::Backend::Stub& backend() { return backend_.stub(); }
  deadline::v1::Stats::Stub& bare() { return *bare_stub_; }
  const std::string& backend_address() const { return backend_.address(); }
  StatsSnapshot backend_stats() const { return backend_.stats(); }

  // How the backend call with this request id ended (its hop of the trace),
  // waiting up to `timeout` for it to end.
  absl::optional<deadline::v1::HopTrace> BackendHop(
      const std::string& request_id, absl::Duration timeout) {
    return backend_.WaitForCall(request_id, timeout);
  }

 private:
  testing::TestBackend backend_;
  testing::TestFrontend frontend_;
  CallStats bare_counters_;
  StatsService bare_service_;
  RunningServer bare_;
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

// CPU time (user + system) process `pid` has used, in seconds, from
// /proc/PID/stat (10 ms ticks); NaN when unknown.
double CpuSecondsOf(pid_t pid);

// Keeps `in_flight` calls going for `duration`, starting the next as soon as
// one completes (closed loop, callback API: no thread waits per call), and
// returns the completed calls per second. `start_call(done)` must start one
// call and have it run `done()` on completion.
double ClosedLoopRate(
    int in_flight, absl::Duration duration,
    const std::function<void(std::function<void()>)>& start_call);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_HARNESS_H_
