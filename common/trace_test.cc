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

TEST(TrimmedTest, LeavesShortTextAloneAndMarksWhatItCuts) {
  EXPECT_EQ(Trimmed("short", 10), "short");
  const std::string long_text(5000, 'x');
  const std::string cut = Trimmed(long_text, 100);
  EXPECT_LE(cut.size(), 100);
  EXPECT_NE(cut.find("[trimmed "), std::string::npos);
  EXPECT_EQ(cut.substr(0, 10), std::string(10, 'x'));
}

TEST(TrimmedTest, NeverCutsACharacterInTwo) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "\xc3\xa9";  // U+00E9, 2 bytes each.
  for (size_t max = 40; max < 60; ++max) {
    const std::string cut = Trimmed(text, max);
    const size_t kept = cut.find("...[trimmed");
    ASSERT_NE(kept, std::string::npos);
    EXPECT_EQ(kept % 2, 0) << "cut mid-character at " << max;
  }
}

deadline::v1::BudgetTrace TraceOf(int hops, size_t text_bytes) {
  deadline::v1::BudgetTrace trace;
  trace.set_request_id("r");
  for (int i = 0; i < hops; ++i) {
    deadline::v1::HopTrace& hop = *trace.add_hops();
    hop.set_hop(i == 0 ? "frontend" : "backend");
    hop.set_stop(std::string(text_bytes, 's'));
  }
  return trace;
}

TEST(FitTraceTest, ASmallTraceIsLeftAlone) {
  deadline::v1::BudgetTrace trace = TraceOf(3, 10);
  const std::string before = trace.SerializeAsString();
  FitTrace(trace);
  EXPECT_EQ(trace.SerializeAsString(), before);
}

TEST(FitTraceTest, LongTextsAreTrimmedFirst) {
  deadline::v1::BudgetTrace trace = TraceOf(2, 16 * 1024);
  FitTrace(trace);
  EXPECT_LE(trace.ByteSizeLong(), kMaxTraceBytes);
  ASSERT_EQ(trace.hops_size(), 2);
  EXPECT_LE(trace.hops(1).stop().size(), kMaxTraceTextBytes);
}

TEST(FitTraceTest, ManyHopsLeaveFromTheEndBehindAMarker) {
  deadline::v1::BudgetTrace trace = TraceOf(40, 200);
  FitTrace(trace);
  EXPECT_LE(trace.ByteSizeLong(), kMaxTraceBytes);
  EXPECT_EQ(trace.hops(0).hop(), "frontend");
  const deadline::v1::HopTrace& marker = trace.hops(trace.hops_size() - 1);
  EXPECT_EQ(marker.hop(), "...");
  EXPECT_NE(marker.stop().find("more hop(s) left out"), std::string::npos);
  // The marker counts exactly the hops that left.
  EXPECT_EQ(marker.stop().substr(0, marker.stop().find(' ')),
            std::to_string(40 - (trace.hops_size() - 1)));
}

TEST(FitTraceTest, TheFirstHopAlwaysStays) {
  deadline::v1::BudgetTrace trace = TraceOf(5, 200);
  FitTrace(trace, 10);  // Nothing can fit in 10 bytes.
  EXPECT_GE(trace.hops_size(), 1);
  EXPECT_EQ(trace.hops(0).hop(), "frontend");
}

}  // namespace
}  // namespace deadline
