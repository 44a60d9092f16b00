#include "server/frontend_service.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "common/metadata.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "server/fan_out.h"

namespace deadline {
namespace {

using deadline::v1::FetchAllReply;
using deadline::v1::FetchAllRequest;
using deadline::v1::FetchReply;
using deadline::v1::FetchRequest;

// The backend's own message, or what the frontend's side of the call saw
// when the backend did not answer (its deadline fired here first, or the
// backend could not be reached).
std::string BackendMessage(const grpc::Status& status) {
  const std::string& message = status.error_message();
  if (absl::StartsWith(message, "backend: ")) return message;
  return absl::StrCat("backend call: ", message);
}

// The steps a finished backend call reported in its trailing metadata (a
// failed call has no reply message to carry them), or 0.
int StepsDone(const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find(kStepsDoneKey);
  int steps = 0;
  if (it == trailers.end() ||
      !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()),
                        &steps)) {
    return 0;
  }
  return steps;
}

}  // namespace

std::shared_ptr<grpc::Channel> CreateBackendChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// One Fetch call. Lives until OnDone(). It finishes only from the backend
// call's completion callback (or before starting that call), so the backend
// ClientContext, which is derived from this call's context, never outlives
// the call it derives from.
class FrontendService::FetchReactor final : public grpc::ServerUnaryReactor {
 public:
  FetchReactor(FrontendService& service, grpc::CallbackServerContext& context,
               const FetchRequest& request, FetchReply* reply)
      : service_(service), call_(service.stats_), reply_(*reply) {
    Start(context, request);
  }

  void OnCancel() override {
    // With propagation, gRPC itself cancels the backend call: nothing to do
    // but note the moment. Without it, the backend call runs on.
    absl::MutexLock lock(&mu_);
    caller_gone_at_ = service_.clock_.Now();
  }

  void OnDone() override { delete this; }

 private:
  void Start(grpc::CallbackServerContext& context,
             const FetchRequest& request) {
    const absl::StatusOr<WorkSpec> spec =
        ParseWorkRequest(request.work(), service_.options_.limits, "work.");
    if (!spec.ok()) {
      End(absl::InvalidArgumentError(
              absl::StrCat("frontend: ", spec.status().message())),
          Outcome::kInvalid);
      return;
    }

    budget_ = service_.policy_.Plan(FromGrpcDeadline(context.deadline()));
    if (budget_.at_arrival != absl::InfiniteDuration()) {
      ToProtoDuration(budget_.at_arrival, reply_.mutable_budget_at_start());
    }
    if (budget_.fail_fast) {
      End(absl::DeadlineExceededError(absl::StrCat(
              "frontend: ", service_.policy_.ExplainFailFast(budget_),
              "; backend not called")),
          Outcome::kRejected);
      return;
    }
    if (service_.options_.propagate) {
      ToProtoDuration(budget_.forwarded, reply_.mutable_budget_forwarded());
    }

    backend_context_ = service_.NewBackendContext(context, budget_);
    const Backend& backend =
        service_
            .backends_[service_.next_backend_++ % service_.backends_.size()];
    backend.stub->async()->Work(
        backend_context_.get(), &request.work(), reply_.mutable_backend(),
        [this](grpc::Status status) { OnBackendDone(status); });
  }

  // Runs on a gRPC thread; never blocks.
  void OnBackendDone(const grpc::Status& status) {
    const absl::Time now = service_.clock_.Now();
    service_.ReleaseBackendContext(*backend_context_);
    const int64_t steps = StepsDone(*backend_context_);
    if (status.ok()) {
      End(absl::OkStatus(), Outcome::kOk, steps);
      return;
    }

    absl::Duration stop_latency = absl::ZeroDuration();
    {
      absl::MutexLock lock(&mu_);
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        stop_latency = now - budget_.forward_deadline;
      } else if (caller_gone_at_.has_value()) {
        stop_latency = now - *caller_gone_at_;
      }
    }
    const absl::Status backend_status = FromGrpcStatus(status);
    End(absl::Status(backend_status.code(),
                     absl::StrCat(service_.HopSummary(budget_), "; ",
                                  BackendMessage(status))),
        OutcomeOf(backend_status.code()), steps,
        std::max(stop_latency, absl::ZeroDuration()));
  }

  void End(const absl::Status& status, Outcome outcome, int64_t steps = 0,
           absl::Duration stop_latency = absl::ZeroDuration()) {
    call_.End(outcome, steps, stop_latency);
    Finish(ToGrpcStatus(status));
  }

  FrontendService& service_;
  CallStats::Call call_;
  FetchReply& reply_;
  Budget budget_;
  std::unique_ptr<grpc::ClientContext> backend_context_;

  absl::Mutex mu_;
  absl::optional<absl::Time> caller_gone_at_ ABSL_GUARDED_BY(mu_);
};

