#include "server/fan_out.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(FanOutGroupTest, AllOkIsOkAndOnlyTheLastArrivalSaysSo) {
  FanOutGroup group(3, FanOutPolicy::kAllOrNothing);
  for (int i : {1, 0}) {
    EXPECT_FALSE(group.Record(i, absl::OkStatus()));
    EXPECT_FALSE(group.Arrive());
  }
  EXPECT_FALSE(group.Record(2, absl::OkStatus()));
  EXPECT_TRUE(group.Arrive());
  EXPECT_TRUE(group.status().ok());
  EXPECT_EQ(group.first_failure(), -1);
}

TEST(FanOutGroupTest, FirstFailureCancelsSiblingsOnceAndIsTheResult) {
  FanOutGroup group(3, FanOutPolicy::kAllOrNothing);
  EXPECT_TRUE(group.Record(2, absl::UnavailableError("down")));
  EXPECT_FALSE(group.Arrive());
  // The siblings then end cancelled: no second cancel, no new result.
  EXPECT_FALSE(group.Record(0, absl::CancelledError("x")));
  EXPECT_FALSE(group.Arrive());
  EXPECT_FALSE(group.Record(1, absl::CancelledError("x")));
  EXPECT_TRUE(group.Arrive());
  EXPECT_EQ(group.status(), absl::UnavailableError("down"));
  EXPECT_EQ(group.first_failure(), 2);
}

TEST(FanOutGroupTest, PartialNeverCancelsAndSucceeds) {
  FanOutGroup group(2, FanOutPolicy::kPartial);
  EXPECT_FALSE(group.Record(0, absl::DeadlineExceededError("slow")));
  EXPECT_FALSE(group.Arrive());
  EXPECT_FALSE(group.Record(1, absl::OkStatus()));
  EXPECT_TRUE(group.Arrive());
  EXPECT_TRUE(group.status().ok());
  EXPECT_EQ(group.first_failure(), 0);
}

TEST(FanOutGroupTest, ExactlyOneCancelAndOneLastUnderConcurrency) {
  constexpr int kSize = 64;
  FanOutGroup group(kSize, FanOutPolicy::kAllOrNothing);
  std::atomic<int> cancels{0};
  std::atomic<int> lasts{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kSize; ++i) {
    threads.emplace_back([&, i] {
      cancels += group.Record(i, absl::AbortedError("x"));
      lasts += group.Arrive();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(cancels, 1);
  EXPECT_EQ(lasts, 1);
}

}  // namespace
}  // namespace deadline
