#include "server/frontend/fan_out_call.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "common/status_util.h"
#include "server/deadline/fan_out.h"
#include "server/frontend/backend_attempt.h"
#include "server/frontend/frontend_call.h"
#include "server/serving/raw_messages.h"

namespace deadline {
namespace {

using deadline::v1::FetchAllReply;
using deadline::v1::FetchAllRequest;
using deadline::v1::FetchReply;
using deadline::v1::FetchRequest;
using deadline::v1::HopTrace;
using deadline::v1::WorkRequest;

// One call fanned out: its panels, each one or two attempts (a
// BackendAttempt each), and the FanOut that decides about them. It lives
// until OnDone(), and finishes only when the FanOut says every attempt has
// ended, or before starting any, so no backend context, derived from the
// caller's, outlives the call it derives from.
class FanOutCall : public grpc::ServerUnaryReactor, private FanOut::Backends {
 public:
  void OnCancel() final { call_.CallerGone(call_.frontend().clock().Now()); }
  void OnDone() final { delete this; }

 protected:
  using Panels = absl::InlinedVector<const WorkRequest*, 1>;

  FanOutCall(Frontend& frontend, grpc::CallbackServerContext& caller,
             absl::string_view method)
      : call_(frontend, caller, method) {}

  // Starts the admitted call's panels: panel p's first attempt on backend
  // (first_backend + p) % backends.
  void Begin(Panels panels, FanOutMode mode, int first_backend) {
    Frontend& frontend = call_.frontend();
    panels_ = std::move(panels);
    FanOutOptions options;
    options.mode = mode;
    options.panels = static_cast<int>(panels_.size());
    options.backends = frontend.backends();
    options.first_backend = first_backend;
    options.hedge_after = frontend.options().hedge_after;
    options.hedge_until = frontend.policy().LastStart(call_.budget());
    FanOut::Backends& backends = *this;
    fan_out_.emplace(options, backends, frontend.clock(),
                     [this] { Conclude(); });
    // Every attempt's context exists before the first call starts: an
    // attempt may be cancelled (a sibling failed) before it starts.
    for (int i = 0; i < fan_out_->max_attempts(); ++i) {
      attempts_.push_back(std::make_unique<BackendAttempt>(call_));
    }
    hops_.resize(attempts_.size());
    start_ = frontend.clock().Now();
    fan_out_->Start();
  }

  // The attempt whose answer panel `p` takes, once all have ended.
  const BackendAttempt& AnswerOf(int p) const {
    return *attempts_[fan_out_->answer_of(p)];
  }
  // What the answering attempt of panel `p` did (null: an OK call whose
  // hop was not needed).
  const HopTrace* HopOf(int p) const { return hops_[fan_out_->answer_of(p)]; }
  absl::Duration ElapsedOf(int p) const {
    return AnswerOf(p).ended_at() - start_;
  }
  int panels() const { return static_cast<int>(panels_.size()); }

  // Fills the reply from the panels' answers; then the call answers.
  virtual void FillReply() = 0;
  // Finishes the call with the status it ended with.
  virtual void Answer() { Finish(ToGrpcStatus(call_.status())); }

  FrontendCall call_;

 private:
  // FanOut::Backends: the calls themselves.
  void Start(int id, int panel, int backend) override {
    attempts_[id]->Start(backend, *panels_[panel], [this, id] { Ended(id); });
  }
  void Cancel(int id, CancelCause cause) override {
    attempts_[id]->Cancel(
        cause == CancelCause::kSiblingFailed
            ? absl::StrCat("panel ", fan_out_->failed_panel(), " failed first")
            : "the other attempt of its panel answered first");
  }

  // An attempt ended, on a gRPC thread: keep what it did, then tell the
  // FanOut (which may conclude the whole call).
  void Ended(int id) {
    const BackendAttempt& attempt = *attempts_[id];
    // A panel of several, a hedge or a failure is always recorded (the
    // metrics count hedges from the trace); an OK Fetch only when asked.
    if (!attempt.status().ok() || call_.trace_wanted() || panels() > 1 ||
        fan_out_->is_hedge(id)) {
      hops_[id] = call_.BackendHop(attempt.Seen(
          panels() > 1 ? fan_out_->panel_of(id) : -1, fan_out_->is_hedge(id)));
    }
    fan_out_->Done(id, FromGrpcStatus(attempt.status()));
  }

  // Every attempt has ended: answer. Runs on the thread of the last one to
  // end.
  void Conclude() {
    BackendOutcome outcome;
    // From the first call's start to the last one's end, the frontend waited
    // on its backends.
    absl::Time first_sent = absl::InfiniteFuture();
    absl::Time last_ended = absl::InfinitePast();
    for (int id = 0; id < static_cast<int>(attempts_.size()); ++id) {
      if (!fan_out_->started(id)) continue;
      first_sent = std::min(first_sent, attempts_[id]->sent_at());
      last_ended = std::max(last_ended, attempts_[id]->ended_at());
      if (hops_[id] != nullptr) call_.AddBackendHop(hops_[id]);
      outcome.hit_deadline |= attempts_[id]->status().error_code() ==
                              grpc::StatusCode::DEADLINE_EXCEEDED;
    }
    // The steps the answer carries: each panel's answering call's (a failed
    // call has no reply: its steps come with its trace).
    for (int p = 0; p < panels(); ++p) {
      outcome.steps_done += HopOf(p) != nullptr
                                ? HopOf(p)->steps_done()
                                : AnswerOf(p).reply().steps_done();
    }
    if (first_sent < last_ended) call_.AddWaiting(last_ended - first_sent);
    outcome.stop_with_caller = call_.forwards_deadline();
    const absl::Status status = fan_out_->status();
    if (!status.ok()) {
      const int failed = fan_out_->failed_panel();
      const BackendAttempt& answer = AnswerOf(failed);
      const std::string what = BackendMessage(answer.status());
      outcome.status = absl::Status(
          status.code(),
          panels() == 1
              ? what
              : absl::StrCat(
                    "panel ", failed, " of ", panels(), " (", answer.backend(),
                    ") failed first, its siblings were cancelled: ", what));
      outcome.stop = panels() == 1
                         ? absl::StrCat("backend failed: ",
                                        CodeName(answer.status().error_code()))
                         : absl::StrCat("panel ", failed, " failed: ",
                                        CodeName(answer.status().error_code()));
    }
    FillReply();
    call_.Conclude(outcome);
    Answer();
  }

