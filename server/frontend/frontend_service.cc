#include "server/frontend/frontend_service.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <string>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "grpcpp/security/credentials.h"
#include "server/deadline/fan_out.h"
#include "server/serving/raw_messages.h"

namespace deadline {
namespace {

using deadline::v1::FetchAllReply;
using deadline::v1::FetchAllRequest;
using deadline::v1::FetchReply;
using deadline::v1::FetchRequest;
using deadline::v1::HopTrace;
using deadline::v1::WorkReply;
using deadline::v1::WorkRequest;

// The backend's own message, or what this side of the call saw when the
// backend did not answer (its deadline fired here first, or the backend
// could not be reached).
std::string BackendMessage(const grpc::Status& status) {
  // Another hop's text is bounded here, so this hop's own answer fits.
  const std::string message = Trimmed(status.error_message(), 512);
  if (absl::StartsWith(message, "backend: ")) return message;
  return absl::StrCat("backend call: ", message);
}

std::string CodeName(absl::StatusCode code) {
  return absl::StatusCodeToString(code);
}

// The address that served a call: "127.0.0.1:50052" from gRPC's
// "ipv4:127.0.0.1:50052". A call that never reached a server has no peer;
// gRPC then gives the channel's target, which for a replica set is a list:
// `fallback` (the backend's name) says it better.
std::string AddressOf(const grpc::ClientContext& context,
                      absl::string_view fallback) {
  std::string peer = context.peer();
  for (absl::string_view scheme : {"ipv4:", "ipv6:"}) {
    if (absl::StartsWith(peer, scheme)) peer = peer.substr(scheme.size());
  }
  if (peer.empty() || absl::StrContains(peer, ',')) {
    return std::string(fallback);
  }
  return peer;
}

}  // namespace

// One incoming call: its budget, its calls to the backends (a FanOut of
// panels, each one or two attempts), its record, and the one way out. It
// lives until OnDone(). It finishes only when the FanOut says every backend
// call has ended, or before starting any, so no backend context, derived
// from the caller's, outlives the call it derives from.
class FrontendService::Call : public grpc::ServerUnaryReactor,
                              private FanOut::Backends {
 public:
  void OnCancel() final {
    // With propagation, gRPC itself cancels the backend calls: nothing to do
    // but note the moment. Without it, the backend calls run on.
    caller_gone_at_.store(absl::ToUnixNanos(service_.clock_.Now()),
                          std::memory_order_relaxed);
  }

  void OnDone() final { delete this; }

  ~Call() override {
    if (propagates()) return;
    for (Attempt& attempt : attempts_) service_.Untrack(*attempt.context);
  }

 protected:
  using Panels = absl::InlinedVector<const WorkRequest*, 1>;

  // Whether the call's outcome is audited (see FrontendOptions::audit).
  bool audited_ = false;

  Call(FrontendService& service, grpc::CallbackServerContext& caller,
       absl::string_view method)
      : service_(service),
        caller_(caller),
        record_(service.sink_, "frontend", method, RequestIdOf(caller),
                service.clock_.Now()),
        trace_wanted_(TraceWanted(caller)) {}

  // Starts the call's panels, or answers at once: `valid` is the request's
  // check (INVALID_ARGUMENT answers it), then the budget may fail fast.
  // Fills the budget fields of `reply`.
  template <typename Reply>
  void Begin(const absl::Status& valid, Panels panels, FanOutMode mode,
             int first_backend, Reply& reply) {
    int64_t steps = 0;
    for (const WorkRequest* panel : panels) steps += panel->steps();
    record_.SetStepsRequested(steps);
    const int max_in_flight = service_.options_.max_in_flight;
    if (service_.sink_.stats.in_flight() > max_in_flight) {
      // Refused at once, not answered late: the caller may try elsewhere.
      return End({absl::ResourceExhaustedError(
                      absl::StrCat("frontend: ", max_in_flight,
                                   " calls are in flight, the most allowed "
                                   "(--max_in_flight); try again later")),
                  Outcome::kOverloaded, "overloaded: refused at once"});
    }
    if (!valid.ok()) {
      return End({absl::InvalidArgumentError(
                      absl::StrCat("frontend: ", valid.message())),
                  Outcome::kInvalid, "invalid request"});
    }
    const absl::Time deadline = DeadlineOf(caller_);
    record_.SetDeadline(deadline);
    budget_ = service_.policy_.Plan(deadline, record_.arrived());
    if (budget_.fail_fast) {
      const std::string why = service_.policy_.ExplainFailFast(budget_);
      return End({absl::DeadlineExceededError(
                      absl::StrCat("frontend: ", why, "; backend not called")),
                  Outcome::kRejected, absl::StrCat("fail fast: ", why)});
    }
    if (deadline != absl::InfiniteFuture()) {
      ToProtoDuration(budget_.at_arrival, reply.mutable_budget_at_arrival());
    }
    if (propagates()) {
      record_.SetForwarded(budget_.forwarded);
      ToProtoDuration(budget_.forwarded, reply.mutable_budget_forwarded());
    }
    panels_ = std::move(panels);

    FanOutOptions options;
    options.mode = mode;
    options.panels = static_cast<int>(panels_.size());
    options.backends = static_cast<int>(service_.backends_.size());
    options.first_backend = first_backend;
    options.hedge_after = service_.options_.hedge_after;
    options.hedge_until =
        budget_.forward_deadline - service_.policy_.options().min_budget;
    FanOut::Backends& backends = *this;
    fan_out_.emplace(options, backends, service_.clock_,
                     [this] { Conclude(); });
    // Every attempt's context exists before the first call starts: an
    // attempt may be cancelled (a sibling failed) before it starts, and
    // cancelling a context whose call has not started is safe.
    attempts_.resize(fan_out_->max_attempts());
    for (Attempt& attempt : attempts_) attempt.context = NewBackendContext();
    start_ = service_.clock_.Now();
    fan_out_->Start();
  }

  // Answers a call whose request did not arrive whole (see
  // ParseRequest()).
  void Unreceived(const absl::Status& received) {
    End({absl::Status(received.code(),
                      absl::StrCat("frontend: ", received.message())),
         OutcomeOf(received.code()), std::string(received.message())});
  }

  // What the reply needs once every backend call has ended.
  struct PanelAnswer {
    const WorkReply* reply;      // What the backend answered, if it did.
    const grpc::Status* status;  // How the panel's answering call ended.
    const HopTrace* hop;         // What it did (null: an OK Fetch untraced).
    absl::string_view backend;   // Who served it.
  };
  PanelAnswer AnswerOf(int panel) const {
    const Attempt& attempt = attempts_[fan_out_->answer_of(panel)];
    return {&attempt.reply, &attempt.status, attempt.hop, attempt.address};
  }
  absl::Duration ElapsedOf(int panel) const {
    return attempts_[fan_out_->answer_of(panel)].ended_at - start_;
  }
  // Fills the reply; then the call answers `status`.
  virtual void FillReply(const absl::Status& status) = 0;

  // "frontend: 300ms at arrival, forwarded 290ms", for status messages.
  std::string Summary() const {
    return absl::StrCat(
        "frontend: ", FormatBudget(budget_.at_arrival), " at arrival, ",
        propagates()
            ? absl::StrCat("forwarded ", FormatBudget(budget_.forwarded))
            : "forwarded no deadline (propagation off)");
  }
  bool propagates() const {
    return service_.options_.propagation != Propagation::kNone;
  }

  FrontendService& service_;
  absl::optional<FanOut> fan_out_;
  Budget budget_;

 private:
  struct Attempt {
    std::unique_ptr<grpc::ClientContext> context;
    WorkReply reply;
    grpc::Status status;
    absl::Time sent_at;
    absl::Time ended_at;
    std::string address;
    HopTrace* hop = nullptr;  // In the record's arena; null when not needed.
    // Why this side cancelled it, if it did (set before TryCancel, read
    // when the call ends).
    absl::optional<CancelCause> cancelled_for;
  };

  std::unique_ptr<grpc::ClientContext> NewBackendContext() {
    std::unique_ptr<grpc::ClientContext> context = ChildContext(
        caller_, budget_.forward_deadline, service_.options_.propagation);
    context->AddMetadata(kRequestIdKey, record_.request_id());
    if (trace_wanted_) WantTrace(*context);
    if (!propagates()) service_.Track(*context);
    return context;
  }

  // FanOut::Backends: the calls themselves, through the async stub.
  void Start(int id, int panel, int backend) override {
    Attempt& attempt = attempts_[id];
    const Backend& target = service_.backends_[backend];
    attempt.address = target.target;
    attempt.sent_at = service_.clock_.Now();
    target.stub->async()->Work(
        attempt.context.get(), panels_[panel], &attempt.reply,
        [this, id](grpc::Status status) { Ended(id, std::move(status)); });
  }
  void Cancel(int id, CancelCause cause) override {
    attempts_[id].cancelled_for = cause;
    attempts_[id].context->TryCancel();
  }

  // A backend call ended: keep what it did, then tell the FanOut (which may
  // conclude the whole call, and so end this reactor). Runs on a gRPC
  // thread; never blocks.
  void Ended(int id, grpc::Status status) {
    Attempt& attempt = attempts_[id];
    attempt.ended_at = service_.clock_.Now();
    attempt.status = std::move(status);
    // Nothing from another hop is trusted: an answer must be one that the
    // request allows.
    const int steps = panels_[fan_out_->panel_of(id)]->steps();
    if (attempt.status.ok() && (attempt.reply.steps_done() < 0 ||
                                attempt.reply.steps_done() > steps)) {
      attempt.status = grpc::Status(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("backend ", attempt.address, " answered steps_done ",
                       attempt.reply.steps_done(), " for work of ", steps,
                       " steps"));
      attempt.reply.Clear();  // Not an answer to pass on.
    }
    // An OK Fetch whose caller wants no trace needs no more than the reply:
    // the hot path skips the trailers. A hedge is always recorded, so the
    // metrics can count it from the trace.
    if (!attempt.status.ok() || trace_wanted_ || panels_.size() > 1 ||
        fan_out_->is_hedge(id)) {
      attempt.address = AddressOf(*attempt.context, attempt.address);
      attempt.hop = HopOf(id, attempt);
    }
    fan_out_->Done(id, FromGrpcStatus(attempt.status));
  }

  // What an attempt did: the backend's own account from its trailers, or,
  // when it did not answer, what this side saw of it.
  HopTrace* HopOf(int id, const Attempt& attempt) {
    google::protobuf::Arena* arena = &record_.arena();
    deadline::v1::BudgetTrace* answer = TraceFrom(*attempt.context, arena);
    HopTrace* hop = nullptr;
    const int steps = panels_[fan_out_->panel_of(id)]->steps();
    if (answer != nullptr && answer->hops_size() > 0) {
      hop = answer->mutable_hops(0);
      // What the backend says it did is kept within what it was asked.
      hop->set_steps_requested(steps);
      hop->set_steps_done(std::clamp(hop->steps_done(), 0, steps));
    } else if (attempt.status.ok()) {
      // An OK answer carries no trace unless asked: what it said will do.
      hop = google::protobuf::Arena::CreateMessage<HopTrace>(arena);
      hop->set_hop("backend");
      hop->set_steps_requested(steps);
      hop->set_steps_done(attempt.reply.steps_done());
      hop->set_code(CodeName(absl::StatusCode::kOk));
      hop->set_stop("done");
    } else {
      hop = google::protobuf::Arena::CreateMessage<HopTrace>(arena);
      hop->set_hop("backend");
      ToProtoTime(attempt.sent_at, hop->mutable_arrived_at());
      ToProtoTime(attempt.ended_at, hop->mutable_finished_at());
      if (propagates()) {
        // What it was sent with, as far as this side knows.
        ToProtoTime(budget_.forward_deadline, hop->mutable_deadline());
        ToProtoDuration(budget_.forward_deadline - attempt.sent_at,
                        hop->mutable_budget_at_arrival());
      }
      hop->set_steps_requested(panels_[fan_out_->panel_of(id)]->steps());
      hop->set_code(
          CodeName(static_cast<absl::StatusCode>(attempt.status.error_code())));
      if (attempt.status.error_code() == grpc::StatusCode::CANCELLED) {
        // Cancelled from here: the cause is known only here, as an HTTP/2
        // cancel carries none. The moment this side saw the call end.
        hop->set_stop(absl::StrCat("cancelled here: ", CauseOf(attempt)));
        *hop->mutable_noticed_cancel_at() = hop->finished_at();
      } else {
        hop->set_stop(
            absl::StrCat("no answer: ", attempt.status.error_message()));
      }
    }
    hop->set_address(attempt.address);
    hop->set_panel(panels_.size() > 1 ? fan_out_->panel_of(id) : -1);
    hop->set_hedge(fan_out_->is_hedge(id));
    return hop;
  }

  // Why an attempt that ended CANCELLED was cancelled, in words.
  std::string CauseOf(const Attempt& attempt) {
    if (attempt.cancelled_for == CancelCause::kSiblingFailed) {
      return absl::StrCat("panel ", fan_out_->failed_panel(), " failed first");
    }
    if (attempt.cancelled_for == CancelCause::kHedgeLost) {
      return "the other attempt of its panel answered first";
    }
    if (const absl::optional<absl::Time> gone = CallerGoneAt()) {
      return *gone >= service_.shutdown_cancels_at() ? "the server shut down"
                                                     : "the caller went away";
    }
    return attempt.status.error_message();
  }

  // Every backend call has ended: answer. Runs on the thread of the last
  // one to end (or on the caller's, with no panels).
  void Conclude() {
    const absl::Time now = service_.clock_.Now();
    bool any_deadline = false;
    for (int id = 0; id < static_cast<int>(attempts_.size()); ++id) {
      if (!fan_out_->started(id)) continue;
      if (attempts_[id].hop != nullptr) record_.AddCalledHop(attempts_[id].hop);
      any_deadline |= attempts_[id].status.error_code() ==
                      grpc::StatusCode::DEADLINE_EXCEEDED;
    }
    // The steps the answer carries: each panel's answering call's (a
    // failed call has no reply: its steps come with its trace).
    int64_t steps = 0;
    for (int p = 0; p < static_cast<int>(panels_.size()); ++p) {
      const PanelAnswer answer = AnswerOf(p);
      steps += answer.hop != nullptr ? answer.hop->steps_done()
                                     : answer.reply->steps_done();
    }
    // A backend that answered before its deadline let go early, not late.
    const absl::Duration stop_latency =
        any_deadline ? now - budget_.forward_deadline : absl::ZeroDuration();
    const absl::Status status = fan_out_->status();
    FillReply(status);
    if (const absl::optional<absl::Time> gone = CallerGoneAt()) {
      return EndForGoneCaller(now, *gone, steps);
    }
    if (status.ok()) {
      return End({status, Outcome::kOk, "done", steps, stop_latency});
    }
    End({absl::Status(status.code(), FailureMessage()),
         OutcomeOf(status.code()), FailureStop(status.code()), steps,
         stop_latency});
  }

  // Why the call failed, in words.
  std::string FailureMessage() const {
    const int failed = fan_out_->failed_panel();
    const PanelAnswer answer = AnswerOf(failed);
    if (panels_.size() == 1) {
      return absl::StrCat(Summary(), "; ", BackendMessage(*answer.status));
    }
    return absl::StrCat(Summary(), "; panel ", failed, " of ", panels_.size(),
                        " (", answer.backend,
                        ") failed first, its siblings were cancelled: ",
                        BackendMessage(*answer.status));
  }
  std::string FailureStop(absl::StatusCode code) const {
    if (panels_.size() == 1) {
      return absl::StrCat("backend failed: ", CodeName(code));
    }
    return absl::StrCat("panel ", fan_out_->failed_panel(),
                        " failed: ", CodeName(code));
  }

  // The moment the caller was seen to go (OnCancel may come after the
  // backend calls, cancelled by gRPC, have ended).
  absl::optional<absl::Time> CallerGoneAt() {
    const int64_t gone = caller_gone_at_.load(std::memory_order_relaxed);
    if (gone != kNever) return absl::FromUnixNanos(gone);
    if (caller_.IsCancelled()) return service_.clock_.Now();
    return absl::nullopt;
  }

  // Ends a call whose caller went away at `gone`: nobody reads the answer,
  // so the call is counted for what the caller saw, whatever the backends
  // answered.
  void EndForGoneCaller(absl::Time now, absl::Time gone, int64_t steps) {
    const bool expired = now >= DeadlineOf(caller_);
    const absl::string_view why = gone >= service_.shutdown_cancels_at()
                                      ? "the server shut down"
                                      : "the caller went away";
    End({absl::Status(
             expired ? absl::StatusCode::kDeadlineExceeded
                     : absl::StatusCode::kCancelled,
             absl::StrCat(Summary(), "; ", why,
                          propagates() ? " and the backend calls were stopped"
                                       : ", and the backend worked on for "
                                         "nobody")),
         expired ? Outcome::kDeadlineExceeded : Outcome::kCancelled,
         std::string(why), steps, now - gone, gone});
  }

  // The way out: records, sends the trace, audits, and finishes.
  void End(HopEnding ending) {
    const int64_t steps = ending.steps_done;
    const absl::Status& status =
        record_.End(std::move(ending), service_.clock_.Now());
    AttachTrace(caller_, record_.trace(), status);
    if (audited_ && service_.auditor_ != nullptr) {
      // While the call is still ours: its context is not read after Finish.
      deadline::v1::AuditRecord audit;
      audit.set_request_id(record_.request_id());
      audit.set_method("Fetch");
      audit.set_code(CodeName(status.code()));
      audit.set_steps_done(static_cast<int32_t>(steps));
      service_.auditor_->Send(caller_, std::move(audit));
    }
    Finish(ToGrpcStatus(status));
  }

  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  grpc::CallbackServerContext& caller_;
  HopRecord record_;
  Panels panels_;
  absl::InlinedVector<Attempt, 1> attempts_;
  absl::Time start_;
  std::atomic<int64_t> caller_gone_at_{kNever};
  // The caller wants the trace of an OK answer too: so do we, of the
  // backends'.
  const bool trace_wanted_;
};

// One Fetch call: one panel, on the backends in turn.
class FrontendService::FetchCall final : public Call {
 public:
  FetchCall(FrontendService& service, grpc::CallbackServerContext& caller,
            const grpc::ByteBuffer& request, grpc::ByteBuffer& reply)
      : Call(service, caller, "Fetch"), reply_bytes_(reply) {
    audited_ = true;
    if (absl::Status received = ParseRequest(request, request_);
        !received.ok()) {
      Unreceived(received);
      return;
    }
    const absl::StatusOr<WorkSpec> spec =
        ParseWorkRequest(request_.work(), service.options_.limits, "work.");
    const uint64_t turn =
        service.next_backend_.fetch_add(1, std::memory_order_relaxed);
    Begin(spec.status(), {&request_.work()}, FanOutMode::kAllOrNothing,
          static_cast<int>(turn % service.backends_.size()), reply_);
  }

