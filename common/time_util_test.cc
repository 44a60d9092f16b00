#include "common/time_util.h"

#include <chrono>
#include <limits>

#include "gtest/gtest.h"

namespace deadline {
namespace {

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
