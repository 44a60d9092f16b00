#include "server/deadline/budget.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/time_util.h"

namespace deadline {

absl::Status ValidateBudgetOptions(const BudgetOptions& options) {
  const auto check = [](bool ok, absl::string_view what) {
    return ok ? absl::OkStatus() : absl::InvalidArgumentError(what);
  };
  for (absl::Status status : {
           check(options.reserve >= absl::ZeroDuration() &&
                     options.reserve < absl::InfiniteDuration(),
                 "--reserve must be finite and >= 0"),
           check(options.min_budget >= absl::ZeroDuration() &&
                     options.min_budget < absl::InfiniteDuration(),
                 "--min_budget must be finite and >= 0"),
           check(options.max_deadline < absl::InfiniteDuration(),
                 "--max_deadline must be finite"),
           check(
               options.default_deadline >= options.reserve + options.min_budget,
               "--default_deadline must be at least --reserve + "
               "--min_budget, or calls without a deadline always fail"),
           check(options.max_deadline >= options.default_deadline,
                 "--max_deadline must be at least --default_deadline"),
       }) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Duration WireRounding(absl::Duration d) {
  if (d < absl::Seconds(1) || d == absl::InfiniteDuration()) {
    return absl::ZeroDuration();
  }
  if (d < absl::Seconds(10)) return absl::Milliseconds(10);
  if (d < absl::Seconds(100)) return absl::Milliseconds(100);
  return absl::Seconds(1);  // At least; --max_deadline clamps these anyway.
}

absl::Duration ArrivalSlack(absl::Duration d) {
  if (d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return absl::ZeroDuration();
  }
  // 3% of d, rounded up to the millisecond, in integers. Beyond a million
  // hours (far past any --max_deadline) the figure no longer matters, and
  // the cap keeps the product from overflowing.
  const int64_t us = absl::ToInt64Microseconds(std::min(d, absl::Hours(1e6)));
  const int64_t hpack_ms = (us * 3 + 99'999) / 100'000;
  return WireRounding(d) + absl::Milliseconds(hpack_ms);
}

Budget BudgetPolicy::Plan(absl::Time caller_deadline) const {
  return Plan(caller_deadline, clock_.Now());
}

Budget BudgetPolicy::Plan(absl::Time caller_deadline, absl::Time arrived,
                          absl::Duration cap) const {
  Budget budget;
  budget.at_arrival = caller_deadline - arrived;  // Saturates to infinity.
  absl::Duration usable =
      budget.at_arrival == absl::InfiniteDuration()
          ? options_.default_deadline
          : std::min(budget.at_arrival - ArrivalSlack(budget.at_arrival),
                     options_.max_deadline);
  budget.fail_fast = usable - options_.reserve < options_.min_budget;
  if (cap < usable) {
    usable = cap;
    budget.capped = true;
  }
  budget.forwarded = usable - options_.reserve;
  budget.forward_deadline = arrived + budget.forwarded;
  return budget;
}

std::string BudgetPolicy::ExplainFailFast(const Budget& budget) const {
  const absl::Duration slack = ArrivalSlack(budget.at_arrival);
  return absl::StrCat(
      FormatBudget(budget.at_arrival), " left at arrival, less than the ",
      FormatBudget(options_.reserve), " reserve + ",
      FormatBudget(options_.min_budget), " minimum",
      slack > absl::ZeroDuration()
          ? absl::StrCat(" + ", FormatBudget(slack), " of arrival slack")
          : "");
}

}  // namespace deadline