 private:
  void FillReply(const absl::Status&) override {
    const PanelAnswer answer = AnswerOf(0);
    if (answer.status->ok()) *reply_.mutable_backend() = *answer.reply;
    SerializeRaw(reply_, reply_bytes_);
  }

  FetchRequest request_;
  FetchReply reply_;
  grpc::ByteBuffer& reply_bytes_;
};

// One FetchAll call: a panel per requested one, all at once, panel i on
// backend i % backends.
class FrontendService::FetchAllCall final : public Call {
 public:
  FetchAllCall(FrontendService& service, grpc::CallbackServerContext& caller,
               const grpc::ByteBuffer& request, grpc::ByteBuffer& reply)
      : Call(service, caller, "FetchAll"), reply_bytes_(reply) {
    if (absl::Status received = ParseRequest(request, request_);
        !received.ok()) {
      Unreceived(received);
      return;
    }
    Panels panels;
    for (const WorkRequest& panel : request_.panels()) {
      panels.push_back(&panel);
    }
    Begin(ValidateFetchAllRequest(request_, service.options_.limits,
                                  service.options_.max_panels),
          std::move(panels),
          request_.mode() == deadline::v1::FAN_OUT_MODE_PARTIAL
              ? FanOutMode::kPartial
              : FanOutMode::kAllOrNothing,
          /*first_backend=*/0, reply_);
  }

