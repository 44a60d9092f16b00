#include "server/cancellation_watcher.h"

#include <utility>

namespace deadline {

CancellationWatcher::CancellationWatcher(absl::Duration interval, Clock& clock)
    : interval_(interval), clock_(clock), thread_([this] { Run(); }) {}

CancellationWatcher::~CancellationWatcher() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

std::unique_ptr<CancellationWatcher::Watch> CancellationWatcher::Add(
    std::function<bool()> is_cancelled, CancelSignal& signal) {
  absl::MutexLock lock(&mu_);
  entries_.push_front({std::move(is_cancelled), &signal, clock_.Now()});
  return std::unique_ptr<Watch>(new Watch(*this, entries_.begin()));
}

void CancellationWatcher::Remove(std::list<Entry>::iterator entry) {
  // Polling happens under mu_, so once this returns the entry is not asked
  // again.
  absl::MutexLock lock(&mu_);
  entries_.erase(entry);
}

void CancellationWatcher::Run() {
  mu_.Lock();
  for (;;) {
    // Sleep for free while there is nothing to watch.
    mu_.Await(absl::Condition(
        +[](CancellationWatcher* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(
             self->mu_) { return self->stopping_ || !self->entries_.empty(); },
        this));
    if (stopping_) break;
    const absl::Time now = clock_.Now();
    for (Entry& entry : entries_) {
      if (entry.signal->cancelled()) continue;
      if (entry.is_cancelled()) {
        entry.signal->Cancel(entry.alive_at);
      } else {
        entry.alive_at = now;
      }
    }
    mu_.Unlock();
    clock_.SleepFor(interval_);
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace deadline
