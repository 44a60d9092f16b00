#ifndef DEADLINE_SERVER_FRONTEND_FRONTEND_H_
#define DEADLINE_SERVER_FRONTEND_FRONTEND_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "proto/deadline.grpc.pb.h"
#include "server/deadline/budget.h"
#include "server/deadline/propagation.h"
#include "server/deadline/work_request.h"
#include "server/frontend/audit.h"
#include "server/frontend/backend_channels.h"
#include "server/frontend/backend_contexts.h"
#include "server/observability/call_log.h"
#include "server/observability/hop_record.h"

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
  // ANTI-PATTERN (no_propagation.h), kept to show what it costs.
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
  // deadline: the twin of Envoy's max_stream_duration, on top of the
  // budget's max_deadline clamp (see ParseMaxStreamDuration). Infinite: off.
  absl::Duration max_stream_duration = absl::InfiniteDuration();
  // Which calls get a log line on stderr.
  LogMode log = LogMode::kErrors;
  // If set, called with each call's trace as it ends: for tests and
  // benchmarks. Thread-safe and quick.
  std::function<void(const deadline::v1::BudgetTrace&)> on_call_end;
  // If set, told of each call as it ends (the server's metrics); must
  // outlive the frontend.
  HopObserver* observer = nullptr;
};

// --max_stream_duration as given: 0 and infinity mean off (returned as
// InfiniteDuration()); otherwise it must leave room for the budget's
// reserve and minimum, or every stream would fail fast. INVALID_ARGUMENT
// naming the flag and its range.
absl::StatusOr<absl::Duration> ParseMaxStreamDuration(
    absl::Duration flag, const BudgetOptions& budget);

// One backend the frontend calls: as its --backend entry names it, and two
// stubs on its one channel. Unary calls (Work, Record) go through `raw`,
// their replies taken as bytes and parsed here (ParseReply), so that a reply
// that does not parse is never taken for an OK one; streams (WorkStream)
// through `stub`, each message checked as it comes.
struct BackendStub {
  std::string name;
  std::unique_ptr<deadline::v1::Backend::Stub> stub;
  std::unique_ptr<grpc::GenericStub> raw;
};

// What every call the frontend serves shares, whatever its method: the
// options, the clock and budget policy, where the calls' records go, the
// backends and how the contexts of calls to them are made, the auditor,
// and the shutdown. Thread-safe; `clock` must outlive it.
class Frontend {
 public:
  // `backends`: one or more, as ParseBackends() makes them. Channels to
  // them start connecting now, so the first caller's budget is not spent on
  // it.
  Frontend(const std::vector<BackendTarget>& backends,
           const FrontendOptions& options, Clock& clock);
  ~Frontend();

  const FrontendOptions& options() const { return options_; }
  Clock& clock() const { return clock_; }
  const BudgetPolicy& policy() const { return policy_; }
  HopSink& sink() { return sink_; }
  const HopSink& sink() const { return sink_; }
  BackendContexts& contexts() { return *contexts_; }
  // Null when audits are off.
  Auditor* auditor() { return auditor_.get(); }
  const Auditor* auditor() const { return auditor_.get(); }

  int backends() const { return static_cast<int>(backends_.size()); }
  const BackendStub& backend(int i) const { return backends_[i]; }
  // The backend for the next Fetch or FetchStream: they take turns.
  int NextBackend() {
    return static_cast<int>(
        next_backend_.fetch_add(1, std::memory_order_relaxed) %
        backends_.size());
  }

  // The server will cancel the calls still in flight at `cancel_at`: calls
  // cancelled from then on say the server shut down. Backend calls that
  // nothing else would stop are cancelled now (see BackendContexts).
  void BeginShutdown(absl::Time cancel_at);
  absl::Time shutdown_cancels_at() const {
    return absl::FromUnixNanos(
        shutdown_cancels_at_.load(std::memory_order_relaxed));
  }

 private:
  const FrontendOptions options_;
  Clock& clock_;
  const BudgetPolicy policy_;
  HopSink sink_;
  std::vector<BackendStub> backends_;
  const std::unique_ptr<BackendContexts> contexts_;
  // Declared after backends_, whose first stub it uses: destroyed before.
  std::unique_ptr<Auditor> auditor_;
  std::atomic<uint64_t> next_backend_{0};
  std::atomic<int64_t> shutdown_cancels_at_{
      std::numeric_limits<int64_t>::max()};
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_FRONTEND_H_
