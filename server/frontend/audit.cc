#include "server/frontend/audit.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_time.h"
#include "common/status_util.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "server/deadline/propagation.h"
#include "server/frontend/backend_channels.h"
#include "server/serving/raw_messages.h"

namespace deadline {

// One audit call: what gRPC needs to outlive it.
struct Auditor::Audit {
  std::unique_ptr<grpc::ClientContext> context;
  deadline::v1::AuditRecord record;
  grpc::ByteBuffer request_bytes;
  grpc::ByteBuffer reply_bytes;
  absl::Time sent_at;
  absl::Time deadline;
};

Auditor::Auditor(grpc::GenericStub& stub, AuditMode mode,
                 absl::Duration deadline, LogMode log, Clock& clock)
    : stub_(stub), mode_(mode), deadline_(deadline), log_(log), clock_(clock) {}

Auditor::~Auditor() {
  absl::MutexLock lock(&mu_);
  for (Audit* audit : in_flight_) audit->context->TryCancel();
  mu_.Await(absl::Condition(
      +[](absl::flat_hash_set<Audit*>* audits) { return audits->empty(); },
      &in_flight_));
}

void Auditor::Send(grpc::CallbackServerContext& caller,
                   deadline::v1::AuditRecord record) {
  if (mode_ == AuditMode::kOff) return;
  auto audit = std::make_unique<Audit>();
  audit->sent_at = clock_.Now();
  if (mode_ == AuditMode::kDetached) {
    // The record must land whatever became of the request: nothing links
    // this call to it, and it gets a short deadline of its own.
    audit->deadline = audit->sent_at + deadline_;
    audit->context = std::make_unique<grpc::ClientContext>();
    audit->context->set_deadline(ToGrpcDeadline(audit->deadline));
  } else {
    // The hazard: derived from the request, it dies with the request.
    audit->deadline = std::min(DeadlineOf(caller), audit->sent_at + deadline_);
    audit->context = ChildContext(caller, audit->deadline);
  }
  audit->context->AddMetadata(kRequestIdKey, record.request_id());
  audit->record = std::move(record);
  Audit* raw = audit.release();
  {
    absl::MutexLock lock(&mu_);
    in_flight_.insert(raw);
  }
  SerializeRaw(raw->record, raw->request_bytes);
  stub_.UnaryCall(
      raw->context.get(), kRecordMethod, grpc::StubOptions(),
      &raw->request_bytes, &raw->reply_bytes, [this, raw](grpc::Status status) {
        if (status.ok()) {
          deadline::v1::RecordReply reply;
          status = ToGrpcStatus(ParseReply(raw->reply_bytes, reply, "backend"));
        }
        Ended(raw, status);
      });
}

void Auditor::Ended(Audit* raw, const grpc::Status& status) {
  std::unique_ptr<Audit> audit(raw);
  (status.ok() ? landed_ : failed_).fetch_add(1, std::memory_order_relaxed);
  // A lost record is worth a line, like any failed call; the line has the
  // shape of the call log's.
  deadline::v1::BudgetTrace trace;
  trace.set_request_id(audit->record.request_id());
  deadline::v1::HopTrace hop;
  hop.set_hop("frontend");
  ToProtoTime(audit->sent_at, hop.mutable_arrived_at());
  ToProtoTime(clock_.Now(), hop.mutable_finished_at());
  ToProtoDuration(audit->deadline - audit->sent_at, hop.mutable_forwarded());
  hop.set_code(absl::StatusCodeToString(
      static_cast<absl::StatusCode>(status.error_code())));
  hop.set_stop(
      status.ok()
          ? "audit recorded"
          : absl::StrCat("audit lost: ", Trimmed(status.error_message(), 256)));
  LogCall(log_, "Record", trace, hop, absl::ZeroDuration());
  absl::MutexLock lock(&mu_);
  in_flight_.erase(raw);
  // Gone before the lock is: the destructor, which waits for no audit to
  // be in flight, goes on only once this one's context is destroyed.
  audit.reset();
}

bool Auditor::WaitIdle(absl::Time until) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(
      absl::Condition(
          +[](absl::flat_hash_set<Audit*>* audits) { return audits->empty(); },
          &in_flight_),
      until);
}

}  // namespace deadline
