#include "server/work_loop.h"

#include <algorithm>

namespace deadline {

WorkResult RunWork(const WorkSpec& spec, absl::Time deadline,
                   const CancelSignal& cancel, Clock& clock,
                   absl::Duration spin_check_interval, StepCallback on_step) {
  WorkResult result;
  const absl::Time start = clock.Now();
  const auto step_end = [&](int step) {
    return start + (step + 1) * spec.step;
  };
  const auto stop = [&](StopReason reason, absl::Time now,
                        absl::Duration latency) {
    result.reason = reason;
    result.finished = now;
    result.stop_latency = std::max(latency, absl::ZeroDuration());
    return result;
  };
  for (;;) {
    // Look at the signal before the clock: if the caller's cancellation came
    // from its deadline, the clock reading that follows tells so.
    const bool cancelled = cancel.cancelled();
    const absl::Time now = clock.Now();
    if (now >= deadline) {
      return stop(StopReason::kDeadline, now, now - deadline);
    }
    if (cancelled) {
      return stop(StopReason::kCancelled, now, now - cancel.alive_at());
    }
    while (result.steps_done < spec.steps &&
           now >= step_end(result.steps_done)) {
      ++result.steps_done;
      if (!on_step(result.steps_done)) {
        const absl::Time after = clock.Now();
        return stop(StopReason::kAborted, after, after - now);
      }
    }
    if (result.steps_done == spec.steps) {
      return stop(StopReason::kCompleted, now, absl::ZeroDuration());
    }

    const absl::Time wake = std::min(step_end(result.steps_done), deadline);
    if (spec.spin) {
      clock.SpinFor(std::min(wake - now, spin_check_interval));
    } else {
      clock.SleepUntil(wake, cancel.done());
    }
  }
}

}  // namespace deadline
