#include "client/calls.h"

#include <utility>

namespace deadline {

using deadline::v1::FetchAllReply;
using deadline::v1::FetchAllRequest;
using deadline::v1::FetchReply;
using deadline::v1::FetchRequest;

FetchCall::FetchCall(deadline::v1::Frontend::StubInterface& stub,
                     const FetchRequest& request, absl::Time deadline,
                     absl::string_view request_id, Clock& clock)
    : UnaryCall(request, deadline, request_id, clock) {
  Begin([&stub](grpc::ClientContext* context, const FetchRequest* request,
                FetchReply* reply, std::function<void(grpc::Status)> done) {
    stub.async()->Fetch(context, request, reply, std::move(done));
  });
}

FetchAllCall::FetchAllCall(deadline::v1::Frontend::StubInterface& stub,
                           const FetchAllRequest& request, absl::Time deadline,
                           absl::string_view request_id, Clock& clock)
    : UnaryCall(request, deadline, request_id, clock) {
  Begin([&stub](grpc::ClientContext* context, const FetchAllRequest* request,
                FetchAllReply* reply, std::function<void(grpc::Status)> done) {
    stub.async()->FetchAll(context, request, reply, std::move(done));
  });
}

WorkStreamCall::WorkStreamCall(deadline::v1::Backend::StubInterface& stub,
                               const deadline::v1::WorkRequest& request,
                               absl::Time deadline) {
  context_.set_deadline(ToGrpcDeadline(deadline));
  reader_ = stub.WorkStream(&context_, request);
}

WorkStreamCall::Outcome WorkStreamCall::Read(
    int max_messages,
    absl::FunctionRef<void(const deadline::v1::WorkProgress&)> on_message) {
  Outcome outcome;
  deadline::v1::WorkProgress progress;
  while (reader_->Read(&progress)) {
    on_message(progress);
    if (++outcome.messages == max_messages) {
      // Stop reading: cancelling tells the backend at once, instead of
      // leaving it to fill the flow-control window for nobody.
      outcome.stopped_early = true;
      context_.TryCancel();
      break;
    }
  }
  outcome.status = reader_->Finish();
  return outcome;
}

}  // namespace deadline
