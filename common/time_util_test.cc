#include "common/time_util.h"

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

TEST(ProtoDurationTest, RoundTripsPositiveAndNegative) {
  for (absl::Duration d : {absl::Milliseconds(1500), absl::Nanoseconds(7),
                           -absl::Milliseconds(2500), absl::ZeroDuration()}) {
    google::protobuf::Duration proto;
    ToProtoDuration(d, &proto);
    auto back = FromProtoDuration(proto, "f");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, d);
  }
}

TEST(ProtoDurationTest, MalformedIsInvalidArgumentNamingTheField) {
  google::protobuf::Duration proto;
  proto.set_seconds(1);
  proto.set_nanos(-5);
  auto d = FromProtoDuration(proto, "work.step_duration");
  ASSERT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(d.status().message().find("work.step_duration"),
            absl::string_view::npos);

  proto.set_seconds(0);
  proto.set_nanos(1'000'000'000);
  EXPECT_EQ(FromProtoDuration(proto, "f").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ProtoDurationTest, AcceptsTheWholeProtobufRangeAndNoMore) {
  google::protobuf::Duration proto;
  proto.set_seconds(315'576'000'000);
  proto.set_nanos(999'999'999);
  auto d = FromProtoDuration(proto, "f");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d,
            absl::Seconds(315'576'000'000) + absl::Nanoseconds(999'999'999));
  proto.set_seconds(-315'576'000'000);
  proto.set_nanos(-999'999'999);
  ASSERT_TRUE(FromProtoDuration(proto, "f").ok());

  // Further out, absl saturates: this one read as -InfiniteDuration().
  proto.set_seconds(std::numeric_limits<int64_t>::min());
  proto.set_nanos(-1);
  EXPECT_EQ(FromProtoDuration(proto, "f").status().code(),
            absl::StatusCode::kInvalidArgument);
  proto.set_seconds(315'576'000'001);
  proto.set_nanos(0);
  EXPECT_EQ(FromProtoDuration(proto, "f").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(FormatBudgetField(true, proto), "?");
}

TEST(ProtoTimeTest, RoundTripsToTheMicrosecond) {
  for (absl::Time t : {absl::FromUnixMicros(1'700'000'000'123'456),
                       absl::FromUnixMicros(-1'500'000)}) {
    google::protobuf::Timestamp proto;
    ToProtoTime(t, &proto);
    EXPECT_GE(proto.nanos(), 0);
    EXPECT_EQ(FromProtoTime(proto), t);
  }
}

TEST(FormatBudgetTest, ReadableAndRounded) {
  EXPECT_EQ(FormatBudget(absl::Microseconds(289'649)), "289.6ms");
  EXPECT_EQ(FormatBudget(absl::Milliseconds(1500)), "1.5s");
  EXPECT_EQ(FormatBudget(-absl::Milliseconds(2)), "-2ms");
  EXPECT_EQ(FormatBudget(absl::InfiniteDuration()), "no deadline");
}

}  // namespace
}  // namespace deadline
