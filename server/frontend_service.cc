#include "server/frontend_service.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "common/trace.h"
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
using deadline::v1::HopTrace;

// The backend's own message, or what the frontend's side of the call saw
// when the backend did not answer (its deadline fired here first, or the
// backend could not be reached).
std::string BackendMessage(const grpc::Status& status) {
  const std::string& message = status.error_message();
  if (absl::StartsWith(message, "backend: ")) return message;
  return absl::StrCat("backend call: ", message);
}

std::string CodeName(absl::StatusCode code) {
  return absl::StatusCodeToString(code);
}

}  // namespace

std::shared_ptr<grpc::Channel> CreateBackendChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// What Fetch and FetchAll share: the caller's context and budget, the
// request id, the trace, the stats, and the one way out (End). A reactor
// lives until OnDone(). It finishes only from a backend call's completion
// callback, or before starting any, so no backend ClientContext, derived
// from the caller's context, outlives the call it derives from.
class FrontendService::Reactor : public grpc::ServerUnaryReactor {
 public:
  Reactor(FrontendService& service, grpc::CallbackServerContext& caller,
          absl::string_view method)
      : service_(service),
        caller_(caller),
        method_(method),
        call_(service.stats_) {
    trace_.set_request_id(RequestIdOf(caller));
    HopTrace& hop = *trace_.add_hops();
    hop = NewHop("frontend");
    ToProtoTime(service.clock_.Now(), hop.mutable_arrived_at());
  }

  void OnCancel() final {
    // With propagation, gRPC itself cancels the backend calls: nothing to do
    // but note the moment. Without it, the backend calls run on.
    absl::MutexLock lock(&mu_);
    caller_gone_at_ = service_.clock_.Now();
  }

  void OnDone() final { delete this; }

 protected:
  HopTrace& hop() { return *trace_.mutable_hops(0); }

  // Plans the budget from the caller's deadline and reports it in the trace
  // and in `reply` (budget_at_start, budget_forwarded). On fail-fast, ends
  // the call with DEADLINE_EXCEEDED and returns false.
  template <typename Reply>
  bool PlanBudget(Reply& reply) {
    const absl::Time deadline = FromGrpcDeadline(caller_.deadline());
    caller_deadline_ = deadline;
    budget_ = service_.policy_.Plan(deadline);
    if (deadline != absl::InfiniteFuture()) {
      ToProtoTime(deadline, hop().mutable_deadline());
      ToProtoDuration(budget_.at_arrival, hop().mutable_budget_at_arrival());
    }
    if (budget_.fail_fast) {
      const std::string why = service_.policy_.ExplainFailFast(budget_);
      End(absl::DeadlineExceededError(
              absl::StrCat("frontend: ", why, "; backend not called")),
          Outcome::kRejected, absl::StrCat("fail fast: ", why));
      return false;
    }
    if (deadline != absl::InfiniteFuture()) {
      ToProtoDuration(budget_.at_arrival, reply.mutable_budget_at_start());
    }
    if (service_.options_.propagate) {
      ToProtoDuration(budget_.forwarded, hop().mutable_forwarded());
      ToProtoDuration(budget_.forwarded, reply.mutable_budget_forwarded());
    }
    return true;
  }

  // A context for one backend call, carrying the request id.
  std::unique_ptr<grpc::ClientContext> NewBackendContext() {
    auto context = service_.NewBackendContext(caller_, budget_);
    context->AddMetadata(kRequestIdKey, trace_.request_id());
    return context;
  }

