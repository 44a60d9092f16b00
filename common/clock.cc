#include "common/clock.h"

#include <atomic>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/timer_queue.h"

namespace deadline {
namespace {

// One thread that runs every timer of the process, in time order.
class TimerThread {
 public:
  TimerThread() : thread_([this] { Run(); }) { thread_.detach(); }

  TimerId Add(absl::Time when, TimerQueue::Fn fn) {
    absl::MutexLock lock(&mu_);
    const absl::optional<absl::Time> before = timers_.NextDue();
    const TimerId id = timers_.Add(when, std::move(fn));
    // Wake the thread only when the new timer comes first.
    if (!before.has_value() || when < *before) changed_ = true;
    return id;
  }

  bool Cancel(const TimerId& id) {
    absl::MutexLock lock(&mu_);
    return timers_.Cancel(id);
  }

 private:
  void Run() {
    absl::MutexLock lock(&mu_);
    for (;;) {
      const absl::optional<absl::Time> next = timers_.NextDue();
      changed_ = false;
      if (!next.has_value()) {
        mu_.Await(absl::Condition(&changed_));
        continue;
      }
      absl::optional<TimerQueue::Fn> due = timers_.PopDue(absl::Now());
      if (!due.has_value()) {
        mu_.AwaitWithDeadline(absl::Condition(&changed_), *next);
        continue;
      }
      mu_.Unlock();
      (*due)();
      due.reset();  // Destroy what the function captured outside the lock.
      mu_.Lock();
    }
  }

  absl::Mutex mu_;
  TimerQueue timers_ ABSL_GUARDED_BY(mu_);
  bool changed_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

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

  TimerId RunAt(absl::Time when, absl::AnyInvocable<void()> fn) override {
    return Timers().Add(when, std::move(fn));
  }

  bool CancelTimer(const TimerId& id) override { return Timers().Cancel(id); }

 private:
  // Started on first use, so processes that set no timer have no thread.
  static TimerThread& Timers() {
    static TimerThread* const timers = new TimerThread();
    return *timers;
  }
};

}  // namespace

Clock& RealClock() {
  static SystemClock* const clock = new SystemClock();
  return *clock;
}

}  // namespace deadline
