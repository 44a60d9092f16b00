#ifndef DEADLINE_COMMON_FAKE_CLOCK_H_
#define DEADLINE_COMMON_FAKE_CLOCK_H_

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace deadline {

// A Clock whose time moves only when told to: Advance(), SleepFor() and
// SpinFor() all move it forward at once, without waiting. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : now_(start) {}

  absl::Time Now() override;
  void SleepFor(absl::Duration d) override { Advance(d); }
  void SpinFor(absl::Duration d) override { Advance(d); }

  // Moves time forward by `d` (negative values are ignored).
  void Advance(absl::Duration d);

  // Runs `hook` after every Advance(), with the new time, outside the lock.
  // Lets a test make things happen at a given moment (e.g. cancel the call).
  void OnAdvance(std::function<void(absl::Time)> hook);

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::function<void(absl::Time)> hook_ ABSL_GUARDED_BY(mu_);
};

}  // namespace deadline

#endif  // DEADLINE_COMMON_FAKE_CLOCK_H_
