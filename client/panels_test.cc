#include "client/panels.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(ParsePanelsTest, ExpandsGroups) {
  const auto panels = ParsePanels("2x10x10ms,1x100x1.5ms:spin");
  ASSERT_TRUE(panels.ok()) << panels.status();
  ASSERT_EQ(panels->size(), 3);
  EXPECT_EQ((*panels)[0].steps(), 10);
  EXPECT_EQ((*panels)[0].step_duration().nanos(), 10'000'000);
  EXPECT_EQ((*panels)[0].kind(), deadline::v1::WORK_KIND_SLEEP);
  EXPECT_EQ((*panels)[1].steps(), 10);
  EXPECT_EQ((*panels)[2].steps(), 100);
  EXPECT_EQ((*panels)[2].step_duration().nanos(), 1'500'000);
  EXPECT_EQ((*panels)[2].kind(), deadline::v1::WORK_KIND_SPIN);
}

// A protobuf Duration holds +-10000 years; absl::ParseDuration reads the
// first three as infinite. Such a panel once became a malformed Duration
// (seconds INT64_MAX, nanos -1) in the request.
TEST(ParsePanelsTest, RejectsStepsNoProtobufDurationCanHold) {
  for (const char* spec : {"1x1xinf", "1x1x-inf", "3x0x1.9223372036854775807h",
                           "3x1x2562047788015215h", "1x1x87660001h"}) {
    const auto panels = ParsePanels(spec);
    EXPECT_EQ(panels.status().code(), absl::StatusCode::kInvalidArgument)
        << spec;
    EXPECT_TRUE(
        absl::StrContains(panels.status().message(), "STEP is out of range"))
        << panels.status();
  }
  const auto longest = ParsePanels("1x1x87660000h,1x1x-87660000h");
  ASSERT_TRUE(longest.ok()) << longest.status();
  EXPECT_EQ((*longest)[0].step_duration().seconds(), 315'576'000'000);
  EXPECT_EQ((*longest)[1].step_duration().seconds(), -315'576'000'000);
}

TEST(ParsePanelsTest, RejectsMalformedGroupsByName) {
  for (const char* spec : {"", "3x10", "0x1x1ms", "ax1x1ms", "1xbx1ms",
                           "1x1x1parsec", "1x1x1ms:nap", "1x1x1ms,,"}) {
    const auto panels = ParsePanels(spec);
    EXPECT_EQ(panels.status().code(), absl::StatusCode::kInvalidArgument)
        << spec;
  }
  EXPECT_TRUE(absl::StrContains(ParsePanels("1x1x1ms,2x2").status().message(),
                                "'2x2'"));
}

}  // namespace
}  // namespace deadline