  Panels panels_;
  absl::optional<FanOut> fan_out_;
  absl::InlinedVector<std::unique_ptr<BackendAttempt>, 2> attempts_;
  // What each attempt did, in the record's arena; null when not needed.
  absl::InlinedVector<HopTrace*, 2> hops_;
  absl::Time start_;
};

// Fetch with hedging: one panel, on the backends in turn.
class HedgedFetch final : public FanOutCall {
 public:
  HedgedFetch(Frontend& frontend, grpc::CallbackServerContext& caller,
              const grpc::ByteBuffer& request, grpc::ByteBuffer& reply)
      : FanOutCall(frontend, caller, "Fetch"), reply_bytes_(reply) {
    if (!AdmitFetchRequest(call_, request, request_)) {
      Answer();
      return;
    }
    FillBudget(call_, reply_);
    Begin({&request_.work()}, FanOutMode::kAllOrNothing,
          frontend.NextBackend());
  }

 private:
  void FillReply() override {
    if (AnswerOf(0).status().ok()) {
      *reply_.mutable_backend() = AnswerOf(0).reply();
    }
  }
  void Answer() override {
    if (call_.status().ok()) SerializeRaw(reply_, reply_bytes_);
    call_.Audit();
    FanOutCall::Answer();
  }

  FetchRequest request_;
  FetchReply reply_;
  grpc::ByteBuffer& reply_bytes_;
};

// FetchAll: a panel per requested one, all at once, panel i on backend
// i % backends.
class FetchAll final : public FanOutCall {
 public:
  FetchAll(Frontend& frontend, grpc::CallbackServerContext& caller,
           const grpc::ByteBuffer& request, grpc::ByteBuffer& reply)
      : FanOutCall(frontend, caller, "FetchAll"), reply_bytes_(reply) {
    const absl::Status received = ParseRequest(request, request_);
    int64_t steps = 0;
    for (const WorkRequest& panel : request_.panels()) steps += panel.steps();
    const absl::Status valid = ValidateFetchAllRequest(
        request_, frontend.options().limits, frontend.options().max_panels);
    if (!call_.Admit(received, steps, valid)) {
      Answer();
      return;
    }
    FillBudget(call_, reply_);
    Panels panels;
    for (const WorkRequest& panel : request_.panels()) {
      panels.push_back(&panel);
    }
    Begin(std::move(panels),
          request_.mode() == deadline::v1::FAN_OUT_MODE_PARTIAL
              ? FanOutMode::kPartial
              : FanOutMode::kAllOrNothing,
          /*first_backend=*/0);
  }

 private:
  void FillReply() override {
    for (int i = 0; i < panels(); ++i) {
      const BackendAttempt& answer = AnswerOf(i);
      deadline::v1::PanelResult& panel = *reply_.add_panels();
      panel.set_index(i);
      panel.set_backend(answer.backend());
      panel.set_code(answer.status().error_code());
      if (answer.status().ok()) {
        *panel.mutable_reply() = answer.reply();
      } else {
        panel.set_message(BackendMessage(answer.status()));
        // A failed call has no reply: its steps come with the backend's
        // trace (kept within what was asked).
        panel.mutable_reply()->set_steps_done(HopOf(i)->steps_done());
      }
      if (call_.forwards_deadline()) {
        ToProtoDuration(call_.budget().forwarded,
                        panel.mutable_budget_forwarded());
      }
      ToProtoDuration(ElapsedOf(i), panel.mutable_elapsed());
    }
  }
  void Answer() override {
    if (call_.status().ok()) SerializeRaw(reply_, reply_bytes_);
    FanOutCall::Answer();
  }

  FetchAllRequest request_;
  FetchAllReply reply_;
  grpc::ByteBuffer& reply_bytes_;
};

}  // namespace

grpc::ServerUnaryReactor* StartFetchAll(Frontend& frontend,
                                        grpc::CallbackServerContext& caller,
                                        const grpc::ByteBuffer& request,
                                        grpc::ByteBuffer& reply) {
  return new FetchAll(frontend, caller, request, reply);
}

grpc::ServerUnaryReactor* StartHedgedFetch(Frontend& frontend,
                                           grpc::CallbackServerContext& caller,
                                           const grpc::ByteBuffer& request,
                                           grpc::ByteBuffer& reply) {
  return new HedgedFetch(frontend, caller, request, reply);
}

}  // namespace deadline
