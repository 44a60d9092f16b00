#include "server/backend_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "server/work_loop.h"

namespace deadline {

grpc::Status BackendService::Work(grpc::ServerContext* context,
                                  const deadline::v1::WorkRequest* request,
                                  deadline::v1::WorkReply* reply) {
  CallStats::Call call(stats_);
  const absl::StatusOr<WorkSpec> spec =
      ParseWorkRequest(*request, options_.limits);
  if (!spec.ok()) {
    call.End(Outcome::kInvalid);
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("backend: ", spec.status().message())));
  }

  const absl::Time deadline = FromGrpcDeadline(context->deadline());
  const absl::Duration budget = deadline - clock_.Now();
  if (deadline != absl::InfiniteFuture()) {
    ToProtoDuration(budget, reply->mutable_budget_at_start());
  }

  const WorkResult result = RunWork(
      *spec, deadline, [context] { return context->IsCancelled(); }, clock_,
      options_.check_interval);
  reply->set_steps_done(result.steps_done);

  const std::string progress = absl::StrCat(
      "backend: ", FormatBudget(budget), " at arrival, stopped after ",
      result.steps_done, "/", spec->steps, " steps");
  switch (result.reason) {
    case StopReason::kCompleted:
      call.End(Outcome::kOk, result.steps_done);
      return grpc::Status::OK;
    case StopReason::kDeadline:
      call.End(Outcome::kDeadlineExceeded, result.steps_done,
               result.stop_latency);
      return ToGrpcStatus(absl::DeadlineExceededError(
          absl::StrCat(progress, " at its deadline")));
    case StopReason::kCancelled:
      call.End(Outcome::kCancelled, result.steps_done, result.stop_latency);
      return ToGrpcStatus(absl::CancelledError(
          absl::StrCat(progress, ": the caller cancelled")));
  }
  return grpc::Status(grpc::StatusCode::INTERNAL, "backend: unknown stop");
}

}  // namespace deadline
