// The example backend's Work: a reactor per call that is also the work loop's
// view of its caller (the Caller of server/deadline/work_loop.h). The full
// version, with timers instead of a thread for sleep-like work, shedding and
// traces, is server/backend/backend_service.cc.
#include "examples/cpp/backend.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "server/deadline/work_request.h"

namespace deadline::example {
namespace {

using ::deadline::v1::WorkReply;
using ::deadline::v1::WorkRequest;

// A call refused before any work, its code unchanged.
grpc::Status Refusal(const absl::Status& why) {
  return grpc::Status(static_cast<grpc::StatusCode>(why.code()),
                      absl::StrCat("backend: ", why.message()));
}

}  // namespace

// One Work call. Lives until gRPC is done with it (OnDone); the worker that
// runs it must not touch it after Finish().
class BackendService::WorkCall final : public grpc::ServerUnaryReactor,
                                       public Caller {
 public:
  WorkCall(const BackendService& service, grpc::CallbackServerContext& context,
           WorkReply& reply)
      : service_(service),
        context_(context),
        reply_(reply),
        budget_(service.policy_.Plan(DeadlineOf(context))) {}

  const Budget& budget() const { return budget_; }

  // On a worker thread: runs the work until it is done, `budget_` runs out
  // or the caller goes, then answers.
  void Run(const WorkSpec& spec) {
    const BackendOptions& options = service_.options_;
    const WorkResult result =
        RunWork(spec, budget_.forward_deadline, *this, RealClock(),
                options.check_interval, [&options](int steps_done) {
                  if (options.on_step) options.on_step(steps_done);
                  return true;
                });
    if (options.on_done) options.on_done(result);
    Finish(Answer(spec, result));  // `this` may be gone from here on.
  }

  // Caller: gRPC's own flag, cheap in the callback API; and a wait that
  // OnCancel() cuts short.
  bool IsCancelled() override { return context_.IsCancelled(); }
  void WaitUntil(absl::Time until) override {
    RealClock().SleepUntil(until, caller_gone_);
  }

 private:
  // The caller cancelled, the deadline passed or the server is stopping.
  void OnCancel() override { caller_gone_.Notify(); }
  void OnDone() override { delete this; }

  grpc::Status Answer(const WorkSpec& spec, const WorkResult& result) {
    reply_.set_steps_done(result.steps_done);
    if (budget_.at_arrival != absl::InfiniteDuration()) {
      ToProtoDuration(budget_.at_arrival, reply_.mutable_budget_at_arrival());
    }
    const std::string story = absl::StrCat(
        " after ", result.steps_done, "/", spec.steps, " steps (budget ",
        FormatBudget(budget_.at_arrival), " at arrival, ",
        FormatBudget(budget_.at_arrival - budget_.forwarded),
        " of it kept back to answer in time)");
    switch (result.reason) {
      case StopReason::kCompleted:
        return grpc::Status::OK;
      case StopReason::kDeadline:
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                            absl::StrCat("backend: out of time", story));
      case StopReason::kCancelled:
      case StopReason::kAborted:
        break;
    }
    return grpc::Status(grpc::StatusCode::CANCELLED,
                        absl::StrCat("backend: the caller cancelled", story));
  }

  const BackendService& service_;
  grpc::CallbackServerContext& context_;
  WorkReply& reply_;
  // The caller's deadline, planned at arrival: the work stops at
  // budget_.forward_deadline.
  const Budget budget_;
  absl::Notification caller_gone_;
};

BackendService::BackendService(BackendOptions options)
    : options_(std::move(options)),
      policy_(options_.budget, RealClock()),
      workers_(options_.workers, options_.max_queue) {}

grpc::ServerUnaryReactor* BackendService::Work(
    grpc::CallbackServerContext* context, const WorkRequest* request,
    WorkReply* reply) {
  auto* call = new WorkCall(*this, *context, *reply);
  // The request as work: INVALID_ARGUMENT naming the field and its limit
  // for anything outside them (server/deadline/work_request.h).
  const absl::StatusOr<WorkSpec> spec = ParseWorkRequest(*request, {});
  if (!spec.ok()) {
    call->Finish(Refusal(spec.status()));
    return call;
  }
  // Knowing the work's cost and the call's budget, the pool refuses at once
  // a call that the work queued ahead would make late. A call with no time
  // left is queued anyway, and runs no step.
  const absl::StatusOr<WorkerPool::TaskId> queued = workers_.Submit(
      [call, spec = *spec] { call->Run(spec); }, spec->steps * spec->step,
      std::max(call->budget().forwarded, absl::ZeroDuration()));
  if (!queued.ok()) {
    call->Finish(Refusal(queued.status()));
  }
  return call;
}

}  // namespace deadline::example
