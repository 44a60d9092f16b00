#ifndef DEADLINE_SERVER_DEADLINE_WORK_REQUEST_H_
#define DEADLINE_SERVER_DEADLINE_WORK_REQUEST_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/deadline.pb.h"
#include "server/deadline/work_loop.h"

namespace deadline {

// The most work one request may ask for. Anything above is refused, so no
// request can tie up a server for long or overflow the schedule arithmetic.
struct WorkLimits {
  int max_steps = 100'000;
  absl::Duration max_step = absl::Seconds(10);
  absl::Duration max_total = absl::Seconds(300);  // steps * step_duration
};

// Checks `request` against `limits` and turns it into a WorkSpec.
// Returns INVALID_ARGUMENT naming the field (prefixed with `field_prefix`,
// e.g. "work.") and the limit it broke: negative or too many steps, a
// malformed, negative or too long step_duration, too much work in total, or
// an unknown kind.
absl::StatusOr<WorkSpec> ParseWorkRequest(
    const deadline::v1::WorkRequest& request, const WorkLimits& limits,
    absl::string_view field_prefix = "");

// Checks a FetchAll request, in this order: at most `max_panels` panels, a
// known FanOutMode, then each panel as ParseWorkRequest does with the prefix
// "panels[i].". OK, or INVALID_ARGUMENT for the first problem found, naming
// the field and the limit (e.g. "panels must be at most 16, got 17"). The
// messages name no hop: the caller adds its own prefix.
absl::Status ValidateFetchAllRequest(
    const deadline::v1::FetchAllRequest& request, const WorkLimits& limits,
    int max_panels);

}  // namespace deadline

#endif  // DEADLINE_SERVER_DEADLINE_WORK_REQUEST_H_
