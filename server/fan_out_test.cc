#include "server/fan_out.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(FanOutGroupTest, AllOkIsOkAndTheLastIsFlagged) {
  FanOutGroup group(3, FanOutPolicy::kAllOrNothing);
  EXPECT_FALSE(group.Done(1, absl::OkStatus()).last);
  EXPECT_FALSE(group.Done(0, absl::OkStatus()).last);
  const FanOutGroup::Step step = group.Done(2, absl::OkStatus());
  EXPECT_TRUE(step.last);
  EXPECT_FALSE(step.cancel_siblings);
  EXPECT_TRUE(group.status().ok());
  EXPECT_EQ(group.first_failure(), -1);
}

TEST(FanOutGroupTest, FirstFailureCancelsSiblingsOnceAndIsTheResult) {
  FanOutGroup group(3, FanOutPolicy::kAllOrNothing);
  EXPECT_TRUE(group.Done(2, absl::UnavailableError("down")).cancel_siblings);
  // The siblings then end cancelled: no second cancel, no new result.
  EXPECT_FALSE(group.Done(0, absl::CancelledError("x")).cancel_siblings);
  const FanOutGroup::Step step = group.Done(1, absl::CancelledError("x"));
  EXPECT_FALSE(step.cancel_siblings);
  EXPECT_TRUE(step.last);
  EXPECT_EQ(group.status(), absl::UnavailableError("down"));
  EXPECT_EQ(group.first_failure(), 2);
}

TEST(FanOutGroupTest, PartialNeverCancelsAndSucceeds) {
  FanOutGroup group(2, FanOutPolicy::kPartial);
  EXPECT_FALSE(
      group.Done(0, absl::DeadlineExceededError("slow")).cancel_siblings);
  EXPECT_TRUE(group.Done(1, absl::OkStatus()).last);
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
      const auto step = group.Done(i, absl::AbortedError("x"));
      cancels += step.cancel_siblings;
      lasts += step.last;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(cancels, 1);
  EXPECT_EQ(lasts, 1);
}

}  // namespace
}  // namespace deadline
