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
           check(options.clock_skew >= absl::ZeroDuration() &&
                     options.clock_skew <= options.reserve,
                 "--clock_skew must be 0 to --reserve, or a call trusted to "
                 "an absolute deadline that late could be answered late"),
       }) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::string_view DeadlineFromName(DeadlineFrom from) {
  switch (from) {
    case DeadlineFrom::kRelative:
      return "grpc-timeout";
    case DeadlineFrom::kAbsolute:
      return "deadline-at";
    case DeadlineFrom::kNone:
      break;
  }
  return "";
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
  return Plan(CallerDeadline(caller_deadline), arrived, cap);
}

Budget BudgetPolicy::Plan(const CallerDeadline& caller, absl::Time arrived,
                          absl::Duration cap) const {
  Budget budget;
  const absl::Duration skew = options_.clock_skew;
  const bool sent = caller.at.has_value() || caller.malformed;
  const bool trusted =
      options_.absolute_deadline && caller.at.has_value() &&
      !caller.malformed && *caller.at - arrived <= options_.max_deadline &&
      *caller.at <= caller.relative + skew &&
      (!caller.sent_at.has_value() || *caller.sent_at <= arrived + skew);
  budget.deadline_at_ignored = options_.absolute_deadline && sent && !trusted;
  absl::Duration slack;
  if (trusted) {
    budget.deadline = std::min(caller.relative, *caller.at + skew);
    budget.from = budget.deadline < caller.relative ? DeadlineFrom::kAbsolute
                                                    : DeadlineFrom::kRelative;
    if (*caller.at + skew < arrived) budget.arrived_late = arrived - *caller.at;
    if (caller.sent_at.has_value()) {
      budget.arrival_delay = arrived - *caller.sent_at;
    }
  } else {
    budget.deadline = caller.relative;
    budget.from = caller.relative == absl::InfiniteFuture()
                      ? DeadlineFrom::kNone
                      : DeadlineFrom::kRelative;
  }
  budget.at_arrival = budget.deadline - arrived;  // Saturates to infinity.
  if (!trusted) slack = ArrivalSlack(budget.at_arrival);
  absl::Duration usable =
      budget.at_arrival == absl::InfiniteDuration()
          ? options_.default_deadline
          : std::min(budget.at_arrival - slack, options_.max_deadline);
  budget.fail_fast = usable - options_.reserve < options_.min_budget;
  if (cap < usable) {
    usable = cap;
    budget.capped = true;
  }
  budget.forwarded = usable - options_.reserve;
  budget.forward_deadline = arrived + budget.forwarded;
  budget.slack = slack;
  return budget;
}

std::string BudgetPolicy::ExplainFailFast(const Budget& budget) const {
  if (budget.arrived_late.has_value()) {
    return absl::StrCat("arrived ", FormatBudget(*budget.arrived_late),
                        " after its caller's deadline (deadline-at)");
  }
  const absl::Duration slack = budget.slack;
  return absl::StrCat(
      FormatBudget(budget.at_arrival), " left at arrival, less than the ",
      FormatBudget(options_.reserve), " reserve + ",
      FormatBudget(options_.min_budget), " minimum",
      slack > absl::ZeroDuration()
          ? absl::StrCat(" + ", FormatBudget(slack), " of arrival slack")
          : "");
}

}  // namespace deadline
