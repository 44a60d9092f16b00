#include "server/deadline/propagation.h"

#include "common/deadline_at.h"
#include "common/grpc_time.h"
#include "common/time_util.h"

namespace deadline {

CallerDeadline CallerDeadlineOf(const grpc::ServerContextBase& caller) {
  CallerDeadline deadline(DeadlineOf(caller));
  const DeadlineAt sent = DeadlineAtOf(caller);
  deadline.at = sent.at;
  deadline.sent_at = sent.sent_at;
  deadline.malformed = sent.malformed;
  return deadline;
}

void StampDeadlineAt(grpc::ClientContext& call, absl::Time deadline,
                     Clock& clock) {
  SendDeadlineAt(call, deadline, clock.Now());
}

std::unique_ptr<grpc::ClientContext> ChildContext(
    grpc::CallbackServerContext& caller, absl::Time deadline,
    Propagation propagation) {
  if (propagation == Propagation::kNone) {
    return std::make_unique<grpc::ClientContext>();  // No deadline, no link.
  }
  grpc::PropagationOptions inherit;  // Deadline and cancellation.
  if (propagation == Propagation::kDeadlineOnly) {
    inherit.disable_cancellation_propagation();
  } else if (propagation == Propagation::kCancellationOnly) {
    inherit.disable_deadline_propagation();
  }
  std::unique_ptr<grpc::ClientContext> child =
      grpc::ClientContext::FromCallbackServerContext(caller, inherit);
  child->set_deadline(ToGrpcDeadline(deadline));
  return child;
}

}  // namespace deadline
