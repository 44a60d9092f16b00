#include "common/trace.h"

#include <set>

#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(TraceTest, RequestIdsAreSixteenHexDigitsAndDistinct) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 16);
    ASSERT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000);
}

TEST(TraceTest, NewHopHasNoPanel) {
  const deadline::v1::HopTrace hop = NewHop("backend");
  EXPECT_EQ(hop.hop(), "backend");
  EXPECT_EQ(hop.panel(), -1);
}

}  // namespace
}  // namespace deadline
