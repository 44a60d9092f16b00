#include "server/deadline/work_loop.h"

#include <algorithm>

namespace deadline {

absl::Time StepEnd(const WorkSpec& spec, absl::Time start, int step) {
  return start + (step + 1) * spec.step;
}

int StepsDoneBy(const WorkSpec& spec, absl::Time start, absl::Time now) {
  if (spec.step <= absl::ZeroDuration()) return spec.steps;
  if (now < start) return 0;
  // Both are at most 5 minutes apart (see WorkLimits): the quotient fits.
  const int64_t done = (now - start) / spec.step;
  return static_cast<int>(std::min<int64_t>(done, spec.steps));
}

WorkResult RunWork(const WorkSpec& spec, absl::Time deadline, Caller& caller,
                   Clock& clock, absl::Duration check_interval,
                   StepCallback on_step) {
  WorkResult result;
  const absl::Time start = clock.Now();
  absl::Time seen_waiting = start;
  const auto stop = [&](StopReason reason, absl::Time now,
                        absl::Duration latency) {
    result.reason = reason;
    result.finished = now;
    result.stop_latency = std::max(latency, absl::ZeroDuration());
    return result;
  };
  for (;;) {
    // Ask the caller before the clock: if the caller's cancellation came
    // from its deadline, the clock reading that follows tells so.
    const bool cancelled = caller.IsCancelled();
    const absl::Time now = clock.Now();
    if (now >= deadline) {
      return stop(StopReason::kDeadline, now, now - deadline);
    }
    if (cancelled) {
      return stop(StopReason::kCancelled, now,
                  now - std::max(seen_waiting, caller.LastSeenWaiting()));
    }
    seen_waiting = now;
    while (result.steps_done < spec.steps &&
           now >= StepEnd(spec, start, result.steps_done)) {
      ++result.steps_done;
      if (!on_step(result.steps_done)) {
        const absl::Time after = clock.Now();
        return stop(StopReason::kAborted, after, after - now);
      }
    }
    if (result.steps_done == spec.steps) {
      return stop(StopReason::kCompleted, now, absl::ZeroDuration());
    }

    const absl::Time wake =
        std::min(StepEnd(spec, start, result.steps_done), deadline);
    if (spec.spin) {
      clock.SpinFor(std::min(wake - now, check_interval));
    } else {
      caller.WaitUntil(wake);
    }
  }
}

}  // namespace deadline
