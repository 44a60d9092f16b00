#include "common/clock.h"

#include <atomic>

#include "absl/time/clock.h"

namespace deadline {
namespace {

class SystemClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }

  bool SleepUntil(absl::Time until, const absl::Notification& wake) override {
    return wake.WaitForNotificationWithDeadline(until);
  }

  void SleepFor(absl::Duration d) override {
    if (d > absl::ZeroDuration()) absl::SleepFor(d);
  }

  void SpinFor(absl::Duration d) override {
    const absl::Time end = absl::Now() + d;
    // Reading the clock is itself cheap busy work (a vDSO call); the fence
    // keeps the compiler from folding the loop.
    while (absl::Now() < end) {
      std::atomic_signal_fence(std::memory_order_seq_cst);
    }
  }
};

}  // namespace

Clock& RealClock() {
  static SystemClock* const clock = new SystemClock();
  return *clock;
}

}  // namespace deadline
