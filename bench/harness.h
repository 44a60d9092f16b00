#ifndef DEADLINE_BENCH_HARNESS_H_
#define DEADLINE_BENCH_HARNESS_H_

// Servers in this process and calls to them, for the benchmarks that time
// single calls; the requests, call starters and closed loops that every
// benchmark shares.

#include <functional>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "client/calls.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "proto/deadline.grpc.pb.h"
#include "server/backend/backend_call.h"
#include "server/frontend/frontend_service.h"
#include "tests/support/test_servers.h"

namespace deadline::bench {

using ::deadline::testing::Work;

// A deadline no call of a benchmark reaches: calls are timed, not cut.
constexpr absl::Duration kGenerous = absl::Seconds(5);

// Options of servers that log nothing: a log line per call would be most of
// what is measured.
BackendOptions QuietBackend();
FrontendOptions QuietFrontend();

// A Frontend.Fetch of `work`.
deadline::v1::FetchRequest FetchOf(const deadline::v1::WorkRequest& work);

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

// Keeps `in_flight` calls going for `duration`, starting the next as soon as
// one completes (closed loop, callback API: no thread waits per call), and
// returns the completed calls per second. `start_call(done)` must start one
// call and have it run `done()` on completion.
double ClosedLoopRate(
    int in_flight, absl::Duration duration,
    const std::function<void(std::function<void()>)>& start_call);

// A `start_call` for ClosedLoopRate through a stub's callback API. Each
// call gets a ClientContext of its own with a deadline `timeout` from its
// start, and a `Reply`; `call(context, reply, on_done)` must start it (e.g.
// stub.async()->Fetch(context, &request, reply, on_done)). `on_status`, if
// set, sees each call's status, on gRPC's callback thread. The function
// returned must outlive the calls it started (ClosedLoopRate waits for
// them).
template <typename Reply>
std::function<void(std::function<void()>)> AsyncCalls(
    absl::Duration timeout,
    std::function<void(grpc::ClientContext*, Reply*,
                       std::function<void(grpc::Status)>)>
        call,
    std::function<void(const grpc::Status&)> on_status = nullptr) {
  return [timeout, call = std::move(call),
          on_status = std::move(on_status)](std::function<void()> done) {
    struct Pending {
      grpc::ClientContext context;
      Reply reply;
    };
    auto* pending = new Pending;
    pending->context.set_deadline(ToGrpcDeadline(absl::Now() + timeout));
    call(&pending->context, &pending->reply,
         [pending, done = std::move(done), &on_status](grpc::Status status) {
           if (on_status) on_status(status);
           delete pending;
           done();
         });
  };
}

// Which service an ordinary call goes to.
enum class ServerKind {
  kFrontend,  // Frontend.Fetch with no work (it calls its backend).
  kBackend,   // Backend.Work with no work.
};

// One ordinary call to `address` on a connection of its own (a subchannel
// pool of its own: a client that shares nothing with others in this
// process), with `deadline`; `elapsed` gets its latency, connecting
// included.
grpc::Status CallOnNewConnection(const std::string& address, ServerKind kind,
                                 absl::Duration deadline,
                                 absl::Duration* elapsed);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_HARNESS_H_
