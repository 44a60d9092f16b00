#include "server/frontend/backend_attempt.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/frontend/backend_channels.h"
#include "server/serving/raw_messages.h"

namespace deadline {

BackendAttempt::BackendAttempt(FrontendCall& call)
    : call_(call), context_(call.NewBackendContext()) {}

void BackendAttempt::Start(int backend, const deadline::v1::WorkRequest& work,
                           absl::AnyInvocable<void()> ended) {
  Frontend& frontend = call_.frontend();
  const BackendStub& target = frontend.backend(backend);
  work_ = &work;
  ended_ = std::move(ended);
  backend_ = target.name;
  sent_at_ = frontend.clock().Now();
  call_.Stamp(*context_, sent_at_);
  SerializeRaw(work, request_bytes_);
  target.raw->UnaryCall(
      context_.get(), kWorkMethod, grpc::StubOptions(), &request_bytes_,
      &reply_bytes_, [this](grpc::Status status) { Ended(std::move(status)); });
}

void BackendAttempt::Cancel(std::string cause) {
  cancelled_for_ = std::move(cause);
  context_->TryCancel();
}

void BackendAttempt::Ended(grpc::Status status) {
  ended_at_ = call_.frontend().clock().Now();
  status_ = std::move(status);
  // Nothing from another hop is trusted: an answer must parse, and be one
  // that the request allows.
  if (status_.ok()) {
    const absl::Status parsed =
        ParseReply(reply_bytes_, reply_, absl::StrCat("backend ", backend_));
    if (!parsed.ok()) status_ = ToGrpcStatus(parsed);
  }
  if (status_.ok() &&
      (reply_.steps_done() < 0 || reply_.steps_done() > work_->steps())) {
    status_ =
        grpc::Status(grpc::StatusCode::INTERNAL,
                     absl::StrCat("backend ", backend_, " answered steps_done ",
                                  reply_.steps_done(), " for work of ",
                                  work_->steps(), " steps"));
    reply_.Clear();  // Not an answer to pass on.
  }
  ended_();
}

SeenBackendCall BackendAttempt::Seen(int panel, bool hedge) const {
  SeenBackendCall seen;
  seen.context = context_.get();
  seen.status = status_;
  seen.backend = backend_;
  seen.sent_at = sent_at_;
  seen.ended_at = ended_at_;
  seen.steps_requested = work_->steps();
  seen.steps_seen = reply_.steps_done();
  seen.cancelled_for = cancelled_for_;
  seen.panel = panel;
  seen.hedge = hedge;
  return seen;
}

}  // namespace deadline
