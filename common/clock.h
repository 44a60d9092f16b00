#ifndef DEADLINE_COMMON_CLOCK_H_
#define DEADLINE_COMMON_CLOCK_H_

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/timer_queue.h"

namespace deadline {

// The source of time and of waiting for everything that follows a budget.
// Production code uses RealClock(); tests inject a FakeClock and run budget,
// work-loop and timer logic without sleeping.
//
// Now() is wall-clock time, because gRPC deadlines are absolute wall-clock
// times; budgets are differences of two Now() readings.
//
// Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() = 0;

  // Waits without using the CPU until `until`, or until `wake` is notified,
  // whichever comes first; returns whether `wake` was notified. The C++ twin
  // of Go's `select { case <-ctx.Done(): case <-time.After(d): }`.
  virtual bool SleepUntil(absl::Time until, const absl::Notification& wake) = 0;

  // Waits for about `d` without using the CPU (d <= 0 returns at once).
  virtual void SleepFor(absl::Duration d) = 0;

  // Keeps one CPU busy for about `d` (d <= 0 returns at once).
  virtual void SpinFor(absl::Duration d) = 0;

  // Waiting without a thread: runs `fn` once, at `when` or just after, unless
  // CancelTimer() gets to it first. Timers run one at a time, in time order,
  // on the clock's timer thread (the real clock has one for the whole
  // process; the fake clock runs them on the thread that moves time), so
  // `fn` must be quick and must never block.
  virtual TimerId RunAt(absl::Time when, absl::AnyInvocable<void()> fn) = 0;

  // Stops a timer that has not started: true when it will now never run
  // (and its function has been destroyed); false when it has run, is
  // running, or was cancelled before. Never waits for a running timer.
  virtual bool CancelTimer(const TimerId& id) = 0;
};

// The process-wide real clock. Never null, never destroyed.
Clock& RealClock();

}  // namespace deadline

#endif  // DEADLINE_COMMON_CLOCK_H_