// One FetchAll call: a backend call per panel, all started at once through
// the async stub, bookkept by a FanOutGroup. Finishes from the last panel's
// completion callback, so no panel's context outlives the call. Lives until
// OnDone().
class FrontendService::FetchAllReactor final : public grpc::ServerUnaryReactor {
 public:
  FetchAllReactor(FrontendService& service,
                  grpc::CallbackServerContext& context,
                  const FetchAllRequest& request, FetchAllReply* reply)
      : service_(service),
        caller_(context),
        call_(service.stats_),
        reply_(*reply),
        group_(request.panels_size(),
               request.mode() == deadline::v1::FAN_OUT_MODE_PARTIAL
                   ? FanOutPolicy::kPartial
                   : FanOutPolicy::kAllOrNothing) {
    Start(context, request);
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    caller_gone_at_ = service_.clock_.Now();
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Validate(const FetchAllRequest& request) const {
    const int max_panels = service_.options_.max_panels;
    if (request.panels_size() > max_panels) {
      return absl::InvalidArgumentError(
          absl::StrCat("frontend: panels must be at most ", max_panels,
                       ", got ", request.panels_size()));
    }
    if (!deadline::v1::FanOutMode_IsValid(request.mode())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "frontend: mode must be a FanOutMode, got ", request.mode()));
    }
    for (int i = 0; i < request.panels_size(); ++i) {
      const absl::StatusOr<WorkSpec> spec =
          ParseWorkRequest(request.panels(i), service_.options_.limits,
                           absl::StrCat("panels[", i, "]."));
      if (!spec.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("frontend: ", spec.status().message()));
      }
    }
    return absl::OkStatus();
  }

  void Start(grpc::CallbackServerContext& context,
             const FetchAllRequest& request) {
    if (absl::Status valid = Validate(request); !valid.ok()) {
      End(valid, Outcome::kInvalid);
      return;
    }
    budget_ = service_.policy_.Plan(FromGrpcDeadline(context.deadline()));
    if (budget_.at_arrival != absl::InfiniteDuration()) {
      ToProtoDuration(budget_.at_arrival, reply_.mutable_budget_at_start());
    }
    if (budget_.fail_fast) {
      End(absl::DeadlineExceededError(absl::StrCat(
              "frontend: ", service_.policy_.ExplainFailFast(budget_),
              "; no panel started")),
          Outcome::kRejected);
      return;
    }
    if (service_.options_.propagate) {
      ToProtoDuration(budget_.forwarded, reply_.mutable_budget_forwarded());
    }
    const int n = request.panels_size();
    if (n == 0) {
      End(absl::OkStatus(), Outcome::kOk);
      return;
    }

    // Everything a completion callback touches exists before the first call
    // starts: a panel can fail (and cancel its siblings) before the loop
    // below has started them all; cancelling a call not yet started is safe.
    contexts_.reserve(n);
    for (int i = 0; i < n; ++i) {
      contexts_.push_back(service_.NewBackendContext(context, budget_));
      deadline::v1::PanelResult& panel = *reply_.add_panels();
      panel.set_index(i);
      panel.set_backend(Panel(i).target);
      if (service_.options_.propagate) {
        ToProtoDuration(budget_.forwarded, panel.mutable_budget_forwarded());
      }
    }
    start_ = service_.clock_.Now();
    for (int i = 0; i < n; ++i) {
      Panel(i).stub->async()->Work(
          contexts_[i].get(), &request.panels(i),
          reply_.mutable_panels(i)->mutable_reply(),
          [this, i](grpc::Status status) { OnPanelDone(i, status); });
    }
  }

  const Backend& Panel(int i) const {
    return service_.backends_[i % service_.backends_.size()];
  }

  // Runs on a gRPC thread; never blocks (TryCancel does not wait).
  void OnPanelDone(int i, const grpc::Status& status) {
    const absl::Time now = service_.clock_.Now();
    service_.ReleaseBackendContext(*contexts_[i]);
    deadline::v1::PanelResult& panel = *reply_.mutable_panels(i);
    panel.set_code(status.error_code());
    panel.mutable_reply()->set_steps_done(StepsDone(*contexts_[i]));
    if (!status.ok()) panel.set_message(BackendMessage(status));
    ToProtoDuration(now - start_, panel.mutable_elapsed());

    if (group_.Record(i, FromGrpcStatus(status))) {
      for (int j = 0; j < static_cast<int>(contexts_.size()); ++j) {
        if (j != i) contexts_[j]->TryCancel();
      }
    }
    // The last arrival finishes the call, which deletes this reactor: after
    // Arrive(), only the last one may touch it.
    if (group_.Arrive()) Conclude(now);
  }

  void Conclude(absl::Time now) {
    int64_t steps = 0;
    bool any_deadline = false;
    for (const deadline::v1::PanelResult& panel : reply_.panels()) {
      steps += panel.reply().steps_done();
      any_deadline |= panel.code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    }
    absl::Duration stop_latency = absl::ZeroDuration();
    bool caller_gone = false;
    {
      absl::MutexLock lock(&mu_);
      if (caller_gone_at_.has_value()) {
        caller_gone = true;
        stop_latency = now - *caller_gone_at_;
      } else if (caller_.IsCancelled()) {
        // Cancelled, but OnCancel has not run yet: gRPC may cancel the
        // propagated panels (and so get here) first.
        caller_gone = true;
      } else if (any_deadline) {
        stop_latency = now - budget_.forward_deadline;
      }
    }
    stop_latency = std::max(stop_latency, absl::ZeroDuration());

    if (caller_gone) {
      // Nobody will read the answer; count the call for what it was.
      const bool expired = now >= budget_.forward_deadline;
      End(absl::Status(expired ? absl::StatusCode::kDeadlineExceeded
                               : absl::StatusCode::kCancelled,
                       absl::StrCat(service_.HopSummary(budget_),
                                    "; the caller went away, every panel "
                                    "was stopped")),
          expired ? Outcome::kDeadlineExceeded : Outcome::kCancelled, steps,
          stop_latency);
      return;
    }
    const absl::Status result = group_.status();
    if (result.ok()) {
      End(result, Outcome::kOk, steps, stop_latency);
      return;
    }
    const int first = group_.first_failure();
    End(absl::Status(
            result.code(),
            absl::StrCat(service_.HopSummary(budget_), "; panel ", first,
                         " of ", reply_.panels_size(), " (",
                         Panel(first).target,
                         ") failed first, its siblings were cancelled: ",
                         reply_.panels(first).message())),
        OutcomeOf(result.code()), steps, stop_latency);
  }

  void End(const absl::Status& status, Outcome outcome, int64_t steps = 0,
           absl::Duration stop_latency = absl::ZeroDuration()) {
    call_.End(outcome, steps, stop_latency);
    Finish(ToGrpcStatus(status));
  }

  FrontendService& service_;
  grpc::CallbackServerContext& caller_;
  CallStats::Call call_;
  FetchAllReply& reply_;
  FanOutGroup group_;
  Budget budget_;
  absl::Time start_;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts_;

  absl::Mutex mu_;
  absl::optional<absl::Time> caller_gone_at_ ABSL_GUARDED_BY(mu_);
};

