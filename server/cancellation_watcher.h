#ifndef DEADLINE_SERVER_CANCELLATION_WATCHER_H_
#define DEADLINE_SERVER_CANCELLATION_WATCHER_H_

#include <functional>
#include <list>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/cancel_signal.h"

namespace deadline {

// Turns "is this call cancelled?" questions into CancelSignals, for APIs that
// can only be asked, like the sync gRPC server's ServerContext::IsCancelled().
//
// One thread asks every watched call once per `interval` and cancels the
// signal of each call that says yes, so a sleeping work loop wakes at once.
// This costs one wake-up per interval for the whole server, where each call
// polling for itself would cost one per call per interval: with thousands of
// calls in flight, that difference is the machine's CPU. The thread sleeps
// while nothing is watched.
//
// Thread-safe. Stop latency is at most `interval` plus a wake-up.
class CancellationWatcher {
 public:
  explicit CancellationWatcher(absl::Duration interval,
                               Clock& clock = RealClock());
  CancellationWatcher(const CancellationWatcher&) = delete;
  CancellationWatcher& operator=(const CancellationWatcher&) = delete;
  // Joins the thread; every Watch must be gone.
  ~CancellationWatcher();

  class Watch;

  // Asks `is_cancelled` every interval, from the watcher's thread, until it
  // says yes (then calls signal.Cancel() with the time of the last "no") or
  // the returned Watch is destroyed. After the Watch's destructor returns,
  // `is_cancelled` is not called again; until then it and `signal` must stay
  // valid.
  std::unique_ptr<Watch> Add(std::function<bool()> is_cancelled,
                             CancelSignal& signal);

 private:
  struct Entry {
    std::function<bool()> is_cancelled;
    CancelSignal* signal;
    absl::Time alive_at;
  };

  void Run();
  void Remove(std::list<Entry>::iterator entry);

  const absl::Duration interval_;
  Clock& clock_;
  absl::Mutex mu_;
  std::list<Entry> entries_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Keeps a call watched while it lives.
class CancellationWatcher::Watch {
 public:
  ~Watch() { watcher_.Remove(entry_); }

 private:
  friend class CancellationWatcher;
  Watch(CancellationWatcher& watcher, std::list<Entry>::iterator entry)
      : watcher_(watcher), entry_(entry) {}

  CancellationWatcher& watcher_;
  const std::list<Entry>::iterator entry_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_CANCELLATION_WATCHER_H_
