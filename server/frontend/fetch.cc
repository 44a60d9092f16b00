#include "server/frontend/fetch.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"
#include "common/status_util.h"
#include "server/frontend/backend_attempt.h"
#include "server/frontend/fan_out_call.h"
#include "server/serving/raw_messages.h"

namespace deadline {
namespace {

using deadline::v1::FetchReply;
using deadline::v1::FetchRequest;

// One Fetch: admitted (or answered at once), then one backend call, and the
// answer when it ends. Lives until OnDone(); it finishes only once the
// backend call has ended (or before starting it), so the backend call's
// context, derived from the caller's, never outlives the call it derives
// from.
class FetchReactor final : public grpc::ServerUnaryReactor {
 public:
  FetchReactor(Frontend& frontend, grpc::CallbackServerContext& caller,
               const grpc::ByteBuffer& request, grpc::ByteBuffer& reply)
      : call_(frontend, caller, "Fetch"), reply_bytes_(reply) {
    if (!AdmitFetchRequest(call_, request, request_)) {
      Answer();
      return;
    }
    FillBudget(call_, reply_);
    backend_.emplace(call_);
    backend_->Start(frontend.NextBackend(), request_.work(),
                    [this] { BackendEnded(); });
  }

  // With propagation, gRPC itself cancels the backend call: nothing to do
  // but note the moment.
  void OnCancel() override { call_.CallerGone(call_.frontend().clock().Now()); }
  void OnDone() override { delete this; }

 private:
  // The backend call has ended, on a gRPC thread: answer.
  void BackendEnded() {
    const grpc::Status& status = backend_->status();
    call_.AddWaiting(backend_->ended_at() - backend_->sent_at());
    // An OK answer whose caller wants no trace needs no more than the
    // reply: the hot path skips the trailers.
    const deadline::v1::HopTrace* hop = nullptr;
    if (!status.ok() || call_.trace_wanted()) {
      deadline::v1::HopTrace* seen = call_.BackendHop(backend_->Seen());
      call_.AddBackendHop(seen);
      hop = seen;
    }
    if (status.ok()) *reply_.mutable_backend() = backend_->reply();
    BackendOutcome outcome;
    if (!status.ok()) {
      outcome.status =
          absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                       BackendMessage(status));
      outcome.stop =
          absl::StrCat("backend failed: ", CodeName(status.error_code()));
    }
    outcome.steps_done =
        hop != nullptr ? hop->steps_done() : backend_->reply().steps_done();
    outcome.hit_deadline =
        status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
    outcome.stop_with_caller = call_.forwards_deadline();
    call_.Conclude(outcome);
    Answer();
  }

  void Answer() {
    if (call_.status().ok()) SerializeRaw(reply_, reply_bytes_);
    call_.Audit();
    Finish(ToGrpcStatus(call_.status()));
  }

  FrontendCall call_;
  FetchRequest request_;
  FetchReply reply_;
  grpc::ByteBuffer& reply_bytes_;
  absl::optional<BackendAttempt> backend_;
};

}  // namespace

grpc::ServerUnaryReactor* StartFetch(Frontend& frontend,
                                     grpc::CallbackServerContext& caller,
                                     const grpc::ByteBuffer& request,
                                     grpc::ByteBuffer& reply) {
  if (frontend.options().hedge_after != absl::InfiniteDuration()) {
    return StartHedgedFetch(frontend, caller, request, reply);
  }
  return new FetchReactor(frontend, caller, request, reply);
}

}  // namespace deadline
