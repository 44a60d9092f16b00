#include "server/work_loop.h"

#include <algorithm>

namespace deadline {

WorkResult RunWork(const WorkSpec& spec, absl::Time deadline,
                   absl::FunctionRef<bool()> cancelled, Clock& clock,
                   absl::Duration check_interval) {
  return RunWork(spec, deadline, cancelled, clock, check_interval,
                 [](int) { return true; });
}

WorkResult RunWork(const WorkSpec& spec, absl::Time deadline,
                   absl::FunctionRef<bool()> cancelled, Clock& clock,
                   absl::Duration check_interval, StepCallback on_step) {
  WorkResult result;
  const absl::Time start = clock.Now();
  const auto step_end = [&](int step) {
    return start + (step + 1) * spec.step;
  };
  absl::Time last_alive = start;
  for (;;) {
    // Ask for cancellation before reading the clock: gRPC also cancels a
    // call when its deadline passes, and this order lets the clock reading
    // that follows tell the two apart.
    const bool is_cancelled = cancelled();
    const absl::Time now = clock.Now();
    result.finished = now;
    if (now >= deadline) {
      result.reason = StopReason::kDeadline;
      result.stop_latency = now - deadline;
      return result;
    }
    if (is_cancelled) {
      result.reason = StopReason::kCancelled;
      result.stop_latency = now - last_alive;
      return result;
    }
    last_alive = now;
    while (result.steps_done < spec.steps &&
           now >= step_end(result.steps_done)) {
      ++result.steps_done;
      if (!on_step(result.steps_done)) {
        result.finished = clock.Now();
        result.reason = StopReason::kAborted;
        result.stop_latency = result.finished - last_alive;
        return result;
      }
    }
    if (result.steps_done == spec.steps) return result;

    const absl::Time wake =
        std::min({step_end(result.steps_done), deadline, now + check_interval});
    if (spec.spin) {
      clock.SpinFor(wake - now);
    } else {
      clock.SleepFor(wake - now);
    }
  }
}

}  // namespace deadline
