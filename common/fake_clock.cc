#include "common/fake_clock.h"

#include <utility>

namespace deadline {

absl::Time FakeClock::Now() {
  absl::MutexLock lock(&mu_);
  return now_;
}

void FakeClock::Advance(absl::Duration d) {
  absl::Time now;
  std::function<void(absl::Time)> hook;
  {
    absl::MutexLock lock(&mu_);
    if (d > absl::ZeroDuration()) now_ += d;
    now = now_;
    hook = hook_;
  }
  if (hook) hook(now);
}

void FakeClock::OnAdvance(std::function<void(absl::Time)> hook) {
  absl::MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

}  // namespace deadline
