#include "bench/distribution.h"

#include "gtest/gtest.h"

namespace deadline::bench {
namespace {

TEST(DistributionTest, NearestRankPercentiles) {
  Distribution d;
  for (int i = 100; i >= 1; --i) d.Add(absl::Microseconds(i));
  const Summary s = d.Summarize();
  EXPECT_EQ(s.count, 100);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.p50, 50);
  EXPECT_EQ(s.p90, 90);
  EXPECT_EQ(s.p99, 99);
  EXPECT_EQ(s.max, 100);
  EXPECT_DOUBLE_EQ(s.mean, 50.5);
}

TEST(DistributionTest, SmallAndEmpty) {
  Distribution d;
  EXPECT_EQ(d.Summarize().count, 0);
  EXPECT_EQ(d.Percentile(0.5), 0);
  d.Add(absl::Milliseconds(2));
  EXPECT_EQ(d.Percentile(0.99), 2000);
  d.Add(absl::Microseconds(1));
  EXPECT_EQ(d.Summarize().min, 1);
}

}  // namespace
}  // namespace deadline::bench
