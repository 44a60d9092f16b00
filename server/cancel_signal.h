#ifndef DEADLINE_SERVER_CANCEL_SIGNAL_H_
#define DEADLINE_SERVER_CANCEL_SIGNAL_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace deadline {

// One call's "the caller has gone" signal: the C++ twin of a Go context's
// Done channel. Set once, by whoever learns it (a CancellationWatcher, a
// test); a work loop polls cancelled() or sleeps on done(), which wakes the
// moment Cancel() is called. Thread-safe.
class CancelSignal {
 public:
  // Marks the call cancelled and wakes whoever sleeps on done(). Only the
  // first call counts. `alive_at` is the last time the caller was known to be
  // still waiting, so that stop latency can be bounded from above.
  void Cancel(absl::Time alive_at) {
    absl::MutexLock lock(&mu_);
    if (done_.HasBeenNotified()) return;
    alive_at_ = alive_at;
    done_.Notify();
  }

  bool cancelled() const { return done_.HasBeenNotified(); }

  // The `alive_at` given to Cancel(); meaningful once cancelled().
  absl::Time alive_at() const {
    absl::MutexLock lock(&mu_);
    return alive_at_;
  }

  const absl::Notification& done() const { return done_; }

 private:
  mutable absl::Mutex mu_;
  absl::Time alive_at_ ABSL_GUARDED_BY(mu_);
  absl::Notification done_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_CANCEL_SIGNAL_H_