  // A finished backend call's hop: what the backend sent back, or, when it
  // did not answer, what this side saw of the call since it sent it at
  // `sent_at`.
  HopTrace BackendHop(const grpc::ClientContext& context,
                      const grpc::Status& status, absl::string_view target,
                      int panel, int steps_requested, absl::Time sent_at) {
    HopTrace backend;
    absl::optional<deadline::v1::BudgetTrace> answer = TraceFrom(context);
    if (answer.has_value() && answer->hops_size() > 0) {
      backend = answer->hops(0);
    } else {
      backend = NewHop("backend");
      ToProtoTime(sent_at, backend.mutable_arrived_at());
      ToProtoTime(service_.clock_.Now(), backend.mutable_finished_at());
      if (service_.options_.propagate) {
        ToProtoTime(budget_.forward_deadline, backend.mutable_deadline());
      }
      backend.set_steps_requested(steps_requested);
      backend.set_code(
          CodeName(static_cast<absl::StatusCode>(status.error_code())));
      backend.set_stop(absl::StrCat("no answer: ", status.error_message()));
      if (status.error_code() == grpc::StatusCode::CANCELLED) {
        // Cancelled from here (a failed sibling, or the caller going):
        // the moment this side saw the call end.
        *backend.mutable_noticed_cancel_at() = backend.finished_at();
      }
    }
    backend.set_address(std::string(target));
    backend.set_panel(panel);
    return backend;
  }

  void AddHop(HopTrace hop) { *trace_.add_hops() = std::move(hop); }

  // The moment the caller was seen to go (OnCancel may run after the
  // backend calls, cancelled by gRPC, have completed).
  absl::optional<absl::Time> CallerGoneAt() {
    {
      absl::MutexLock lock(&mu_);
      if (caller_gone_at_.has_value()) return caller_gone_at_;
    }
    if (caller_.IsCancelled()) return service_.clock_.Now();
    return absl::nullopt;
  }

  // "frontend: 300ms at arrival, forwarded 290ms".
  std::string Summary() const { return service_.HopSummary(budget_); }

  // Ends a call whose caller went away at `gone`: nobody reads the answer,
  // so the call is counted for what the caller saw, whatever the backends
  // answered.
  void EndForGoneCaller(absl::Time now, absl::Time gone) {
    const bool expired = now >= caller_deadline_;
    End(absl::Status(
            expired ? absl::StatusCode::kDeadlineExceeded
                    : absl::StatusCode::kCancelled,
            absl::StrCat(Summary(), service_.options_.propagate
                                        ? "; the caller went away and the "
                                          "backend calls were stopped"
                                        : "; the caller went away, and the "
                                          "backend worked on for nobody")),
        expired ? Outcome::kDeadlineExceeded : Outcome::kCancelled,
        "the caller went away", now - gone);
  }

  // The way out: completes the trace, sends it, logs, counts and finishes.
  void End(const absl::Status& status, Outcome outcome, absl::string_view stop,
           absl::Duration stop_latency = absl::ZeroDuration()) {
    // A backend that answered before its deadline let go early, not late.
    stop_latency = std::max(stop_latency, absl::ZeroDuration());
    int64_t steps = 0;
    int64_t requested = 0;
    for (int i = 1; i < trace_.hops_size(); ++i) {
      steps += trace_.hops(i).steps_done();
      requested += trace_.hops(i).steps_requested();
    }
    HopTrace& frontend = hop();
    frontend.set_steps_done(static_cast<int32_t>(steps));
    if (requested > 0) {
      frontend.set_steps_requested(static_cast<int32_t>(requested));
    }
    frontend.set_code(CodeName(status.code()));
    frontend.set_stop(std::string(stop));
    ToProtoTime(service_.clock_.Now(), frontend.mutable_finished_at());
    {
      absl::MutexLock lock(&mu_);
      if (caller_gone_at_.has_value()) {
        ToProtoTime(*caller_gone_at_, frontend.mutable_noticed_cancel_at());
      }
    }
    AttachTrace(caller_, trace_);
    LogCall(service_.options_.log, method_, trace_, frontend, stop_latency);
    call_.End(outcome, steps, stop_latency);
    Finish(ToGrpcStatus(status));
  }

  FrontendService& service_;
  grpc::CallbackServerContext& caller_;
  absl::Time caller_deadline_ = absl::InfiniteFuture();
  Budget budget_;

