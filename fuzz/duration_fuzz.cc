// Durations and flags as people and config files spell them. The bytes are
// read, as text, as the client's --panels; as one absl::Duration flag value
// (--deadline, --reserve, ...); as the frontend's four budget flags,
// "RESERVE,MIN_BUDGET,DEFAULT_DEADLINE,MAX_DEADLINE", validated and then
// planned with; and, as binary, their first 12 bytes as a protobuf
// Duration's seconds and nanos.
//
// Invariants: parsed panels carry well-formed step durations; a duration
// survives the trip to a protobuf Duration and back (to the nanosecond,
// within the protobuf range; beyond it, the way back refuses it) and
// FormatBudget() prints it to within its 0.1 ms rounding; valid budget
// options never forward a deadline later than the caller's minus the
// reserve, nor less than the minimum budget; a well-formed protobuf
// Duration is finite and converts back to itself.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/marshalling.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/panels.h"
#include "common/clock.h"
#include "common/time_util.h"
#include "fuzz/check.h"
#include "google/protobuf/duration.pb.h"
#include "server/deadline/budget.h"

namespace deadline {
namespace {

const absl::Time kNow = absl::FromUnixMicros(1'795'400'000'000'000);

// A clock stopped at kNow; budgets need only Now().
class StoppedClock final : public Clock {
 public:
  absl::Time Now() override { return kNow; }
  bool SleepUntil(absl::Time, const absl::Notification&) override {
    return false;
  }
  void SleepFor(absl::Duration) override {}
  void SpinFor(absl::Duration) override {}
  TimerId RunAt(absl::Time when, absl::AnyInvocable<void()>) override {
    return TimerId{when, 0};
  }
  bool CancelTimer(const TimerId&) override { return false; }
};

std::string Str(absl::Duration d) { return absl::FormatDuration(d); }

// The range of google.protobuf.Duration: +-315576000000 s, nanos below 1 s.
const absl::Duration kProtoMax =
    absl::Seconds(315'576'000'000) + absl::Nanoseconds(999'999'999);

void CheckProtoRoundTrip(absl::Duration d) {
  if (d == absl::InfiniteDuration() || d == -absl::InfiniteDuration()) return;
  google::protobuf::Duration proto;
  ToProtoDuration(d, &proto);
  const absl::StatusOr<absl::Duration> back = FromProtoDuration(proto, "d");
  if (absl::AbsDuration(d) >= kProtoMax + absl::Nanoseconds(1)) {
    FUZZ_CHECK(!back.ok(), "%s, beyond the protobuf range, -> %s",
               Str(d).c_str(), Str(*back).c_str());
    return;
  }
  FUZZ_CHECK(back.ok(), "%s -> %s", Str(d).c_str(),
             back.status().ToString().c_str());
  FUZZ_CHECK(*back == absl::Trunc(d, absl::Nanoseconds(1)), "%s -> %s",
             Str(d).c_str(), Str(*back).c_str());
}

void CheckFormatBudget(absl::Duration d) {
  const std::string text = FormatBudget(d);
  if (d == absl::InfiniteDuration()) {
    FUZZ_CHECK(text == "no deadline", "%s", text.c_str());
    return;
  }
  absl::Duration parsed;
  FUZZ_CHECK(absl::ParseDuration(text, &parsed), "%s prints as '%s'",
             Str(d).c_str(), text.c_str());
  if (d == -absl::InfiniteDuration()) {
    FUZZ_CHECK(parsed == d, "%s", text.c_str());
    return;
  }
  FUZZ_CHECK(absl::AbsDuration(parsed - d) < absl::Microseconds(100),
             "%s prints as '%s'", Str(d).c_str(), text.c_str());
}

void FuzzPanels(absl::string_view text) {
  const absl::StatusOr<std::vector<deadline::v1::WorkRequest>> panels =
      ParsePanels(text);
  if (!panels.ok()) {
    FUZZ_CHECK(panels.status().code() == absl::StatusCode::kInvalidArgument &&
                   absl::StartsWith(panels.status().message(), "panel group"),
               "%s", panels.status().ToString().c_str());
    return;
  }
  FUZZ_CHECK(!panels->empty(), "no panels from '%s'",
             std::string(text).c_str());
  for (const deadline::v1::WorkRequest& panel : *panels) {
    const absl::StatusOr<absl::Duration> step =
        FromProtoDuration(panel.step_duration(), "step");
    FUZZ_CHECK(step.ok(), "'%s' gives %s", std::string(text).c_str(),
               step.status().ToString().c_str());
    FUZZ_CHECK(panel.kind() == deadline::v1::WORK_KIND_SLEEP ||
                   panel.kind() == deadline::v1::WORK_KIND_SPIN,
               "kind %d", panel.kind());
  }
}

void FuzzDurationFlag(absl::string_view text) {
  absl::Duration d;
  std::string error;
  if (!absl::ParseFlag(text, &d, &error)) return;
  CheckProtoRoundTrip(d);
  CheckFormatBudget(d);
}

void FuzzBudgetOptions(absl::string_view text) {
  const std::vector<absl::string_view> values = absl::StrSplit(text, ',');
  if (values.size() != 4) return;
  BudgetOptions options;
  std::string error;
  for (auto [value, option] :
       {std::make_pair(values[0], &options.reserve),
        std::make_pair(values[1], &options.min_budget),
        std::make_pair(values[2], &options.default_deadline),
        std::make_pair(values[3], &options.max_deadline)}) {
    if (!absl::ParseFlag(value, option, &error)) return;
  }
  const absl::Status valid = ValidateBudgetOptions(options);
  if (!valid.ok()) {
    FUZZ_CHECK(valid.code() == absl::StatusCode::kInvalidArgument &&
                   absl::StartsWith(valid.message(), "--"),
               "%s", valid.ToString().c_str());
    return;
  }
  StoppedClock clock;
  const BudgetPolicy policy(options, clock);
  for (absl::Time deadline :
       {kNow, kNow + absl::Milliseconds(1), kNow + options.reserve,
        kNow + options.reserve + options.min_budget,
        kNow + options.default_deadline, kNow + options.max_deadline,
        kNow + absl::Hours(24 * 365 * 1000), absl::InfiniteFuture(),
        absl::InfinitePast(), kNow - absl::Seconds(1)}) {
    const Budget budget = policy.Plan(deadline);
    FUZZ_CHECK(budget.at_arrival == deadline - kNow, "at_arrival %s",
               Str(budget.at_arrival).c_str());
    policy.ExplainFailFast(budget);
    if (budget.fail_fast) {
      FUZZ_CHECK(budget.forwarded < options.min_budget, "forwarded %s",
                 Str(budget.forwarded).c_str());
      continue;
    }
    FUZZ_CHECK(budget.forwarded >= options.min_budget &&
                   budget.forwarded <= options.max_deadline - options.reserve,
               "forwarded %s", Str(budget.forwarded).c_str());
    FUZZ_CHECK(budget.forward_deadline == kNow + budget.forwarded,
               "forward deadline %s after now",
               Str(budget.forward_deadline - kNow).c_str());
    if (deadline == absl::InfiniteFuture()) {
      FUZZ_CHECK(budget.forwarded == options.default_deadline - options.reserve,
                 "no deadline, forwarded %s", Str(budget.forwarded).c_str());
    } else {
      FUZZ_CHECK(budget.forward_deadline <= deadline - options.reserve,
                 "forwards %s after now for a deadline %s after now",
                 Str(budget.forward_deadline - kNow).c_str(),
                 Str(deadline - kNow).c_str());
    }
  }
}

void FuzzProtoDuration(const uint8_t* data, size_t size) {
  if (size < 12) return;
  int64_t seconds;
  int32_t nanos;
  std::memcpy(&seconds, data, sizeof seconds);
  std::memcpy(&nanos, data + sizeof seconds, sizeof nanos);
  google::protobuf::Duration proto;
  proto.set_seconds(seconds);
  proto.set_nanos(nanos);
  const absl::StatusOr<absl::Duration> d = FromProtoDuration(proto, "field");
  if (!d.ok()) {
    FUZZ_CHECK(d.status().code() == absl::StatusCode::kInvalidArgument &&
                   absl::StartsWith(d.status().message(), "field "),
               "%s", d.status().ToString().c_str());
    FUZZ_CHECK(FormatBudgetField(true, proto) == "?", "malformed prints");
    return;
  }
  FUZZ_CHECK(*d != absl::InfiniteDuration() && *d != -absl::InfiniteDuration(),
             "seconds %lld nanos %d is %s", static_cast<long long>(seconds),
             nanos, Str(*d).c_str());
  google::protobuf::Duration back;
  ToProtoDuration(*d, &back);
  FUZZ_CHECK(back.seconds() == seconds && back.nanos() == nanos,
             "seconds %lld nanos %d comes back as %lld, %d",
             static_cast<long long>(seconds), nanos,
             static_cast<long long>(back.seconds()), back.nanos());
  CheckFormatBudget(*d);
}

}  // namespace
}  // namespace deadline

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  deadline::FuzzPanels(text);
  deadline::FuzzDurationFlag(text);
  deadline::FuzzBudgetOptions(text);
  deadline::FuzzProtoDuration(data, size);
  return 0;
}
