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
