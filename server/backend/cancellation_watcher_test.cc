#include "server/backend/cancellation_watcher.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/fake_clock.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

// These use real time: the watcher is a thread. Bounds are generous.

TEST(CancellationWatcherTest, CancelsTheSignalOfACallThatSaysYes) {
  CancellationWatcher watcher(absl::Microseconds(500));
  std::atomic<bool> gone{false};
  CancelSignal signal;
  auto watch = watcher.Add([&] { return gone.load(); }, signal);
  absl::SleepFor(absl::Milliseconds(5));
  EXPECT_FALSE(signal.cancelled());

  const absl::Time before = absl::Now();
  gone = true;
  // done() wakes a sleeper as soon as the watcher notices.
  EXPECT_TRUE(signal.done().WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_LT(absl::Now() - before, absl::Seconds(1));
  // The last time the call said "no" is just before it said "yes".
  EXPECT_LE(signal.alive_at(), absl::Now());
  EXPECT_GT(signal.alive_at(), before - absl::Seconds(1));
}

TEST(CancellationWatcherTest, WatchesManyCallsIndependently) {
  CancellationWatcher watcher(absl::Microseconds(500));
  constexpr int kCalls = 200;
  std::vector<std::atomic<bool>> gone(kCalls);
  std::vector<CancelSignal> signals(kCalls);
  std::vector<std::unique_ptr<CancellationWatcher::Watch>> watches;
  for (int i = 0; i < kCalls; ++i) {
    watches.push_back(
        watcher.Add([&gone, i] { return gone[i].load(); }, signals[i]));
  }
  for (int i = 0; i < kCalls; i += 2) gone[i] = true;
  for (int i = 0; i < kCalls; i += 2) {
    EXPECT_TRUE(
        signals[i].done().WaitForNotificationWithTimeout(absl::Seconds(5)));
  }
  absl::SleepFor(absl::Milliseconds(5));
  for (int i = 1; i < kCalls; i += 2) EXPECT_FALSE(signals[i].cancelled());
}

TEST(CancellationWatcherTest, EachRoundStopsAskingOnceItsBudgetIsSpent) {
  // Each question takes 1 ms of the watcher's (fake) time and the interval
  // is 4 ms: a 0.4 ms budget per round. So every round asks one call and
  // is followed by a 9 ms sleep (nine times what it spent), and the calls
  // take turns. A watcher that asked every call in each round would ask
  // them 1 ms apart.
  FakeClock clock;
  CancellationWatcher watcher(absl::Milliseconds(4), clock);
  constexpr int kCalls = 10;
  absl::Mutex mu;
  std::vector<std::pair<int, absl::Time>> asks;  // Which call, and when.
  std::vector<CancelSignal> signals(kCalls);
  std::vector<std::unique_ptr<CancellationWatcher::Watch>> watches;
  for (int i = 0; i < kCalls; ++i) {
    watches.push_back(watcher.Add(
        [&, i] {
          {
            absl::MutexLock lock(&mu);
            asks.emplace_back(i, clock.Now());
          }
          clock.Advance(absl::Milliseconds(1));
          return false;
        },
        signals[i]));
  }
  // The watcher may start asking before the last call is added, so wait
  // (a real-time bound) until each call has been asked, as it must be in
  // turn however many rounds that takes.
  const auto enough = [&] {
    absl::MutexLock lock(&mu);
    std::vector<bool> seen(kCalls);
    for (const auto& ask : asks) seen[ask.first] = true;
    return asks.size() >= 2 * kCalls &&
           std::count(seen.begin(), seen.end(), true) == kCalls;
  };
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!enough() && absl::Now() < give_up) {
    absl::SleepFor(absl::Microseconds(100));
  }
  watches.clear();

  absl::MutexLock lock(&mu);
  std::vector<int> asked(kCalls);
  for (size_t i = 0; i < asks.size(); ++i) {
    ++asked[asks[i].first];
    if (i == 0) continue;
    EXPECT_GE(asks[i].second - asks[i - 1].second, absl::Milliseconds(10))
        << "questions " << i - 1 << " and " << i << " came in one round";
  }
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_GE(asked[i], 1) << "call " << i << " never asked";
  }
}

TEST(CancellationWatcherTest, KeepsItsBudgetEvenWithATinyInterval) {
  // One question (1 ms of fake time) per round is the least the watcher can
  // do; with a 1 us interval it must then sleep 9 ms to stay within a tenth.
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  CancellationWatcher watcher(absl::Microseconds(1), clock);
  std::atomic<int> asked{0};
  CancelSignal signal;
  auto watch = watcher.Add(
      [&] {
        ++asked;
        clock.Advance(absl::Milliseconds(1));
        return false;
      },
      signal);
  while (asked.load() < 5) absl::SleepFor(absl::Microseconds(100));
  watch.reset();
  EXPECT_GE(clock.Now() - t0, (asked.load() - 1) * absl::Milliseconds(10));
}

TEST(CancellationWatcherTest, NotAskedAgainOnceTheWatchIsGone) {
  CancellationWatcher watcher(absl::Microseconds(200));
  std::atomic<int> asked{0};
  CancelSignal signal;
  auto watch = watcher.Add(
      [&] {
        ++asked;
        return false;
      },
      signal);
  while (asked.load() < 3) absl::SleepFor(absl::Microseconds(100));
  watch.reset();
  const int after = asked.load();
  absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(asked.load(), after);
}

}  // namespace
}  // namespace deadline
