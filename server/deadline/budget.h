#ifndef DEADLINE_SERVER_DEADLINE_BUDGET_H_
#define DEADLINE_SERVER_DEADLINE_BUDGET_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
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
  // Whether to plan from a caller's absolute deadline too (deadline-at, see
  // common/deadline_at.h), where it is to be trusted; false: from gRPC's
  // relative timeout alone.
  bool absolute_deadline = true;
  // How far this host's clock may be from its callers': with hosts kept in
  // sync by NTP, a few milliseconds at most. At most the reserve, so that a
  // deadline-at read that much late is still answered in time.
  absl::Duration clock_skew = absl::Milliseconds(2);
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

// What a call brings with it about its deadline.
struct CallerDeadline {
  CallerDeadline() = default;
  // A caller that sent grpc-timeout alone. Implicit: such a deadline is
  // what most code has in hand.
  CallerDeadline(absl::Time relative) : relative(relative) {}  // NOLINT

  // gRPC's: the relative timeout (grpc-timeout), counted from when this hop
  // read the call; InfiniteFuture() when the caller set none.
  absl::Time relative = absl::InfiniteFuture();
  // The caller's absolute deadline and when it sent the call (deadline-at,
  // deadline-sent-at), if it sent them; `malformed` when one did not parse.
  absl::optional<absl::Time> at;
  absl::optional<absl::Time> sent_at;
  bool malformed = false;
};

// Which deadline a budget was planned from.
enum class DeadlineFrom {
  kNone,      // The caller set none: the default applies.
  kRelative,  // grpc-timeout.
  kAbsolute,  // deadline-at, the earlier of the two.
};
// "grpc-timeout", "deadline-at", or "" for none: a literal.
absl::string_view DeadlineFromName(DeadlineFrom from);

// One call's budget, as planned at its arrival.
struct Budget {
  // Time left until the caller's deadline; InfiniteDuration() when the
  // caller set none; negative when it had already passed.
  absl::Duration at_arrival;
  // The caller's deadline, as this hop takes it; InfiniteFuture() for none.
  absl::Time deadline = absl::InfiniteFuture();
  DeadlineFrom from = DeadlineFrom::kNone;
  // A deadline-at was sent and not trusted (see Plan()).
  bool deadline_at_ignored = false;
  // The caller's deadline-at had passed, beyond the allowed skew, when the
  // call arrived: by this much. It fails fast.
  absl::optional<absl::Duration> arrived_late;
  // From the caller's send (deadline-sent-at) to this hop's reading the
  // call: time on the wire and waiting to be read. Known with a trusted
  // deadline-at.
  absl::optional<absl::Duration> arrival_delay;
  // What came off at_arrival for what the wire may have added to it
  // (ArrivalSlack), when planned from the relative deadline.
  absl::Duration slack = absl::ZeroDuration();
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
// and fail_fast when forwarded < min_budget.
//
// With a caller's absolute deadline (CallerDeadline::at) that can be
// trusted, the caller's deadline is min(relative, at + clock_skew), and no
// arrival slack comes off: the absolute deadline is exact, up to the clocks'
// skew, whatever the wire did to the relative one, and it counts the time a
// call waited to be read. It is not trusted, and the relative deadline
// alone rules (as for a caller that sends none), when absolute_deadline is
// off, an entry did not parse, or it is beyond max_deadline from the
// arrival, later than the relative deadline, or sent (deadline-sent-at)
// from a clock ahead of this one, by more than the skew: it never
// lengthens a budget. A trusted deadline-at that has passed by more than
// the skew fails fast (arrived_late): the work would be for nobody. A
// caller whose clock is behind this host's by more than the skew looks
// like a call that waited that long: --clock_skew is a promise about the
// hosts' clocks.
// Planned from the relative deadline alone, the slack comes off because
// the caller's real deadline may be that much earlier than the one that
// arrived: without it a 10 ms reserve would not hold from 1 to 10 s (the
// rounding), nor beyond about 300 ms (the HPACK reuse), and the hop would
// answer after its caller's timer. The reserve is then left for timer lag,
// transit and scheduling.
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
  Budget Plan(const CallerDeadline& caller, absl::Time arrived,
              absl::Duration cap = absl::InfiniteDuration()) const;

  // The last moment at which a further call for `budget` (a hedge) is worth
  // starting: later, it would get less than min_budget.
  absl::Time LastStart(const Budget& budget) const {
    return budget.forward_deadline - options_.min_budget;
  }

  // Why `budget` fails fast, for the DEADLINE_EXCEEDED message, e.g.
  // "3ms left at arrival, less than the 10ms reserve + 5ms minimum", or
  // "... minimum + 1ms of arrival slack" when the slack is not zero, or
  // "arrived 88ms after its caller's deadline (deadline-at)".
  std::string ExplainFailFast(const Budget& budget) const;

  const BudgetOptions& options() const { return options_; }

 private:
  const BudgetOptions options_;
  Clock& clock_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_DEADLINE_BUDGET_H_
