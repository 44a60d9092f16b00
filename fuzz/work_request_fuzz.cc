// Request validation on untrusted bytes, as a server receives them: the
// bytes as a deadline.v1.WorkRequest (Backend.Work, Fetch's `work`) and as a
// FetchAllRequest (its panels included), checked with the servers' limits
// and with tight ones.
//
// Invariants: an accepted request's WorkSpec is within the limits; a refusal
// is INVALID_ARGUMENT and its message starts with the field it names; the
// FetchAll verdict is the first failing panel's, in order.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "fuzz/check.h"
#include "proto/deadline.pb.h"
#include "server/deadline/work_request.h"

namespace deadline {
namespace {

constexpr int kMaxPanels = 16;

void CheckSpec(const WorkSpec& spec, const WorkLimits& limits) {
  FUZZ_CHECK(spec.steps >= 0 && spec.steps <= limits.max_steps, "steps %d",
             spec.steps);
  FUZZ_CHECK(spec.step >= absl::ZeroDuration() && spec.step <= limits.max_step,
             "step %s", absl::FormatDuration(spec.step).c_str());
  FUZZ_CHECK(spec.steps * spec.step <= limits.max_total, "total %s",
             absl::FormatDuration(spec.steps * spec.step).c_str());
}

// A refusal of a WorkRequest whose fields are named with `prefix`.
void CheckWorkError(const absl::Status& status, absl::string_view prefix) {
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, "%s",
             status.ToString().c_str());
  const absl::string_view message = status.message();
  bool names_a_field = false;
  for (absl::string_view field :
       {"steps ", "step_duration ", "kind ", "steps * "}) {
    names_a_field |= absl::StartsWith(message, absl::StrCat(prefix, field));
  }
  FUZZ_CHECK(names_a_field, "message names no field: %s",
             std::string(message).c_str());
}

absl::StatusOr<WorkSpec> ParseAndCheck(const deadline::v1::WorkRequest& request,
                                       const WorkLimits& limits,
                                       absl::string_view prefix) {
  absl::StatusOr<WorkSpec> spec = ParseWorkRequest(request, limits, prefix);
  if (spec.ok()) {
    CheckSpec(*spec, limits);
  } else {
    CheckWorkError(spec.status(), prefix);
  }
  return spec;
}

void CheckFetchAll(const deadline::v1::FetchAllRequest& request,
                   const WorkLimits& limits) {
  const absl::Status status =
      ValidateFetchAllRequest(request, limits, kMaxPanels);
  const std::string message(status.message());
  if (request.panels_size() > kMaxPanels) {
    FUZZ_CHECK(
        status.code() == absl::StatusCode::kInvalidArgument &&
            message == absl::StrCat("panels must be at most ", kMaxPanels,
                                    ", got ", request.panels_size()),
        "%s", status.ToString().c_str());
    return;
  }
  if (!deadline::v1::FanOutMode_IsValid(request.mode())) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument &&
                   absl::StartsWith(message, "mode must be a FanOutMode"),
               "%s", status.ToString().c_str());
    return;
  }
  for (int i = 0; i < request.panels_size(); ++i) {
    const std::string prefix = absl::StrCat("panels[", i, "].");
    const absl::StatusOr<WorkSpec> spec =
        ParseAndCheck(request.panels(i), limits, prefix);
    if (!spec.ok()) {
      FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument &&
                     message == spec.status().message(),
                 "panel %d: %s, but %s", i, status.ToString().c_str(),
                 spec.status().ToString().c_str());
      return;
    }
  }
  FUZZ_CHECK(status.ok(), "every panel is valid, but %s",
             status.ToString().c_str());
}

}  // namespace
}  // namespace deadline

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using deadline::WorkLimits;
  WorkLimits tight;
  tight.max_steps = 10;
  tight.max_step = absl::Milliseconds(1);
  tight.max_total = absl::Microseconds(5500);

  deadline::v1::WorkRequest work;
  if (work.ParseFromArray(data, static_cast<int>(size))) {
    for (const WorkLimits& limits : {WorkLimits{}, tight}) {
      static_cast<void>(deadline::ParseAndCheck(work, limits, ""));
      static_cast<void>(deadline::ParseAndCheck(work, limits, "work."));
    }
  }
  deadline::v1::FetchAllRequest fetch_all;
  if (fetch_all.ParseFromArray(data, static_cast<int>(size))) {
    for (const WorkLimits& limits : {WorkLimits{}, tight}) {
      deadline::CheckFetchAll(fetch_all, limits);
    }
  }
  return 0;
}
