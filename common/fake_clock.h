#ifndef DEADLINE_COMMON_FAKE_CLOCK_H_
#define DEADLINE_COMMON_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/timer_queue.h"

namespace deadline {

// A Clock whose time moves only when told to: Advance(), and the waits
// (SleepUntil, SleepFor, SpinFor), which move it forward at once instead of
// waiting. Timers (RunAt) run when time reaches them, on the thread that
// moves time, and a SleepUntil woken by one stops at that moment, so a test
// can say "the caller cancels 7.25 ms in" and check what the code did then.
// Thread-safe; timers run outside the lock.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : now_(start) {}

  absl::Time Now() override;
  bool SleepUntil(absl::Time until, const absl::Notification& wake) override;
  void SleepFor(absl::Duration d) override { Advance(d); }
  void SpinFor(absl::Duration d) override { Advance(d); }
  TimerId RunAt(absl::Time when, absl::AnyInvocable<void()> fn) override;
  bool CancelTimer(const TimerId& id) override;

  // Moves time forward by `d` (negative values are ignored), running the
  // timers that fall due on the way.
  void Advance(absl::Duration d);

  // Timers set and not yet run or cancelled.
  int pending_timers();

 private:
  // Runs the next timer due by `until`, moving time to it, and returns
  // true; or, when none is due, moves time to `until` and returns false.
  bool Step(absl::Time until);

  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  TimerQueue timers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace deadline

#endif  // DEADLINE_COMMON_FAKE_CLOCK_H_
