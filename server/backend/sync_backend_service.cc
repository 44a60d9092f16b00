#include "server/backend/sync_backend_service.h"

#include <algorithm>

#include "common/grpc_time.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "server/deadline/cancel_signal.h"
#include "server/deadline/propagation.h"

namespace deadline {

using deadline::v1::WorkProgress;
using deadline::v1::WorkReply;
using deadline::v1::WorkRequest;

grpc::Status SyncBackendService::Work(grpc::ServerContext* context,
                                      const WorkRequest* request,
                                      WorkReply* reply) {
  return Run("Work", *context, *request, reply, nullptr);
}

grpc::Status SyncBackendService::WorkStream(
    grpc::ServerContext* context, const WorkRequest* request,
    grpc::ServerWriter<WorkProgress>* writer) {
  return Run("WorkStream", *context, *request, nullptr, writer);
}

grpc::Status SyncBackendService::Record(grpc::ServerContext* /*context*/,
                                        const deadline::v1::AuditRecord* record,
                                        deadline::v1::RecordReply* /*reply*/) {
  return ToGrpcStatus(core_.Store(*record));
}

grpc::Status SyncBackendService::Run(absl::string_view method,
                                     grpc::ServerContext& context,
                                     const WorkRequest& request,
                                     WorkReply* reply,
                                     grpc::ServerWriter<WorkProgress>* writer) {
  BackendCall call(core_,
                   {method, RequestIdOf(context), CallerDeadlineOf(context),
                    AttemptOf(context)},
                   request);
  if (call.admitted()) {
    Clock& clock = core_.clock();
    CancelSignal cancel(clock);
    WorkResult result;
    {
      // Watched only while the loop runs: never asked after the call ends.
      // IsCancelled() costs a completion-queue poll here (see bench/):
      // worth it only when there is work to save.
      const auto watch =
          call.spec().steps > 0
              ? watcher_.Add([&context] { return context.IsCancelled(); },
                             cancel)
              : nullptr;
      result = RunWork(call.spec(), call.stop_at(), call.Heard(cancel), clock,
                       core_.options().check_interval, [&](int steps_done) {
                         if (writer == nullptr) return true;
                         WorkProgress progress;
                         call.FillProgress(steps_done, clock.Now(), progress);
                         // Blocks until the transport takes the message
                         // (flow control); false once the call is over.
                         return writer->Write(progress);
                       });
    }
    WorkStop stop = WorkStop::Of(result);
    if (cancel.cancelled()) {
      // The watcher heard it, whether or not the work listened; the stop
      // latency counts from its last "still waiting".
      stop.cancel_heard_at = std::min(stop.cancel_heard_at, cancel.heard_at());
      stop.alive_at = cancel.alive_at();
    }
    call.End(stop);
  }
  if (reply != nullptr) call.FillReply(*reply);
  AttachTrace(context, call.trace(), call.status());
  return ToGrpcStatus(call.status());
}

}  // namespace deadline