FrontendService::FrontendService(const std::vector<std::string>& backends,
                                 const FrontendOptions& options, Clock& clock)
    : options_(options), clock_(clock), policy_(options.budget, clock) {
  for (const std::string& target : backends) {
    auto channel = CreateBackendChannel(target);
    // Connect now, so the first caller's budget is not spent on it.
    channel->GetState(/*try_to_connect=*/true);
    backends_.push_back({target, deadline::v1::Backend::NewStub(channel)});
  }
}

grpc::ServerUnaryReactor* FrontendService::Fetch(
    grpc::CallbackServerContext* context, const FetchRequest* request,
    FetchReply* reply) {
  return new FetchReactor(*this, *context, *request, reply);
}

grpc::ServerUnaryReactor* FrontendService::FetchAll(
    grpc::CallbackServerContext* context, const FetchAllRequest* request,
    FetchAllReply* reply) {
  return new FetchAllReactor(*this, *context, *request, reply);
}

std::unique_ptr<grpc::ClientContext> FrontendService::NewBackendContext(
    grpc::CallbackServerContext& caller, const Budget& budget) {
  if (options_.propagate) {
    std::unique_ptr<grpc::ClientContext> context =
        grpc::ClientContext::FromCallbackServerContext(caller);
    // The child's deadline is the earlier of the parent's and this one.
    context->set_deadline(ToGrpcDeadline(budget.forward_deadline));
    return context;
  }
  auto context = std::make_unique<grpc::ClientContext>();
  absl::MutexLock lock(&mu_);
  if (shutting_down_) context->TryCancel();
  unpropagated_.insert(context.get());
  return context;
}

void FrontendService::ReleaseBackendContext(grpc::ClientContext& context) {
  if (options_.propagate) return;
  absl::MutexLock lock(&mu_);
  unpropagated_.erase(&context);
}

void FrontendService::BeginShutdown() {
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  for (grpc::ClientContext* context : unpropagated_) context->TryCancel();
}

std::string FrontendService::HopSummary(const Budget& budget) const {
  return absl::StrCat(
      "frontend: ", FormatBudget(budget.at_arrival), " at arrival, ",
      options_.propagate
          ? absl::StrCat("forwarded ", FormatBudget(budget.forwarded))
          : "forwarded no deadline (propagation off)");
}

}  // namespace deadline
