#include "common/fake_clock.h"

#include <algorithm>
#include <utility>

namespace deadline {

absl::Time FakeClock::Now() {
  absl::MutexLock lock(&mu_);
  return now_;
}

bool FakeClock::Step(absl::Time until) {
  absl::optional<TimerQueue::Fn> due;
  {
    absl::MutexLock lock(&mu_);
    const absl::optional<absl::Time> next = timers_.NextDue();
    if (!next.has_value() || *next > until) {
      now_ = std::max(now_, until);
      return false;
    }
    now_ = std::max(now_, *next);
    due = timers_.PopDue(now_);
  }
  (*due)();
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

TimerId FakeClock::RunAt(absl::Time when, absl::AnyInvocable<void()> fn) {
  absl::MutexLock lock(&mu_);
  return timers_.Add(when, std::move(fn));
}

bool FakeClock::CancelTimer(const TimerId& id) {
  absl::MutexLock lock(&mu_);
  return timers_.Cancel(id);
}

int FakeClock::pending_timers() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(timers_.size());
}

}  // namespace deadline
