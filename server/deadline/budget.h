#ifndef DEADLINE_SERVER_DEADLINE_BUDGET_H_
#define DEADLINE_SERVER_DEADLINE_BUDGET_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace deadline {

// How a middle tier turns its caller's deadline into a deadline for the call
// it makes downstream.
struct BudgetOptions {
  // Kept back from the caller's budget, so this hop can answer (and explain)
  // before its caller's own timer fires.
  absl::Duration reserve = absl::Milliseconds(10);
  // The least budget worth forwarding; below it the call fails fast.
  absl::Duration min_budget = absl::Milliseconds(5);
  // The budget of a call that arrives without a deadline.
  absl::Duration default_deadline = absl::Seconds(5);
  // Longer budgets are clamped to this.
  absl::Duration max_deadline = absl::Seconds(60);
};

// OK when the options make sense together; otherwise INVALID_ARGUMENT naming
// the option (e.g. a negative reserve, or a default_deadline that would
// always fail fast).
absl::Status ValidateBudgetOptions(const BudgetOptions& options);

// How much a caller's budget of `d` may have grown on the wire: gRPC sends
// a deadline as a relative timeout rounded up, to the millisecond below
// 1 s (zero here), to 10 ms below 10 s, to 100 ms below 100 s, and to at
// least 1 s beyond.
absl::Duration WireRounding(absl::Duration d);

// How much more than its caller really has a budget that arrives as `d`
// may be: WireRounding(d), plus 3% of `d` rounded up to the millisecond.
// gRPC 1.51's HPACK encoder may send, instead of a call's timeout, the
// table index of a timeout sent earlier on the same connection that is up
// to 3% longer (hpack_encoder.cc, Encode(GrpcTimeoutMetadata)), for as long
// as that entry stays in the connection's HPACK table. Zero for an infinite
// or past `d`.
absl::Duration ArrivalSlack(absl::Duration d);

// One call's budget, as planned at its arrival.
struct Budget {
  // Time left until the caller's deadline; InfiniteDuration() when the
  // caller set none; negative when it had already passed.
  absl::Duration at_arrival;
  // The deadline and timeout for the downstream call.
  absl::Time forward_deadline;
  absl::Duration forwarded;
  // True when too little is left to be worth a downstream call: answer
  // DEADLINE_EXCEEDED at once.
  bool fail_fast = false;
  // True when this hop's own cap (see Plan()), not the caller's deadline,
  // set the forward deadline.
  bool capped = false;
};

// gRPC's timers and this process's clock may disagree by a fraction of a
// millisecond: whatever happens within this of a deadline happened at it.
inline constexpr absl::Duration kClockTolerance = absl::Milliseconds(1);

// Whether `at` is at `deadline` or past it, within kClockTolerance: say, a
// cancellation that arrived then is the deadline's, not the caller's.
inline bool AtOrPast(absl::Time deadline, absl::Time at) {
  return at >= deadline - kClockTolerance;
}

// Plans budgets, every rule of what a hop forwards in one place:
// forwarded = min(at_arrival - ArrivalSlack(at_arrival), max_deadline, cap)
// - reserve (default_deadline in place of the first without a deadline),
// and fail_fast when forwarded < min_budget. The slack comes
// off because the caller's real deadline may be that much earlier than the
// one that arrived: without it a 10 ms reserve would not hold from 1 to
// 10 s (the rounding), nor beyond about 300 ms (the HPACK reuse), and the
// hop would answer after its caller's timer. The reserve is then left for
// timer lag, transit and scheduling.
// Never overflows, whatever the caller's deadline.
// Thread-safe; `clock` must outlive the policy.
class BudgetPolicy {
 public:
  BudgetPolicy(const BudgetOptions& options, Clock& clock)
      : options_(options), clock_(clock) {}

  // `caller_deadline` is absl::InfiniteFuture() when the caller set none.
  // Plans from now, or from `arrived` (when the call arrived, by this
  // policy's clock). `cap` is this hop's own limit on how long the call may
  // last from its arrival (say, --max_stream_duration); when it comes
  // first, it sets the forward deadline (`capped`). A cap must exceed
  // reserve + min_budget, so that it never makes a call fail fast.
  Budget Plan(absl::Time caller_deadline) const;
  Budget Plan(absl::Time caller_deadline, absl::Time arrived,
              absl::Duration cap = absl::InfiniteDuration()) const;

  // The last moment at which a further call for `budget` (a hedge) is worth
  // starting: later, it would get less than min_budget.
  absl::Time LastStart(const Budget& budget) const {
    return budget.forward_deadline - options_.min_budget;
  }

  // Why `budget` fails fast, for the DEADLINE_EXCEEDED message, e.g.
  // "3ms left at arrival, less than the 10ms reserve + 5ms minimum", or
  // "... minimum + 1ms of arrival slack" when the slack is not zero.
  std::string ExplainFailFast(const Budget& budget) const;

  const BudgetOptions& options() const { return options_; }

 private:
  const BudgetOptions options_;
  Clock& clock_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_DEADLINE_BUDGET_H_
