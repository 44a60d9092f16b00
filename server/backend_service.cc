#include "server/backend_service.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "server/work_loop.h"

namespace deadline {

using deadline::v1::WorkProgress;
using deadline::v1::WorkReply;
using deadline::v1::WorkRequest;

grpc::Status BackendService::Work(grpc::ServerContext* context,
                                  const WorkRequest* request,
                                  WorkReply* reply) {
  return Run("Work", *context, *request, reply,
             [](int, absl::Duration, absl::Duration) { return true; });
}

grpc::Status BackendService::WorkStream(
    grpc::ServerContext* context, const WorkRequest* request,
    grpc::ServerWriter<WorkProgress>* writer) {
  return Run("WorkStream", *context, *request, nullptr,
             [writer](int steps_done, absl::Duration elapsed,
                      absl::Duration time_left) {
               WorkProgress progress;
               progress.set_step(steps_done);
               ToProtoDuration(elapsed, progress.mutable_elapsed());
               if (time_left != absl::InfiniteDuration()) {
                 ToProtoDuration(time_left, progress.mutable_time_left());
               }
               // Blocks until the transport takes the message (flow
               // control); false once the call is cancelled or expired.
               return writer->Write(progress);
             });
}

grpc::Status BackendService::Run(absl::string_view method,
                                 grpc::ServerContext& context,
                                 const WorkRequest& request, WorkReply* reply,
                                 Progress on_step) {
  CallStats::Call call(stats_);
  const absl::Time start = clock_.Now();
  const absl::Time deadline = FromGrpcDeadline(context.deadline());
  const absl::Duration budget = deadline - start;

  deadline::v1::BudgetTrace trace;
  trace.set_request_id(RequestIdOf(context));
  deadline::v1::HopTrace& hop = *trace.add_hops();
  hop = NewHop("backend");
  ToProtoTime(start, hop.mutable_arrived_at());
  if (deadline != absl::InfiniteFuture()) {
    ToProtoTime(deadline, hop.mutable_deadline());
    ToProtoDuration(budget, hop.mutable_budget_at_arrival());
  }
  hop.set_steps_requested(request.steps());

  // Every way out: trace, log and count the outcome.
  const auto finish = [&](const absl::Status& status, Outcome outcome,
                          absl::string_view stop, const WorkResult& result) {
    hop.set_steps_done(result.steps_done);
    hop.set_code(absl::StatusCodeToString(status.code()));
    hop.set_stop(std::string(stop));
    ToProtoTime(clock_.Now(), hop.mutable_finished_at());
    if (outcome == Outcome::kCancelled) {
      ToProtoTime(result.finished, hop.mutable_noticed_cancel_at());
    }
    AttachTrace(context, trace);
    LogCall(options_.log, method, trace, hop, result.stop_latency);
    if (options_.on_call_end) options_.on_call_end(trace);
    call.End(outcome, result.steps_done, result.stop_latency);
    return ToGrpcStatus(status);
  };

  const absl::StatusOr<WorkSpec> spec =
      ParseWorkRequest(request, options_.limits);
  if (!spec.ok()) {
    return finish(absl::InvalidArgumentError(
                      absl::StrCat("backend: ", spec.status().message())),
                  Outcome::kInvalid, "invalid request", WorkResult{});
  }
  WorkSpec work = *spec;
  work.step *= options_.slowdown;

  const absl::Time stop_at = deadline - options_.reserve;
  // IsCancelled() costs a completion-queue poll in the sync API (~20 us,
  // see bench/): worth it only when there is work to save.
  const bool has_work = work.steps > 0;
  CancelSignal cancel;
  if (has_work && context.IsCancelled()) cancel.Cancel(start);
  WorkResult result;
  {
    // Watched only while the loop runs: never asked after the call ends.
    const auto watch =
        has_work
            ? watcher_.Add([&context] { return context.IsCancelled(); }, cancel)
            : nullptr;
    result = RunWork(work, stop_at, cancel, clock_, options_.check_interval,
                     [&](int steps_done) {
                       const absl::Time now = clock_.Now();
                       return on_step(steps_done, now - start, deadline - now);
                     });
  }
  if (reply != nullptr) {
    reply->set_steps_done(result.steps_done);
    if (deadline != absl::InfiniteFuture()) {
      ToProtoDuration(budget, reply->mutable_budget_at_start());
    }
  }

  // A failed stream write means the call is over: cancelled (if the signal
  // says so, or before the stop time), else expired. A write blocked by a
  // slow reader may have run past either; count from that moment.
  if (result.reason == StopReason::kAborted) {
    if (cancel.cancelled() || result.finished < stop_at) {
      result.reason = StopReason::kCancelled;
      if (cancel.cancelled()) {
        result.stop_latency =
            std::max(result.finished - cancel.alive_at(), absl::ZeroDuration());
      }
    } else {
      result.reason = StopReason::kDeadline;
      result.stop_latency = result.finished - stop_at;
    }
  }
  const StopReason reason = result.reason;
  const std::string progress = absl::StrCat(
      "backend: ", FormatBudget(budget), " at arrival, stopped after ",
      result.steps_done, "/", spec->steps, " steps");
  switch (reason) {
    case StopReason::kCompleted:
      return finish(absl::OkStatus(), Outcome::kOk, "done", result);
    case StopReason::kDeadline:
      return finish(absl::DeadlineExceededError(
                        absl::StrCat(progress, " at its deadline")),
                    Outcome::kDeadlineExceeded, "at its deadline", result);
    case StopReason::kCancelled:
    case StopReason::kAborted:
      break;
  }
  return finish(
      absl::CancelledError(absl::StrCat(progress, ": the caller cancelled")),
      Outcome::kCancelled, "the caller cancelled", result);
}

}  // namespace deadline
