#ifndef DEADLINE_SERVER_FRONTEND_FRONTEND_SERVICE_H_
#define DEADLINE_SERVER_FRONTEND_FRONTEND_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "proto/deadline.grpc.pb.h"
#include "server/frontend/audit.h"
#include "server/frontend/backend_channels.h"
#include "server/deadline/budget.h"
#include "server/observability/call_log.h"
#include "server/observability/call_stats.h"
#include "server/frontend/fetch_stream.h"
#include "server/observability/hop_record.h"
#include "server/deadline/propagation.h"
#include "server/serving/work_request.h"

namespace deadline {

struct FrontendOptions {
  BudgetOptions budget;
  // How the channels to the backends behave (retries, keepalive, TLS, ...);
  // `backend_credentials` as made from channels.tls (null: plaintext).
  BackendChannelOptions channels;
  std::shared_ptr<grpc::ChannelCredentials> backend_credentials;
  WorkLimits limits;
  // The most panels one FetchAll may ask for.
  int max_panels = 16;
  // What the backend calls inherit from the incoming call. kNone is THE
  // ANTI-PATTERN, kept to show what it costs: the twin of
  // context.Background() in a Go handler, so the backend works on after the
  // caller has gone.
  Propagation propagation = Propagation::kDeadlineAndCancellation;
  // Hedging: a panel whose backend has not answered after this long gets a
  // second call, on the next backend; the first OK wins and the other is
  // cancelled. Infinite: off.
  absl::Duration hedge_after = absl::InfiniteDuration();
  // Each Fetch's outcome recorded with Backend.Record on the first backend:
  // work that must outlive its request. kDetached is the pattern (Go's
  // context.WithoutCancel), kDerived the hazard it avoids.
  AuditMode audit = AuditMode::kOff;
  // Each audit call's own deadline.
  absl::Duration audit_deadline = absl::Seconds(1);
  // Calls in flight beyond this are refused at once with
  // RESOURCE_EXHAUSTED, rather than answered late.
  int max_in_flight = 10'000;
  // A FetchStream lasts at most this long here, whatever its caller's
  // deadline (see FetchStreamOptions). Infinite: off.
  absl::Duration max_stream_duration = absl::InfiniteDuration();
  // Which calls get a log line on stderr.
  LogMode log = LogMode::kErrors;
  // If set, called with each call's trace as it ends: for tests and
  // benchmarks. Thread-safe and quick.
  std::function<void(const deadline::v1::BudgetTrace&)> on_call_end;
  // If set, told of each call as it ends (the server's metrics); must
  // outlive the service.
  HopObserver* observer = nullptr;
};

// deadline.v1.Frontend on the callback API: no thread is held while a call
// waits for its backends, and no reaction blocks.
//
// Fetch plans the budget with BudgetPolicy, then calls Backend.Work (on the
// backends in turn) through the async stub with the caller's deadline minus
// the reserve, and answers when the backend does. FetchAll does the same for
// every panel at once, panel i on backend i % backends.size(), under one
// budget; see deadline.v1.FanOutMode. With hedging on, a slow panel also
// goes to the next backend, and the first OK wins. FetchStream forwards a
// Backend.WorkStream message by message (see StartFetchStream()).
//
// Both return DEADLINE_EXCEEDED at once, without calling a backend, when too
// little budget is left (counted as rejected); INVALID_ARGUMENT, without
// calling a backend either, for work outside `limits` or too many panels;
// otherwise the backend's status with its code unchanged and a message that
// names this hop and its budget. An unreachable backend gives UNAVAILABLE at
// once. Every outcome carries a BudgetTrace (this hop, then each backend
// call) in trailing metadata, is counted in stats() and may be logged; the
// caller's x-request-id (or a new one) travels on to the backends.
//
// Requests are taken as bytes (gRPC's raw methods) and parsed here, so that
// one which does not parse is answered INVALID_ARGUMENT, counted and logged.
//
// Thread-safe. `clock` must outlive the service.
class FrontendService final
    : public deadline::v1::Frontend::WithRawCallbackMethod_Fetch<
          deadline::v1::Frontend::WithRawCallbackMethod_FetchAll<
              deadline::v1::Frontend::WithRawCallbackMethod_FetchStream<
                  deadline::v1::Frontend::Service>>> {
 public:
  // `backends`: one or more, as ParseBackends() makes them.
  FrontendService(const std::vector<BackendTarget>& backends,
                  const FrontendOptions& options, Clock& clock = RealClock());

  // A deadline.v1.FetchRequest in, a FetchReply out.
  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* reply) override;

  // A FetchAllRequest in, a FetchAllReply out.
  grpc::ServerUnaryReactor* FetchAll(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* reply) override;

  // A FetchRequest in, WorkProgress messages out.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* FetchStream(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;

  // Call just before grpc::Server::Shutdown() (after any drain), which will
  // cancel the calls still in flight at `cancel_at`; calls cancelled from
  // then on say the server shut down. Backend calls made without
  // propagation are not tied to their caller, so nothing would ever stop
  // them: they are cancelled here, at once, so shutdown cannot wait on
  // them, and later ones start cancelled. Propagated calls are cancelled by
  // Shutdown()'s own deadline.
  void BeginShutdown(absl::Time cancel_at);

  const CallStats& stats() const { return sink_.stats; }
  // The counters, with the audit records'.
  StatsSnapshot Snapshot() const;

  // Waits until no audit call is in flight, or until `until` (the end of
  // the shutdown grace); returns whether none is. Audits still in flight
  // when the service is destroyed are cancelled.
  bool WaitForAudits(absl::Time until);

 private:
  absl::Time shutdown_cancels_at() const {
    return absl::FromUnixNanos(shutdown_cancels_at_.load());
  }
  class Call;
  class FetchCall;
  class FetchAllCall;

  struct Backend {
    std::string target;
    std::unique_ptr<deadline::v1::Backend::Stub> stub;
  };

  // Keeps unpropagated backend calls findable for BeginShutdown().
  void Track(grpc::ClientContext& context);
  void Untrack(grpc::ClientContext& context);

  // What FetchStream calls share with this service.
  FetchStreamHost StreamHost();

  const FrontendOptions options_;
  Clock& clock_;
  const BudgetPolicy policy_;
  std::vector<Backend> backends_;
  // Null when audits are off. Declared after backends_, whose first stub
  // it uses: destroyed before it.
  std::unique_ptr<Auditor> auditor_;
  // Fetch calls go to the backends in turn.
  std::atomic<uint64_t> next_backend_{0};
  HopSink sink_;

  std::atomic<int64_t> shutdown_cancels_at_{
      std::numeric_limits<int64_t>::max()};
  absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<grpc::ClientContext*> unpropagated_ ABSL_GUARDED_BY(mu_);
  // Last: it refers to the members above.
  const FetchStreamHost stream_host_ = StreamHost();
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_FRONTEND_SERVICE_H_
