#ifndef DEADLINE_SERVER_DEADLINE_WORK_LOOP_H_
#define DEADLINE_SERVER_DEADLINE_WORK_LOOP_H_

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

// Steps follow a fixed schedule from `start`: step i (0-based) ends at
// start + (i + 1) * step, so a late wake-up does not stretch the total.
absl::Time StepEnd(const WorkSpec& spec, absl::Time start, int step);
// The steps whose end has come by `now`, at most spec.steps.
int StepsDoneBy(const WorkSpec& spec, absl::Time start, absl::Time now);

enum class StopReason {
  kCompleted,  // Every step was done.
  kDeadline,   // The deadline passed first.
  kCancelled,  // The caller cancelled first.
  kAborted,    // The step callback asked to stop (e.g. its stream broke).
};

struct WorkResult {
  int steps_done = 0;
  StopReason reason = StopReason::kCompleted;
  // When the work stopped.
  absl::Time finished;
  // How long the work ran on after it should have stopped: from the deadline
  // to the stop, or from the last moment the caller was known to be waiting
  // to the stop (an upper bound: the moment of cancellation itself is not
  // observable). Zero when completed.
  absl::Duration stop_latency = absl::ZeroDuration();
};

// The work loop's view of its caller, asked at every check. In the callback
// API the call's reactor is one, over its own ServerContext, whose
// IsCancelled() is cheap (an atomic load and an uncontended mutex); in the
// sync API a CancelSignal that a watcher sets (cancel_signal.h).
class Caller {
 public:
  virtual ~Caller() = default;
  // Whether the caller has gone: it cancelled, its deadline passed, or the
  // server is shutting down. Asked at every check, so it must be cheap.
  virtual bool IsCancelled() = 0;
  // Waits until `until`, or less when the caller goes first (sleep-like
  // steps run on a thread).
  virtual void WaitUntil(absl::Time until) = 0;
  // The last moment the caller is known to have been waiting, when the
  // caller knows better than the loop's own checks (say, a watcher asks on
  // the loop's behalf); InfinitePast() when it does not.
  virtual absl::Time LastSeenWaiting() { return absl::InfinitePast(); }
};

// Called after each finished step with the number of steps done so far;
// returning false stops the loop with StopReason::kAborted.
using StepCallback = absl::FunctionRef<bool(int steps_done)>;

// Runs `spec` on the calling thread until it is done, `deadline` passes
// (absl::InfiniteFuture() for none) or `caller` goes, whichever comes first,
// calling `on_step` after each finished step (its time counts against the
// schedule).
//
// CPU-bound steps check caller.IsCancelled() and the clock at least every
// `check_interval`. Sleep-like steps wait in caller.WaitUntil() for the
// step's end or the deadline. When the deadline has passed or the caller
// has gone already, no step is done. Knows nothing of gRPC.
WorkResult RunWork(
    const WorkSpec& spec, absl::Time deadline, Caller& caller, Clock& clock,
    absl::Duration check_interval,
    StepCallback on_step = [](int) { return true; });

}  // namespace deadline

#endif  // DEADLINE_SERVER_DEADLINE_WORK_LOOP_H_
