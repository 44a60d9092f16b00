#include "server/frontend/frontend_service.h"

#include "server/frontend/fan_out_call.h"
#include "server/frontend/fetch.h"
#include "server/frontend/fetch_stream.h"

namespace deadline {

FrontendService::FrontendService(const std::vector<BackendTarget>& backends,
                                 const FrontendOptions& options, Clock& clock)
    : frontend_(backends, options, clock) {}

grpc::ServerUnaryReactor* FrontendService::Fetch(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* reply) {
  return StartFetch(frontend_, *context, *request, *reply);
}

grpc::ServerUnaryReactor* FrontendService::FetchAll(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* reply) {
  return StartFetchAll(frontend_, *context, *request, *reply);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* FrontendService::FetchStream(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return StartFetchStream(frontend_, *context, *request);
}

StatsSnapshot FrontendService::Snapshot() const {
  StatsSnapshot snapshot = frontend_.sink().stats.Snapshot();
  if (const Auditor* auditor = frontend_.auditor()) {
    snapshot.records = auditor->landed();
    snapshot.records_failed = auditor->failed();
  }
  return snapshot;
}

bool FrontendService::WaitForAudits(absl::Time until) {
  Auditor* auditor = frontend_.auditor();
  return auditor == nullptr || auditor->WaitIdle(until);
}

}  // namespace deadline
