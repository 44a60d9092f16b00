#ifndef DEADLINE_COMMON_CLOCK_H_
#define DEADLINE_COMMON_CLOCK_H_

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace deadline {

// The source of time and of waiting for everything that follows a budget.
// Production code uses RealClock(); tests inject a FakeClock and run budget
// and work-loop logic without sleeping.
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
};

// The process-wide real clock. Never null, never destroyed.
Clock& RealClock();

}  // namespace deadline

#endif  // DEADLINE_COMMON_CLOCK_H_
