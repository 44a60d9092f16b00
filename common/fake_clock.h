#ifndef DEADLINE_COMMON_FAKE_CLOCK_H_
#define DEADLINE_COMMON_FAKE_CLOCK_H_

#include <functional>
#include <map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace deadline {

// A Clock whose time moves only when told to: Advance(), and the waits
// (SleepUntil, SleepFor, SpinFor), which move it forward at once instead of
// waiting. Events scheduled with At() run when time reaches them, and a
// SleepUntil woken by one stops at that moment, so a test can say "the
// caller cancels 7.25 ms in" and check what the code did then.
// Thread-safe; events run on the thread that moves time, outside the lock.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : now_(start) {}

  absl::Time Now() override;
  bool SleepUntil(absl::Time until, const absl::Notification& wake) override;
  void SleepFor(absl::Duration d) override { Advance(d); }
  void SpinFor(absl::Duration d) override { Advance(d); }

  // Moves time forward by `d` (negative values are ignored), running the
  // events that fall due on the way.
  void Advance(absl::Duration d);

  // Runs `event` once time reaches `when`.
  void At(absl::Time when, std::function<void()> event);

 private:
  // Runs the next event due by `until`, moving time to it, and returns
  // true; or, when none is due, moves time to `until` and returns false.
  bool Step(absl::Time until);

  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, std::function<void()>> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace deadline

#endif  // DEADLINE_COMMON_FAKE_CLOCK_H_