 private:
  const std::string method_;
  CallStats::Call call_;
  deadline::v1::BudgetTrace trace_;

  absl::Mutex mu_;
  absl::optional<absl::Time> caller_gone_at_ ABSL_GUARDED_BY(mu_);
};

// One Fetch call: one backend call, on the backends in turn.
class FrontendService::FetchReactor final : public Reactor {
 public:
  FetchReactor(FrontendService& service, grpc::CallbackServerContext& caller,
               const FetchRequest& request, FetchReply* reply)
      : Reactor(service, caller, "Fetch"), reply_(*reply) {
    Start(request);
  }

 private:
  void Start(const FetchRequest& request) {
    hop().set_steps_requested(request.work().steps());
    const absl::StatusOr<WorkSpec> spec =
        ParseWorkRequest(request.work(), service_.options_.limits, "work.");
    if (!spec.ok()) {
      End(absl::InvalidArgumentError(
              absl::StrCat("frontend: ", spec.status().message())),
          Outcome::kInvalid, "invalid request");
      return;
    }
    if (!PlanBudget(reply_)) return;

    backend_context_ = NewBackendContext();
    backend_ =
        &service_
             .backends_[service_.next_backend_++ % service_.backends_.size()];
    steps_requested_ = spec->steps;
    sent_at_ = service_.clock_.Now();
    backend_->stub->async()->Work(
        backend_context_.get(), &request.work(), reply_.mutable_backend(),
        [this](grpc::Status status) { OnBackendDone(status); });
  }

  // Runs on a gRPC thread; never blocks.
  void OnBackendDone(const grpc::Status& status) {
    const absl::Time now = service_.clock_.Now();
    service_.ReleaseBackendContext(*backend_context_);
    AddHop(BackendHop(*backend_context_, status, backend_->target, -1,
                      steps_requested_, sent_at_));
    if (const auto gone = CallerGoneAt(); gone.has_value()) {
      EndForGoneCaller(now, *gone);
      return;
    }
    if (status.ok()) {
      End(absl::OkStatus(), Outcome::kOk, "done");
      return;
    }
    const absl::Duration stop_latency =
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
            ? now - budget_.forward_deadline
            : absl::ZeroDuration();
    const absl::Status backend_status = FromGrpcStatus(status);
    End(absl::Status(backend_status.code(),
                     absl::StrCat(Summary(), "; ", BackendMessage(status))),
        OutcomeOf(backend_status.code()),
        absl::StrCat("backend failed: ", CodeName(backend_status.code())),
        stop_latency);
  }

  FetchReply& reply_;
  const Backend* backend_ = nullptr;
  std::unique_ptr<grpc::ClientContext> backend_context_;
  int steps_requested_ = 0;
  absl::Time sent_at_;
};

// One FetchAll call: a backend call per panel, all started at once through
// the async stub, bookkept by a FanOutGroup. Finishes from the last panel's
// completion callback.
class FrontendService::FetchAllReactor final : public Reactor {
 public:
  FetchAllReactor(FrontendService& service, grpc::CallbackServerContext& caller,
                  const FetchAllRequest& request, FetchAllReply* reply)
      : Reactor(service, caller, "FetchAll"),
        reply_(*reply),
        group_(request.panels_size(),
               request.mode() == deadline::v1::FAN_OUT_MODE_PARTIAL
                   ? FanOutPolicy::kPartial
                   : FanOutPolicy::kAllOrNothing) {
    Start(request);
  }

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

