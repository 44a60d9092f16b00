#include "common/fake_clock.h"

#include <vector>

#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(FakeClockTest, AdvanceRunsDueEventsInOrderAtTheirTime) {
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  std::vector<absl::Duration> seen;
  clock.At(t0 + absl::Milliseconds(3),
           [&] { seen.push_back(clock.Now() - t0); });
  clock.At(t0 + absl::Milliseconds(1),
           [&] { seen.push_back(clock.Now() - t0); });
  clock.At(t0 + absl::Milliseconds(9),
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
  clock.At(t0 + absl::Microseconds(7250), [&] { wake.Notify(); });
  EXPECT_TRUE(clock.SleepUntil(t0 + absl::Seconds(10), wake));
  EXPECT_EQ(clock.Now() - t0, absl::Microseconds(7250));
}

TEST(FakeClockTest, SleepUntilReachesItsTimeWhenNotWoken) {
  FakeClock clock;
  const absl::Time t0 = clock.Now();
  absl::Notification wake;
  bool ran = false;
  clock.At(t0 + absl::Milliseconds(1), [&] { ran = true; });
  EXPECT_FALSE(clock.SleepUntil(t0 + absl::Milliseconds(4), wake));
  EXPECT_TRUE(ran);
  EXPECT_EQ(clock.Now() - t0, absl::Milliseconds(4));
}

}  // namespace
}  // namespace deadline
