#ifndef DEADLINE_SERVER_BACKEND_CANCELLATION_WATCHER_H_
#define DEADLINE_SERVER_BACKEND_CANCELLATION_WATCHER_H_

#include <functional>
#include <list>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/deadline/cancel_signal.h"

namespace deadline {

// Turns "is this call cancelled?" questions into CancelSignals, for APIs that
// can only be asked, like the sync gRPC server's ServerContext::IsCancelled().
//
// Asking is not free: in the sync API, IsCancelled() polls the call's
// completion queue, a system call (~17 us measured, see bench/). So one
// thread asks on behalf of every call in flight, in turn, once per
// `interval`, spending at most a tenth of each interval doing so (at least
// one call per round), and cancels the signal of each call that says yes: a
// work loop sleeping on it wakes at once. With few calls in flight each is
// asked every interval; with many, each is asked as often as the budget of
// a tenth of a core allows (about every N x 17 us x 10), so the cost stays
// bounded instead of growing with the number of calls. Deadlines need none of
// this: work loops wake at their deadline on their own. The thread sleeps while
// nothing is watched.
//
// Thread-safe.
class CancellationWatcher {
 public:
  explicit CancellationWatcher(absl::Duration interval,
                               Clock& clock = RealClock());
  CancellationWatcher(const CancellationWatcher&) = delete;
  CancellationWatcher& operator=(const CancellationWatcher&) = delete;
  // Joins the thread; every Watch must be gone.
  ~CancellationWatcher();

  class Watch;

  // Asks `is_cancelled`, from the watcher's thread, until it says yes (then
  // calls signal.Cancel() with the time of the last "no") or the returned
  // Watch is destroyed. After the Watch's destructor returns, `is_cancelled`
  // is not called again; until then it and `signal` must stay valid.
  std::unique_ptr<Watch> Add(std::function<bool()> is_cancelled,
                             CancelSignal& signal);

 private:
  struct Entry {
    std::function<bool()> is_cancelled;
    CancelSignal* signal;
    absl::Time alive_at;
  };
  using Entries = std::list<Entry>;

  void Run();
  // Asks calls in turn, from `next_`, until all were asked once or the
  // round's time budget is spent; returns the time spent.
  absl::Duration AskSome() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Remove(Entries::iterator entry);

  const absl::Duration interval_;
  Clock& clock_;
  absl::Mutex mu_;
  Entries entries_ ABSL_GUARDED_BY(mu_);
  // The next entry to ask; entries_.end() means the front.
  Entries::iterator next_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Keeps a call watched while it lives.
class CancellationWatcher::Watch {
 public:
  ~Watch() { watcher_.Remove(entry_); }

 private:
  friend class CancellationWatcher;
  Watch(CancellationWatcher& watcher, Entries::iterator entry)
      : watcher_(watcher), entry_(entry) {}

  CancellationWatcher& watcher_;
  const Entries::iterator entry_;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_BACKEND_CANCELLATION_WATCHER_H_
