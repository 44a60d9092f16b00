#include "common/time_util.h"

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace deadline {

absl::StatusOr<absl::Duration> FromProtoDuration(
    const google::protobuf::Duration& proto, absl::string_view field) {
  // google.protobuf.Duration's own range, about 10000 years either way.
  // Beyond it absl saturates: seconds INT64_MIN, nanos -1 became
  // -InfiniteDuration().
  constexpr int64_t kMaxSeconds = 315'576'000'000;
  const int64_t seconds = proto.seconds();
  const int32_t nanos = proto.nanos();
  if (seconds < -kMaxSeconds || seconds > kMaxSeconds ||
      nanos <= -1'000'000'000 || nanos >= 1'000'000'000 ||
      (seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is not a valid Duration (seconds ", seconds,
                     ", nanos ", nanos, ")"));
  }
  return absl::Seconds(seconds) + absl::Nanoseconds(nanos);
}

void ToProtoDuration(absl::Duration d, google::protobuf::Duration* proto) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  proto->set_seconds(seconds);
  proto->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

void ToProtoTime(absl::Time t, google::protobuf::Timestamp* proto) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1'000'000;
  int64_t rest = micros % 1'000'000;
  if (rest < 0) {
    rest += 1'000'000;
    --seconds;
  }
  proto->set_seconds(seconds);
  proto->set_nanos(static_cast<int32_t>(rest * 1000));
}

absl::Time FromProtoTime(const google::protobuf::Timestamp& proto) {
  return absl::FromUnixSeconds(proto.seconds()) +
         absl::Nanoseconds(proto.nanos());
}

std::string FormatBudget(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return "no deadline";
  return absl::FormatDuration(absl::Trunc(d, absl::Microseconds(100)));
}

std::string FormatBudgetField(bool has, const google::protobuf::Duration& d,
                              absl::string_view if_unset) {
  if (!has) return std::string(if_unset);
  const absl::StatusOr<absl::Duration> parsed = FromProtoDuration(d, "");
  return parsed.ok() ? FormatBudget(*parsed) : "?";
}

}  // namespace deadline
