#include "common/fake_clock.h"

#include <algorithm>
#include <utility>

namespace deadline {

absl::Time FakeClock::Now() {
  absl::MutexLock lock(&mu_);
  return now_;
}

bool FakeClock::Step(absl::Time until) {
  std::function<void()> event;
  {
    absl::MutexLock lock(&mu_);
    if (events_.empty() || events_.begin()->first > until) {
      now_ = std::max(now_, until);
      return false;
    }
    now_ = std::max(now_, events_.begin()->first);
    event = std::move(events_.begin()->second);
    events_.erase(events_.begin());
  }
  event();
  return true;
}

void FakeClock::Advance(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return;
  const absl::Time until = Now() + d;
  while (Step(until)) {
  }
}

bool FakeClock::SleepUntil(absl::Time until, const absl::Notification& wake) {
  while (!wake.HasBeenNotified()) {
    if (!Step(until)) return wake.HasBeenNotified();
  }
  return true;
}

void FakeClock::At(absl::Time when, std::function<void()> event) {
  absl::MutexLock lock(&mu_);
  events_.emplace(when, std::move(event));
}

}  // namespace deadline
