#include "server/deadline/work_request.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/time_util.h"

namespace deadline {

absl::StatusOr<WorkSpec> ParseWorkRequest(
    const deadline::v1::WorkRequest& request, const WorkLimits& limits,
    absl::string_view field_prefix) {
  const auto field = [&](absl::string_view name) {
    return absl::StrCat(field_prefix, name);
  };
  WorkSpec spec;

  spec.steps = request.steps();
  if (spec.steps < 0 || spec.steps > limits.max_steps) {
    return absl::InvalidArgumentError(
        absl::StrCat(field("steps"), " must be between 0 and ",
                     limits.max_steps, ", got ", spec.steps));
  }

  absl::StatusOr<absl::Duration> step =
      FromProtoDuration(request.step_duration(), field("step_duration"));
  if (!step.ok()) return step.status();
  if (*step < absl::ZeroDuration() || *step > limits.max_step) {
    return absl::InvalidArgumentError(
        absl::StrCat(field("step_duration"), " must be between 0 and ",
                     absl::FormatDuration(limits.max_step), ", got ",
                     absl::FormatDuration(*step)));
  }
  spec.step = *step;

  const absl::Duration total = spec.steps * spec.step;
  if (total > limits.max_total) {
    return absl::InvalidArgumentError(absl::StrCat(
        field("steps"), " * ", field("step_duration"), " must be at most ",
        absl::FormatDuration(limits.max_total), ", got ",
        absl::FormatDuration(total)));
  }

  switch (request.kind()) {
    case deadline::v1::WORK_KIND_UNSPECIFIED:
    case deadline::v1::WORK_KIND_SLEEP:
      spec.spin = false;
      break;
    case deadline::v1::WORK_KIND_SPIN:
      spec.spin = true;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field("kind"),
                       " must be one of WORK_KIND_UNSPECIFIED, "
                       "WORK_KIND_SLEEP, WORK_KIND_SPIN, got ",
                       static_cast<int>(request.kind())));
  }
  return spec;
}

absl::Status ValidateFetchAllRequest(
    const deadline::v1::FetchAllRequest& request, const WorkLimits& limits,
    int max_panels) {
  if (request.panels_size() > max_panels) {
    return absl::InvalidArgumentError(absl::StrCat("panels must be at most ",
                                                   max_panels, ", got ",
                                                   request.panels_size()));
  }
  if (!deadline::v1::FanOutMode_IsValid(request.mode())) {
    return absl::InvalidArgumentError(
        absl::StrCat("mode must be a FanOutMode, got ", request.mode()));
  }
  for (int i = 0; i < request.panels_size(); ++i) {
    const absl::StatusOr<WorkSpec> spec = ParseWorkRequest(
        request.panels(i), limits, absl::StrCat("panels[", i, "]."));
    if (!spec.ok()) return absl::InvalidArgumentError(spec.status().message());
  }
  return absl::OkStatus();
}

}  // namespace deadline
