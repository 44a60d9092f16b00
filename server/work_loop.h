#ifndef DEADLINE_SERVER_WORK_LOOP_H_
#define DEADLINE_SERVER_WORK_LOOP_H_

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/cancel_signal.h"

namespace deadline {

// What to do: `steps` steps of `step` each, waiting idle or keeping a CPU busy.
struct WorkSpec {
  int steps = 0;
  absl::Duration step = absl::ZeroDuration();
  bool spin = false;  // true: CPU-bound; false: sleep-like.
};

enum class StopReason {
  kCompleted,  // Every step was done.
  kDeadline,   // The deadline passed first.
  kCancelled,  // The caller cancelled first.
  kAborted,    // The step callback asked to stop (e.g. its stream broke).
};

struct WorkResult {
  int steps_done = 0;
  StopReason reason = StopReason::kCompleted;
  // When the loop exited.
  absl::Time finished;
  // How long the loop ran on after it should have stopped: from the deadline
  // to the exit, or from the last moment the caller was known to be waiting
  // to the exit (an upper bound: the moment of cancellation itself is not
  // observable). Zero when completed.
  absl::Duration stop_latency = absl::ZeroDuration();
};

// Called after each finished step with the number of steps done so far;
// returning false stops the loop with StopReason::kAborted.
using StepCallback = absl::FunctionRef<bool(int steps_done)>;

// Runs `spec` until it is done, `deadline` passes (absl::InfiniteFuture()
// for none) or `cancel` is set, whichever comes first, calling `on_step`
// after each finished step (its time counts against the schedule).
//
// Sleep-like steps sleep on `cancel` until the step's end or the deadline,
// so they stop the moment either comes. CPU-bound steps check `cancel` and
// the clock every `spin_check_interval`. Steps follow a fixed schedule (step
// i ends at start + (i + 1) * step), so a late wake-up does not stretch the
// total. When the deadline has passed or `cancel` is set already, no step is
// done.
//
// Knows nothing of gRPC: the caller sets `cancel` when it learns the caller
// has gone (see CancellationWatcher).
WorkResult RunWork(
    const WorkSpec& spec, absl::Time deadline, const CancelSignal& cancel,
    Clock& clock, absl::Duration spin_check_interval,
    StepCallback on_step = [](int) { return true; });

}  // namespace deadline

#endif  // DEADLINE_SERVER_WORK_LOOP_H_