  void Start(const FetchAllRequest& request) {
    if (absl::Status valid = Validate(request); !valid.ok()) {
      End(valid, Outcome::kInvalid, "invalid request");
      return;
    }
    if (!PlanBudget(reply_)) return;
    const int n = request.panels_size();
    if (n == 0) {
      End(absl::OkStatus(), Outcome::kOk, "done: no panels");
      return;
    }

    // Everything a completion callback touches exists before the first call
    // starts: a panel can fail (and cancel its siblings) before the loop
    // below has started them all; cancelling a call not yet started is safe.
    contexts_.reserve(n);
    for (int i = 0; i < n; ++i) {
      contexts_.push_back(NewBackendContext());
      deadline::v1::PanelResult& panel = *reply_.add_panels();
      panel.set_index(i);
      panel.set_backend(Panel(i).target);
      panel.mutable_reply();
      if (service_.options_.propagate) {
        ToProtoDuration(budget_.forwarded, panel.mutable_budget_forwarded());
      }
      statuses_.emplace_back();
      hops_.emplace_back();
      steps_requested_.push_back(request.panels(i).steps());
    }
    start_ = service_.clock_.Now();
    for (int i = 0; i < n; ++i) {
      Panel(i).stub->async()->Work(contexts_[i].get(), &request.panels(i),
                                   reply_.mutable_panels(i)->mutable_reply(),
                                   [this, i](grpc::Status status) {
                                     OnPanelDone(i, std::move(status));
                                   });
    }
  }

  const Backend& Panel(int i) const {
    return service_.backends_[i % service_.backends_.size()];
  }

  // Runs on a gRPC thread; never blocks (TryCancel does not wait).
  void OnPanelDone(int i, grpc::Status status) {
    const absl::Time now = service_.clock_.Now();
    service_.ReleaseBackendContext(*contexts_[i]);
    deadline::v1::PanelResult& panel = *reply_.mutable_panels(i);
    panel.set_code(status.error_code());
    if (!status.ok()) panel.set_message(BackendMessage(status));
    ToProtoDuration(now - start_, panel.mutable_elapsed());
    hops_[i] = BackendHop(*contexts_[i], status, Panel(i).target, i,
                          steps_requested_[i], start_);
    // A failed call has no reply: its steps come with the backend's trace.
    if (hops_[i].steps_done() > 0) {
      panel.mutable_reply()->set_steps_done(hops_[i].steps_done());
    }
    statuses_[i] = std::move(status);

    if (group_.Record(i, FromGrpcStatus(statuses_[i]))) {
      for (int j = 0; j < static_cast<int>(contexts_.size()); ++j) {
        if (j != i) contexts_[j]->TryCancel();
      }
    }
    // The last arrival finishes the call, which deletes this reactor: after
    // Arrive(), only the last one may touch it.
    if (group_.Arrive()) Conclude(now);
  }

  void Conclude(absl::Time now) {
    bool any_deadline = false;
    for (int i = 0; i < reply_.panels_size(); ++i) {
      AddHop(std::move(hops_[i]));
      any_deadline |=
          statuses_[i].error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    }
    if (const auto gone = CallerGoneAt(); gone.has_value()) {
      EndForGoneCaller(now, *gone);
      return;
    }
    const absl::Duration stop_latency =
        any_deadline ? now - budget_.forward_deadline : absl::ZeroDuration();

    const absl::Status result = group_.status();
    if (result.ok()) {
      End(result, Outcome::kOk, "done", stop_latency);
      return;
    }
    const int first = group_.first_failure();
    End(absl::Status(
            result.code(),
            absl::StrCat(Summary(), "; panel ", first, " of ",
                         reply_.panels_size(), " (", Panel(first).target,
                         ") failed first, its siblings were "
                         "cancelled: ",
                         reply_.panels(first).message())),
        OutcomeOf(result.code()),
        absl::StrCat("panel ", first, " failed: ", CodeName(result.code())),
        stop_latency);
  }

  FetchAllReply& reply_;
  FanOutGroup group_;
  absl::Time start_;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts_;
  std::vector<grpc::Status> statuses_;
  // Each panel's hop, made when it ends, added to the trace in order.
  std::vector<HopTrace> hops_;
  std::vector<int> steps_requested_;
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
