#ifndef DEADLINE_SERVER_WORK_LOOP_H_
#define DEADLINE_SERVER_WORK_LOOP_H_

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "common/clock.h"

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
  // to the exit, or from the last check that saw the call alive to the exit
  // (an upper bound, since the moment of cancellation is not observable).
  // Zero when completed.
  absl::Duration stop_latency = absl::ZeroDuration();
};

// Runs `spec` under `deadline` (absl::InfiniteFuture() for none), polling
// `cancelled` and the clock at least every `check_interval`, so the loop
// exits within about `check_interval` of a cancellation and promptly at the
// deadline, even in the middle of a long step.
//
// Steps follow a fixed schedule (step i ends at start + (i + 1) * step), so a
// late wake-up does not stretch the total. When the deadline has already
// passed, or `cancelled` is already true, no step is done.
//
// Knows nothing of gRPC: a caller passes e.g. ServerContext::IsCancelled.
WorkResult RunWork(const WorkSpec& spec, absl::Time deadline,
                   absl::FunctionRef<bool()> cancelled, Clock& clock,
                   absl::Duration check_interval);

// Called after each finished step with the number of steps done so far;
// returning false stops the loop with StopReason::kAborted.
using StepCallback = absl::FunctionRef<bool(int steps_done)>;

// As above, calling `on_step` after each finished step (e.g. to stream
// progress). The time `on_step` takes counts against the schedule.
WorkResult RunWork(const WorkSpec& spec, absl::Time deadline,
                   absl::FunctionRef<bool()> cancelled, Clock& clock,
                   absl::Duration check_interval, StepCallback on_step);

}  // namespace deadline

#endif  // DEADLINE_SERVER_WORK_LOOP_H_
