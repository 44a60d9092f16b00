#include "server/frontend_service.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace deadline {

using deadline::v1::FetchReply;
using deadline::v1::FetchRequest;

// One Fetch call. Lives until OnDone(). It finishes only from the backend
// call's completion callback (or before starting that call), so the backend
// ClientContext, which is derived from this call's context, never outlives
// the call it derives from.
class FrontendService::FetchReactor final : public grpc::ServerUnaryReactor {
 public:
  FetchReactor(FrontendService& service, grpc::CallbackServerContext* context,
               const FetchRequest& request, FetchReply* reply)
      : service_(service), call_(service.stats_) {
    Start(context, request, reply);
  }

  void OnCancel() override {
    // With propagation, gRPC itself cancels the backend call: nothing to do
    // but note the moment. Without it, the backend call runs on; only a
    // shutdown stops it (see BeginShutdown).
    absl::MutexLock lock(&mu_);
    caller_gone_at_ = service_.clock_.Now();
  }

  void OnDone() override { delete this; }

 private:
  void Start(grpc::CallbackServerContext* context, const FetchRequest& request,
             FetchReply* reply) {
    const absl::StatusOr<WorkSpec> spec =
        ParseWorkRequest(request.work(), service_.options_.limits, "work.");
    if (!spec.ok()) {
      End(absl::InvalidArgumentError(
              absl::StrCat("frontend: ", spec.status().message())),
          Outcome::kInvalid);
      return;
    }

    budget_ = service_.policy_.Plan(FromGrpcDeadline(context->deadline()));
    if (budget_.at_arrival != absl::InfiniteDuration()) {
      ToProtoDuration(budget_.at_arrival, reply->mutable_budget_at_start());
    }
    if (budget_.fail_fast) {
      End(absl::DeadlineExceededError(absl::StrCat(
              "frontend: ", service_.policy_.ExplainFailFast(budget_),
              "; backend not called")),
          Outcome::kRejected);
      return;
    }

    if (service_.options_.propagate) {
      backend_context_ =
          grpc::ClientContext::FromCallbackServerContext(*context);
      // The child's deadline is the earlier of the parent's and this one.
      backend_context_->set_deadline(ToGrpcDeadline(budget_.forward_deadline));
      ToProtoDuration(budget_.forwarded, reply->mutable_budget_forwarded());
    } else {
      backend_context_ = std::make_unique<grpc::ClientContext>();
      service_.Track(backend_context_.get());
    }
    reply_ = reply;
    service_.backend_->async()->Work(
        backend_context_.get(), &request.work(), reply->mutable_backend(),
        [this](grpc::Status status) { OnBackendDone(status); });
  }

  // Runs on a gRPC thread; never blocks.
  void OnBackendDone(const grpc::Status& status) {
    const absl::Time now = service_.clock_.Now();
    if (!service_.options_.propagate) service_.Untrack(backend_context_.get());
    const int64_t steps = reply_->backend().steps_done();

    absl::Duration stop_latency = absl::ZeroDuration();
    {
      absl::MutexLock lock(&mu_);
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        stop_latency = now - budget_.forward_deadline;
      } else if (caller_gone_at_.has_value()) {
        stop_latency = now - *caller_gone_at_;
      }
    }
    stop_latency = std::max(stop_latency, absl::ZeroDuration());

    if (status.ok()) {
      End(absl::OkStatus(), Outcome::kOk, steps);
      return;
    }
    const std::string forwarded =
        service_.options_.propagate
            ? absl::StrCat("forwarded ", FormatBudget(budget_.forwarded))
            : "forwarded no deadline (propagation off)";
    const absl::Status backend_status = FromGrpcStatus(status);
    End(absl::Status(
            backend_status.code(),
            absl::StrCat("frontend: ", FormatBudget(budget_.at_arrival),
                         " at arrival, ", forwarded, "; ",
                         BackendMessage(status))),
        OutcomeOf(backend_status.code()), steps, stop_latency);
  }

  // The backend's own message, or what the frontend's side of the call saw
  // when the backend did not answer (its deadline fired here first, or it
  // could not be reached).
  static std::string BackendMessage(const grpc::Status& status) {
    const std::string& message = status.error_message();
    if (absl::StartsWith(message, "backend: ")) return message;
    return absl::StrCat("backend call: ", message);
  }

  void End(const absl::Status& status, Outcome outcome, int64_t steps = 0,
           absl::Duration stop_latency = absl::ZeroDuration()) {
    call_.End(outcome, steps, stop_latency);
    Finish(ToGrpcStatus(status));
  }

  FrontendService& service_;
  CallStats::Call call_;
  Budget budget_;
  FetchReply* reply_ = nullptr;
  std::unique_ptr<grpc::ClientContext> backend_context_;

  absl::Mutex mu_;
  absl::optional<absl::Time> caller_gone_at_ ABSL_GUARDED_BY(mu_);
};

std::shared_ptr<grpc::Channel> CreateBackendChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

FrontendService::FrontendService(
    std::shared_ptr<grpc::ChannelInterface> backend,
    const FrontendOptions& options, Clock& clock)
    : backend_(deadline::v1::Backend::NewStub(std::move(backend))),
      options_(options),
      clock_(clock),
      policy_(options.budget, clock) {}

grpc::ServerUnaryReactor* FrontendService::Fetch(
    grpc::CallbackServerContext* context, const FetchRequest* request,
    FetchReply* reply) {
  return new FetchReactor(*this, context, *request, reply);
}

void FrontendService::Track(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) {
    context->TryCancel();
    return;
  }
  unpropagated_.insert(context);
}

void FrontendService::Untrack(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  unpropagated_.erase(context);
}

void FrontendService::BeginShutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  for (grpc::ClientContext* context : unpropagated_) context->TryCancel();
}

}  // namespace deadline
