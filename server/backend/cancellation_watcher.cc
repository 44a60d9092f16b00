#include "server/backend/cancellation_watcher.h"

#include <algorithm>
#include <utility>

namespace deadline {
namespace {

// The share of each interval spent asking.
constexpr int kBudgetDivisor = 10;

}  // namespace

CancellationWatcher::CancellationWatcher(absl::Duration interval, Clock& clock)
    : interval_(interval), clock_(clock) {
  {
    absl::MutexLock lock(&mu_);
    next_ = entries_.end();
  }
  thread_ = std::thread([this] { Run(); });
}

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
  // New calls go to the back: each waits its turn behind the older ones.
  const Entries::iterator entry = entries_.insert(
      entries_.end(), Entry{std::move(is_cancelled), &signal, clock_.Now()});
  return std::unique_ptr<Watch>(new Watch(*this, entry));
}

void CancellationWatcher::Remove(Entries::iterator entry) {
  // Asking happens under mu_, so once this returns the entry is not asked
  // again.
  absl::MutexLock lock(&mu_);
  if (next_ == entry) ++next_;
  entries_.erase(entry);
}

absl::Duration CancellationWatcher::AskSome() {
  const absl::Time start = clock_.Now();
  const absl::Time budget_end = start + interval_ / kBudgetDivisor;
  for (size_t asked = 0; asked < entries_.size(); ++asked) {
    if (next_ == entries_.end()) next_ = entries_.begin();
    Entry& entry = *next_++;
    if (!entry.signal->cancelled()) {
      const absl::Time now = clock_.Now();
      if (entry.is_cancelled()) {
        entry.signal->Cancel(entry.alive_at);
      } else {
        entry.alive_at = now;
      }
    }
    if (clock_.Now() >= budget_end) break;
  }
  return clock_.Now() - start;
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
    const absl::Duration spent = AskSome();
    mu_.Unlock();
    // At least one call is asked per round, however short the interval:
    // sleep long enough that asking stays within the budget.
    clock_.SleepFor(std::max(interval_, (kBudgetDivisor - 1) * spent));
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace deadline
