// The real clock's timers, in real time: bounds are generous (2-core, noisy
// machines); the fake clock's tests pin the exact behaviour.
#include "common/clock.h"

#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(RealClockTest, TimersRunInTimeOrderNotInTheOrderTheyWereSet) {
  Clock& clock = RealClock();
  const absl::Time now = clock.Now();
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification last;
  clock.RunAt(now + absl::Milliseconds(30), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(3);
    last.Notify();
  });
  clock.RunAt(now + absl::Milliseconds(10), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(1);
  });
  clock.RunAt(now + absl::Milliseconds(20), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(2);
  });
  ASSERT_TRUE(last.WaitForNotificationWithTimeout(absl::Seconds(5)));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(RealClockTest, ATimerRunsNoEarlierThanItsTime) {
  Clock& clock = RealClock();
  const absl::Time at = clock.Now() + absl::Milliseconds(20);
  absl::Time ran;
  absl::Notification done;
  clock.RunAt(at, [&] {
    ran = clock.Now();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_GE(ran, at);
  EXPECT_LT(ran - at, absl::Seconds(1));
}

TEST(RealClockTest, AnEarlierTimerWakesTheThreadFromALaterWait) {
  Clock& clock = RealClock();
  absl::Notification late;
  const TimerId far =
      clock.RunAt(clock.Now() + absl::Hours(1), [&] { late.Notify(); });
  absl::Notification soon;
  const absl::Time start = clock.Now();
  clock.RunAt(start + absl::Milliseconds(5), [&] { soon.Notify(); });
  ASSERT_TRUE(soon.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_LT(clock.Now() - start, absl::Seconds(1));
  EXPECT_TRUE(clock.CancelTimer(far));
  EXPECT_FALSE(late.HasBeenNotified());
}

TEST(RealClockTest, ACancelledTimerNeverRuns) {
  Clock& clock = RealClock();
  bool ran = false;
  const TimerId id =
      clock.RunAt(clock.Now() + absl::Milliseconds(10), [&] { ran = true; });
  EXPECT_TRUE(clock.CancelTimer(id));
  absl::Notification after;
  clock.RunAt(clock.Now() + absl::Milliseconds(30), [&] { after.Notify(); });
  ASSERT_TRUE(after.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_FALSE(ran);
  EXPECT_FALSE(clock.CancelTimer(id));
}

}  // namespace
}  // namespace deadline
