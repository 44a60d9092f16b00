#ifndef DEADLINE_SERVER_DEADLINE_CANCEL_SIGNAL_H_
#define DEADLINE_SERVER_DEADLINE_CANCEL_SIGNAL_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/deadline/work_loop.h"

namespace deadline {

// One call's "the caller has gone" signal, for APIs that cannot tell a work
// loop themselves (the sync server, where a CancellationWatcher sets it): the
// C++ twin of a Go context's Done channel. Set once, by whoever learns it; a
// work loop asks it as its Caller and sleeps on it, waking the moment
// Cancel() is called. Thread-safe; `clock` must outlive it.
class CancelSignal final : public Caller {
 public:
  explicit CancelSignal(Clock& clock = RealClock()) : clock_(clock) {}

  // Marks the call cancelled and wakes whoever waits. Only the first call
  // counts. `alive_at` is the last time the caller was known to be still
  // waiting, so that stop latency can be bounded from above.
  void Cancel(absl::Time alive_at) {
    absl::MutexLock lock(&mu_);
    if (done_.HasBeenNotified()) return;
    alive_at_ = alive_at;
    heard_at_ = clock_.Now();
    done_.Notify();
  }

  bool cancelled() const { return done_.HasBeenNotified(); }

  // The `alive_at` given to Cancel(); meaningful once cancelled().
  absl::Time alive_at() const {
    absl::MutexLock lock(&mu_);
    return alive_at_;
  }

  // When Cancel() came; meaningful once cancelled().
  absl::Time heard_at() const {
    absl::MutexLock lock(&mu_);
    return heard_at_;
  }

  const absl::Notification& done() const { return done_; }

  // Caller:
  bool IsCancelled() override { return cancelled(); }
  void WaitUntil(absl::Time until) override { clock_.SleepUntil(until, done_); }
  absl::Time LastSeenWaiting() override {
    return cancelled() ? alive_at() : absl::InfinitePast();
  }

 private:
  Clock& clock_;
  mutable absl::Mutex mu_;
  absl::Time alive_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time heard_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Notification done_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_DEADLINE_CANCEL_SIGNAL_H_
