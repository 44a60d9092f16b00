#ifndef DEADLINE_COMMON_TIMER_QUEUE_H_
#define DEADLINE_COMMON_TIMER_QUEUE_H_

#include <cstdint>
#include <map>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace deadline {

// Identifies a timer set with Clock::RunAt().
struct TimerId {
  absl::Time when;
  uint64_t sequence = 0;
};

// Timers in time order (equal times in the order they were added): the data
// structure behind Clock::RunAt() for both the real and the fake clock.
// Not thread-safe: its owner locks.
class TimerQueue {
 public:
  using Fn = absl::AnyInvocable<void()>;

  TimerId Add(absl::Time when, Fn fn) {
    const TimerId id{when, ++last_sequence_};
    timers_.emplace(Key{when, id.sequence}, std::move(fn));
    return id;
  }

  // True when the timer was waiting; it is gone, its function destroyed.
  bool Cancel(const TimerId& id) {
    return timers_.erase(Key{id.when, id.sequence}) > 0;
  }

  // The earliest timer's time, if any.
  absl::optional<absl::Time> NextDue() const {
    if (timers_.empty()) return absl::nullopt;
    return timers_.begin()->first.first;
  }

  // Removes and returns the earliest timer's function if it is due by `now`.
  absl::optional<Fn> PopDue(absl::Time now) {
    if (timers_.empty() || timers_.begin()->first.first > now) {
      return absl::nullopt;
    }
    Fn fn = std::move(timers_.begin()->second);
    timers_.erase(timers_.begin());
    return fn;
  }

  size_t size() const { return timers_.size(); }

 private:
  using Key = std::pair<absl::Time, uint64_t>;
  std::map<Key, Fn> timers_;
  uint64_t last_sequence_ = 0;
};

}  // namespace deadline

#endif  // DEADLINE_COMMON_TIMER_QUEUE_H_
