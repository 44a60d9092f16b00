#ifndef DEADLINE_SERVER_BACKEND_SYNC_BACKEND_SERVICE_H_
#define DEADLINE_SERVER_BACKEND_SYNC_BACKEND_SERVICE_H_

#include "common/clock.h"
#include "proto/deadline.grpc.pb.h"
#include "server/backend/backend_call.h"
#include "server/backend/cancellation_watcher.h"
#include "server/observability/call_stats.h"

namespace deadline {

// deadline.v1.Backend on the synchronous API (`backend --api=sync`): the
// variant for teams whose services are sync. Each call runs RunWork() on a
// server thread of its own, under the call's deadline and a CancelSignal
// that a shared CancellationWatcher sets once ServerContext::IsCancelled()
// says so: the sync API has no cancellation callback, and its IsCancelled()
// polls the call's completion queue, so one thread asks for all calls.
// `options.workers` and `options.max_queue` do not apply: gRPC's sync
// thread pool runs the calls.
//
// Answers as BackendService does (see there), except that it never refuses
// a call for a full queue. Thread-safe; `clock` must outlive the service.
class SyncBackendService final : public deadline::v1::Backend::Service {
 public:
  explicit SyncBackendService(const BackendOptions& options,
                              Clock& clock = RealClock())
      : core_(options, clock), watcher_(options.check_interval, clock) {}

  grpc::Status Work(grpc::ServerContext* context,
                    const deadline::v1::WorkRequest* request,
                    deadline::v1::WorkReply* reply) override;

  grpc::Status WorkStream(
      grpc::ServerContext* context, const deadline::v1::WorkRequest* request,
      grpc::ServerWriter<deadline::v1::WorkProgress>* writer) override;

  grpc::Status Record(grpc::ServerContext* context,
                      const deadline::v1::AuditRecord* record,
                      deadline::v1::RecordReply* reply) override;

  StatsSnapshot stats() const {
    StatsSnapshot snapshot = core_.stats().Snapshot();
    snapshot.records = core_.records();
    return snapshot;
  }
  // See BackendCore::BeginShutdown().
  void BeginShutdown(absl::Time cancel_at) { core_.BeginShutdown(cancel_at); }

 private:
  // Runs one call of either method: the loop on this thread, watched, then
  // the answer. Fills `reply` (Work) or writes a message per step to
  // `writer` (WorkStream).
  grpc::Status Run(absl::string_view method, grpc::ServerContext& context,
                   const deadline::v1::WorkRequest& request,
                   deadline::v1::WorkReply* reply,
                   grpc::ServerWriter<deadline::v1::WorkProgress>* writer);

  BackendCore core_;
  CancellationWatcher watcher_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_BACKEND_SYNC_BACKEND_SERVICE_H_