 private:
  void FillReply(const absl::Status&) override {
    const int n = fan_out_ ? fan_out_->options().panels : 0;
    for (int i = 0; i < n; ++i) {
      const PanelAnswer answer = AnswerOf(i);
      deadline::v1::PanelResult& panel = *reply_.add_panels();
      panel.set_index(i);
      panel.set_backend(std::string(answer.backend));
      panel.set_code(answer.status->error_code());
      if (!answer.status->ok()) {
        panel.set_message(BackendMessage(*answer.status));
      }
      if (answer.status->ok()) {
        *panel.mutable_reply() = *answer.reply;
      } else {
        // A failed call has no reply: its steps come with the backend's
        // trace (kept within what was asked).
        panel.mutable_reply()->set_steps_done(answer.hop->steps_done());
      }
      if (propagates()) {
        ToProtoDuration(budget_.forwarded, panel.mutable_budget_forwarded());
      }
      ToProtoDuration(ElapsedOf(i), panel.mutable_elapsed());
    }
    SerializeRaw(reply_, reply_bytes_);
  }

  FetchAllRequest request_;
  FetchAllReply reply_;
  grpc::ByteBuffer& reply_bytes_;
};

FrontendService::FrontendService(const std::vector<BackendTarget>& backends,
                                 const FrontendOptions& options, Clock& clock)
    : options_(options), clock_(clock), policy_(options.budget, clock) {
  sink_.log = options.log;
  sink_.on_call_end = options.on_call_end;
  sink_.observer = options.observer;
  const std::shared_ptr<grpc::ChannelCredentials> credentials =
      options.backend_credentials != nullptr
          ? options.backend_credentials
          : grpc::InsecureChannelCredentials();
  for (const BackendTarget& target : backends) {
    auto channel = CreateBackendChannel(target, options.channels, credentials);
    // Connect now, so the first caller's budget is not spent on it.
    channel->GetState(/*try_to_connect=*/true);
    backends_.push_back({target.name, deadline::v1::Backend::NewStub(channel)});
  }
  if (options.audit != AuditMode::kOff) {
    auditor_ =
        std::make_unique<Auditor>(*backends_[0].stub, options.audit,
                                  options.audit_deadline, options.log, clock);
  }
}

StatsSnapshot FrontendService::Snapshot() const {
  StatsSnapshot snapshot = sink_.stats.Snapshot();
  if (auditor_ != nullptr) {
    snapshot.records = auditor_->landed();
    snapshot.records_failed = auditor_->failed();
  }
  return snapshot;
}

bool FrontendService::WaitForAudits(absl::Time until) {
  return auditor_ == nullptr || auditor_->WaitIdle(until);
}

grpc::ServerUnaryReactor* FrontendService::Fetch(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* reply) {
  return new FetchCall(*this, *context, *request, *reply);
}

grpc::ServerUnaryReactor* FrontendService::FetchAll(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* reply) {
  return new FetchAllCall(*this, *context, *request, *reply);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* FrontendService::FetchStream(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return StartFetchStream(stream_host_, context, request);
}

FetchStreamHost FrontendService::StreamHost() {
  FetchStreamOptions options;
  options.limits = options_.limits;
  options.propagation = options_.propagation;
  options.max_in_flight = options_.max_in_flight;
  options.max_stream_duration = options_.max_stream_duration;
  return {options, &policy_, &sink_, &clock_,
          // Streams take their turn with Fetch calls.
          [this] {
            const uint64_t turn =
                next_backend_.fetch_add(1, std::memory_order_relaxed);
            const Backend& backend = backends_[turn % backends_.size()];
            return StreamBackend{backend.target, backend.stub.get()};
          },
          [this](grpc::ClientContext& context) { Track(context); },
          [this](grpc::ClientContext& context) { Untrack(context); }};
}

void FrontendService::Track(grpc::ClientContext& context) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) context.TryCancel();
  unpropagated_.insert(&context);
}

void FrontendService::Untrack(grpc::ClientContext& context) {
  absl::MutexLock lock(&mu_);
  unpropagated_.erase(&context);
}

void FrontendService::BeginShutdown(absl::Time cancel_at) {
  shutdown_cancels_at_.store(absl::ToUnixNanos(cancel_at));
  absl::MutexLock lock(&mu_);
  shutting_down_ = true;
  for (grpc::ClientContext* context : unpropagated_) context->TryCancel();
}

}  // namespace deadline
