#ifndef DEADLINE_COMMON_TIME_UTIL_H_
#define DEADLINE_COMMON_TIME_UTIL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace deadline {

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
