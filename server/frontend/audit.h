#ifndef DEADLINE_SERVER_FRONTEND_AUDIT_H_
#define DEADLINE_SERVER_FRONTEND_AUDIT_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/server_context.h"
#include "proto/deadline.grpc.pb.h"
#include "server/observability/call_log.h"

namespace deadline {

// How an audit call relates to the request it records.
enum class AuditMode {
  kOff,
  // Detached work, Go's context.WithoutCancel: a fresh context with a short
  // deadline of its own, so the record lands even when the request's caller
  // cancels or its deadline passes.
  kDetached,
  // THE HAZARD, kept to show it: a context derived from the request's, as
  // for the request's own backend calls. The audit inherits the request's
  // deadline and cancellation, and dies with the request: when its caller
  // cancels, and as soon as the request is answered.
  kDerived,
};

// Records each call's outcome with Backend.Record: work that must outlive
// the request it belongs to. Every audit runs under its own deadline
// (`deadline`), is counted as landed or failed (a failure is logged), and
// may be waited for at shutdown. Thread-safe; `stub` and `clock` must
// outlive it.
class Auditor {
 public:
  Auditor(grpc::GenericStub& stub, AuditMode mode, absl::Duration deadline,
          LogMode log, Clock& clock);
  // Cancels the audits still in flight and waits until they have ended.
  ~Auditor();
  Auditor(const Auditor&) = delete;
  Auditor& operator=(const Auditor&) = delete;

  // Sends `record` for the call whose context is `caller`. Call it while
  // that call is still in flight, before it is answered: `caller` is read
  // only here, never after (a server context must not be used once its call
  // has ended).
  void Send(grpc::CallbackServerContext& caller,
            deadline::v1::AuditRecord record);

  // Waits until no audit is in flight, or until `until`; returns whether
  // none is.
  bool WaitIdle(absl::Time until);

  int64_t landed() const { return landed_.load(std::memory_order_relaxed); }
  int64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  struct Audit;
  void Ended(Audit* audit, const grpc::Status& status);

  grpc::GenericStub& stub_;
  const AuditMode mode_;
  const absl::Duration deadline_;
  const LogMode log_;
  Clock& clock_;
  std::atomic<int64_t> landed_{0};
  std::atomic<int64_t> failed_{0};
  absl::Mutex mu_;
  absl::flat_hash_set<Audit*> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_AUDIT_H_
