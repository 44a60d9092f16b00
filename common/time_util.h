#ifndef DEADLINE_COMMON_TIME_UTIL_H_
#define DEADLINE_COMMON_TIME_UTIL_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
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

// Converts a protobuf Duration, rejecting malformed ones (seconds beyond
// the +-315576000000 that google.protobuf.Duration allows, nanos out of
// range or of the other sign than seconds) with INVALID_ARGUMENT naming
// `field`. The result is always finite.
absl::StatusOr<absl::Duration> FromProtoDuration(
    const google::protobuf::Duration& proto, absl::string_view field);

// Writes `d` (finite) to `proto`.
void ToProtoDuration(absl::Duration d, google::protobuf::Duration* proto);

// absl::Time <-> google.protobuf.Timestamp (finite times only).
void ToProtoTime(absl::Time t, google::protobuf::Timestamp* proto);
absl::Time FromProtoTime(const google::protobuf::Timestamp& proto);

// A budget for people: "289.6ms", "1.5s", "-2ms", or "no deadline" for
// InfiniteDuration(). Rounded to 0.1 ms.
std::string FormatBudget(absl::Duration d);

// FormatBudget() of an optional Duration field: `if_unset` when `has` is
// false, "?" when the value is malformed.
std::string FormatBudgetField(bool has, const google::protobuf::Duration& d,
                              absl::string_view if_unset = "no deadline");

}  // namespace deadline

#endif  // DEADLINE_COMMON_TIME_UTIL_H_
