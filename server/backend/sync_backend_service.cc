#include "server/backend/sync_backend_service.h"

#include <algorithm>

#include "common/status_util.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "server/deadline/cancel_signal.h"

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
  BackendCall call(
      core_,
      {method, RequestIdOf(context), DeadlineOf(context), AttemptOf(context)},
      request);
  if (call.admitted()) {
    Clock& clock = core_.clock();
    CancelSignal cancel(clock);
    // The --ignore_cancel anti-pattern watches into a signal the loop never
    // asks: the cancel arrives, and nobody checks it.
    const bool ignore = core_.options().ignore_cancel;
    CancelSignal ignored(clock);
    WorkResult result;
    {
      // Watched only while the loop runs: never asked after the call ends.
      // IsCancelled() costs a completion-queue poll here (see bench/):
      // worth it only when there is work to save.
      const auto watch =
          call.spec().steps > 0
              ? watcher_.Add([&context] { return context.IsCancelled(); },
                             ignore ? ignored : cancel)
              : nullptr;
      result = RunWork(call.spec(), call.stop_at(), cancel, clock,
                       core_.options().check_interval, [&](int steps_done) {
                         if (writer == nullptr) return true;
                         WorkProgress progress;
                         call.FillProgress(steps_done, clock.Now(), progress);
                         // Blocks until the transport takes the message
                         // (flow control); false once the call is over.
                         return writer->Write(progress);
                       });
    }
    // A failed stream write means the call is over: cancelled (if the
    // watcher saw it, or before the stop time), else expired. A write
    // blocked by a slow reader may have run past either; count from then.
    if (result.reason == StopReason::kAborted) {
      if (cancel.cancelled() || result.finished < call.stop_at()) {
        result.reason = StopReason::kCancelled;
        if (cancel.cancelled()) {
          result.stop_latency = std::max(result.finished - cancel.alive_at(),
                                         absl::ZeroDuration());
        }
      } else {
        result.reason = StopReason::kDeadline;
        result.stop_latency = result.finished - call.stop_at();
      }
    }
    if (ignored.cancelled()) call.NoteIgnoredCancel(ignored.alive_at());
    call.End(result);
  }
  if (reply != nullptr) call.FillReply(*reply);
  AttachTrace(context, call.trace(), call.status());
  return ToGrpcStatus(call.status());
}

}  // namespace deadline
