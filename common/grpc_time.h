#ifndef DEADLINE_COMMON_GRPC_TIME_H_
#define DEADLINE_COMMON_GRPC_TIME_H_

#include <chrono>

#include "absl/time/time.h"
#include "grpc/support/time.h"
#include "grpcpp/server_context.h"

namespace deadline {

// gRPC spells "no deadline" as system_clock::time_point::max(); this project
// spells it absl::InfiniteFuture(), whose arithmetic saturates instead of
// overflowing (InfiniteFuture() - now == InfiniteDuration()).
absl::Time FromGrpcDeadline(std::chrono::system_clock::time_point deadline);
// The deadline of the call `context` serves; InfiniteFuture() when the
// caller set none. Read from gRPC's own gpr_timespec, not from deadline():
// that converts to a system_clock time point in nanoseconds, which cannot
// hold times beyond the year 2262, so a grpc-timeout of a few million hours
// wraps into the past there. Here it stays a deadline far in the future, for
// the budget policy to clamp.
absl::Time DeadlineOf(const grpc::ServerContextBase& context);
// The same conversion, for any gpr_timespec.
absl::Time FromGrpcTimespec(gpr_timespec t);

// A finite `deadline` before 1970 (e.g. absl::InfinitePast()) becomes the
// earliest time gRPC reads as a deadline, so it stays expired.
std::chrono::system_clock::time_point ToGrpcDeadline(absl::Time deadline);

}  // namespace deadline

#endif  // DEADLINE_COMMON_GRPC_TIME_H_
