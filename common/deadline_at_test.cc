#include "common/deadline_at.h"

#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(UnixMicrosTest, RoundTripsToTheMicrosecond) {
  const absl::Time t = absl::FromUnixMicros(1'796'495'760'123'456);
  EXPECT_EQ(FormatUnixMicros(t), "1796495760123456");
  EXPECT_EQ(ParseUnixMicros(FormatUnixMicros(t)), t);
  EXPECT_EQ(ParseUnixMicros("0"), absl::UnixEpoch());
}

TEST(UnixMicrosTest, AnythingButPlainDigitsIsRefused) {
  for (const char* bad :
       {"", "-1", "+1", " 1", "1 ", "1.5", "0x10", "1e6", "abc",
        "1234567890123456789",  // 19 digits: beyond what is accepted.
        "99999999999999999999999"}) {
    EXPECT_FALSE(ParseUnixMicros(bad).has_value()) << bad;
  }
  EXPECT_TRUE(ParseUnixMicros("999999999999999999").has_value());
}

}  // namespace
}  // namespace deadline
