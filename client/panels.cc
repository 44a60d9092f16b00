#include "client/panels.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/time_util.h"

namespace deadline {

absl::StatusOr<std::vector<deadline::v1::WorkRequest>> ParsePanels(
    absl::string_view spec) {
  constexpr int kMaxCount = 1000;  // Keeps a typo from allocating millions.
  std::vector<deadline::v1::WorkRequest> panels;
  for (absl::string_view group : absl::StrSplit(spec, ',')) {
    const auto bad = [group](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("panel group '", group, "': ", why,
                       " (expected COUNTxSTEPSxSTEP[:spin], e.g. 3x10x10ms)"));
    };
    absl::string_view body = group;
    const bool spin = absl::ConsumeSuffix(&body, ":spin");
    const std::vector<absl::string_view> parts = absl::StrSplit(body, 'x');
    if (parts.size() != 3) return bad("needs three parts");
    int count = 0;
    int steps = 0;
    absl::Duration step;
    if (!absl::SimpleAtoi(parts[0], &count) || count < 1 || count > kMaxCount) {
      return bad(absl::StrCat("COUNT must be 1 to ", kMaxCount));
    }
    if (!absl::SimpleAtoi(parts[1], &steps))
      return bad("STEPS is not a number");
    if (!absl::ParseDuration(parts[2], &step)) {
      return bad("STEP is not a duration");
    }
    // A protobuf Duration holds at most 10000 years either way; absl reads
    // "inf", and numbers too long for it ("1.9223372036854775807h"), as
    // infinite.
    deadline::v1::WorkRequest panel;
    if (step == absl::InfiniteDuration() || step == -absl::InfiniteDuration()) {
      return bad("STEP is out of range (10000 years at most)");
    }
    ToProtoDuration(step, panel.mutable_step_duration());
    if (!FromProtoDuration(panel.step_duration(), "STEP").ok()) {
      return bad("STEP is out of range (10000 years at most)");
    }
    panel.set_steps(steps);
    panel.set_kind(spin ? deadline::v1::WORK_KIND_SPIN
                        : deadline::v1::WORK_KIND_SLEEP);
    panels.insert(panels.end(), count, panel);
  }
  return panels;
}

}  // namespace deadline
