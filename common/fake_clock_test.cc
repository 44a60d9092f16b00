#include "common/fake_clock.h"

#include <vector>

#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(FakeClockTest, AdvanceRunsDueEventsInOrderAtTheirTime) {
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  std::vector<absl::Duration> seen;
  clock.RunAt(t0 + absl::Milliseconds(3),
              [&] { seen.push_back(clock.Now() - t0); });
  clock.RunAt(t0 + absl::Milliseconds(1),
              [&] { seen.push_back(clock.Now() - t0); });
  clock.RunAt(t0 + absl::Milliseconds(9),
              [&] { seen.push_back(clock.Now() - t0); });
  clock.Advance(absl::Milliseconds(5));
  EXPECT_EQ(seen, (std::vector<absl::Duration>{absl::Milliseconds(1),
                                               absl::Milliseconds(3)}));
  EXPECT_EQ(clock.Now() - t0, absl::Milliseconds(5));
}

TEST(FakeClockTest, SleepUntilStopsWhenAnEventWakesIt) {
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  absl::Notification wake;
  clock.RunAt(t0 + absl::Microseconds(7250), [&] { wake.Notify(); });
  EXPECT_TRUE(clock.SleepUntil(t0 + absl::Seconds(10), wake));
  EXPECT_EQ(clock.Now() - t0, absl::Microseconds(7250));
}

TEST(FakeClockTest, SleepUntilReachesItsTimeWhenNotWoken) {
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  absl::Notification wake;
  bool ran = false;
  clock.RunAt(t0 + absl::Milliseconds(1), [&] { ran = true; });
  EXPECT_FALSE(clock.SleepUntil(t0 + absl::Milliseconds(4), wake));
  EXPECT_TRUE(ran);
  EXPECT_EQ(clock.Now() - t0, absl::Milliseconds(4));
}

TEST(FakeClockTest, ACancelledTimerNeverRuns) {
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  bool ran = false;
  const TimerId id =
      clock.RunAt(t0 + absl::Milliseconds(2), [&] { ran = true; });
  EXPECT_EQ(clock.pending_timers(), 1);
  EXPECT_TRUE(clock.CancelTimer(id));
  EXPECT_FALSE(clock.CancelTimer(id));  // Only once.
  clock.Advance(absl::Milliseconds(5));
  EXPECT_FALSE(ran);
  EXPECT_EQ(clock.pending_timers(), 0);
}

TEST(FakeClockTest, ATimerThatRanCannotBeCancelled) {
  FakeClock clock;
  int runs = 0;
  const TimerId id =
      clock.RunAt(clock.Now() + absl::Milliseconds(1), [&] { ++runs; });
  clock.Advance(absl::Milliseconds(1));
  EXPECT_FALSE(clock.CancelTimer(id));
  EXPECT_EQ(runs, 1);
}

TEST(FakeClockTest, TimersAtTheSameTimeRunInTheOrderTheyWereSet) {
  FakeClock clock;
  const absl::Time at = clock.Now() + absl::Milliseconds(1);
  std::vector<int> order;
  for (int i = 0; i < 4; ++i)
    clock.RunAt(at, [&order, i] { order.push_back(i); });
  clock.Advance(absl::Milliseconds(1));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(FakeClockTest, ATimerMaySetAnotherThatFallsDueInTheSameAdvance) {
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  absl::Duration second_at;
  clock.RunAt(t0 + absl::Milliseconds(1), [&] {
    clock.RunAt(clock.Now() + absl::Milliseconds(1),
                [&] { second_at = clock.Now() - t0; });
  });
  clock.Advance(absl::Milliseconds(10));
  EXPECT_EQ(second_at, absl::Milliseconds(2));
}

}  // namespace
}  // namespace deadline
