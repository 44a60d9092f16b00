#include "client/calls.h"

#include <utility>

#include "common/deadline_at.h"
#include "common/grpc_time.h"

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

ProgressStream::ProgressStream(absl::Time deadline,
                               absl::string_view request_id) {
  context_.set_deadline(ToGrpcDeadline(deadline));
  outcome_.request_id =
      request_id.empty() ? NewRequestId() : std::string(request_id);
  context_.AddMetadata(kRequestIdKey, outcome_.request_id);
  // This client shows every call's story, OK or not.
  WantTrace(context_);
  outcome_.start = RealClock().Now();
  SendDeadlineAt(context_, deadline, outcome_.start);
}

ProgressStream::Outcome ProgressStream::Read(
    int max_messages,
    absl::FunctionRef<void(const deadline::v1::WorkProgress&)> on_message) {
  deadline::v1::WorkProgress progress;
  while (reader_->Read(&progress)) {
    on_message(progress);
    if (++outcome_.messages == max_messages) {
      // Stop reading: cancelling tells the backend at once, instead of
      // leaving it to fill the flow-control window for nobody.
      outcome_.stopped_early = true;
      context_.TryCancel();
      break;
    }
  }
  outcome_.status = reader_->Finish();
  outcome_.elapsed = RealClock().Now() - outcome_.start;
  outcome_.trace = TraceFrom(context_);
  return outcome_;
}

WorkStreamCall::WorkStreamCall(deadline::v1::Backend::StubInterface& stub,
                               const deadline::v1::WorkRequest& request,
                               absl::Time deadline,
                               absl::string_view request_id)
    : ProgressStream(deadline, request_id) {
  reader_ = stub.WorkStream(&context_, request);
}

FetchStreamCall::FetchStreamCall(deadline::v1::Frontend::StubInterface& stub,
                                 const FetchRequest& request,
                                 absl::Time deadline,
                                 absl::string_view request_id)
    : ProgressStream(deadline, request_id) {
  reader_ = stub.FetchStream(&context_, request);
}

}  // namespace deadline
