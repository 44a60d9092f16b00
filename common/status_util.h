#ifndef DEADLINE_COMMON_STATUS_UTIL_H_
#define DEADLINE_COMMON_STATUS_UTIL_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace deadline {

// absl::StatusCode and grpc::StatusCode both follow google.rpc.Code, so the
// code crosses the edge unchanged in both directions.
grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace deadline

#endif  // DEADLINE_COMMON_STATUS_UTIL_H_
