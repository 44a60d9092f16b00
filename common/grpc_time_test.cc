#include "common/grpc_time.h"

#include <chrono>
#include <limits>

#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(GrpcDeadlineTest, NoDeadlineMapsToInfiniteFutureAndBack) {
  const auto none = std::chrono::system_clock::time_point::max();
  EXPECT_EQ(FromGrpcDeadline(none), absl::InfiniteFuture());
  EXPECT_EQ(ToGrpcDeadline(absl::InfiniteFuture()), none);
}

TEST(GrpcDeadlineTest, BudgetOfNoDeadlineIsInfiniteNotOverflowed) {
  const absl::Time now = absl::Now();
  const absl::Duration budget =
      FromGrpcDeadline(std::chrono::system_clock::time_point::max()) - now;
  EXPECT_EQ(budget, absl::InfiniteDuration());
}

TEST(GrpcDeadlineTest, TimespecOfNoDeadlineIsInfiniteFuture) {
  EXPECT_EQ(FromGrpcTimespec(gpr_inf_future(GPR_CLOCK_REALTIME)),
            absl::InfiniteFuture());
  EXPECT_EQ(FromGrpcTimespec(gpr_inf_future(GPR_CLOCK_MONOTONIC)),
            absl::InfiniteFuture());
}

TEST(GrpcDeadlineTest, ATimespecFarBeyondSystemClockDoesNotWrap) {
  // A grpc-timeout of 2,500,000 hours from now: past the year 2262, where
  // system_clock's nanosecond time points overflow.
  gpr_timespec far = gpr_now(GPR_CLOCK_REALTIME);
  far.tv_sec += int64_t{2'500'000} * 3600;
  const absl::Time deadline = FromGrpcTimespec(far);
  EXPECT_GT(deadline - absl::Now(), absl::Hours(2'499'999));
  EXPECT_LT(deadline, absl::InfiniteFuture());
}

TEST(GrpcDeadlineTest, AMonotonicTimespecIsConvertedToWallClock) {
  gpr_timespec soon = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                   gpr_time_from_millis(500, GPR_TIMESPAN));
  const absl::Duration left = FromGrpcTimespec(soon) - absl::Now();
  // The conversion goes through gRPC's own offset between the two clocks.
  EXPECT_GT(left, absl::Milliseconds(400));
  EXPECT_LT(left, absl::Milliseconds(510));
}

TEST(GrpcDeadlineTest, DeadlinesBefore1970StayExpired) {
  for (absl::Time past : {absl::InfinitePast(), absl::FromUnixSeconds(-5)}) {
    const auto converted = ToGrpcDeadline(past);
    EXPECT_GT(converted, std::chrono::system_clock::time_point());
    EXPECT_LT(converted, std::chrono::system_clock::now());
  }
}

TEST(GrpcDeadlineTest, FiniteDeadlineRoundTrips) {
  const absl::Time t = absl::FromUnixMicros(1'700'000'000'123'456);
  EXPECT_EQ(FromGrpcDeadline(ToGrpcDeadline(t)), t);
}

}  // namespace
}  // namespace deadline
