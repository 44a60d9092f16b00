#include "server/observability/call_log.h"

#include "absl/strings/match.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(CallLogTest, OneLineWithEveryField) {
  deadline::v1::BudgetTrace trace;
  trace.set_request_id("5f2c9a0e1b7d4c83");
  deadline::v1::HopTrace hop = NewHop("backend");
  const absl::Time arrived = absl::FromUnixMicros(1'795'400'000'000'000);
  ToProtoTime(arrived, hop.mutable_arrived_at());
  ToProtoTime(arrived + absl::Microseconds(86'900), hop.mutable_finished_at());
  ToProtoDuration(absl::Microseconds(88'800), hop.mutable_budget_at_arrival());
  hop.set_steps_requested(100);
  hop.set_steps_done(8);
  hop.set_code("DEADLINE_EXCEEDED");
  hop.set_stop("at its deadline");
  EXPECT_EQ(FormatCallLog("Work", trace, hop, absl::Microseconds(100)),
            "time=2026-11-23T02:13:20.0869Z hop=backend method=Work "
            "request_id=5f2c9a0e1b7d4c83 code=DEADLINE_EXCEEDED budget=88.8ms "
            "forwarded=none steps=8/100 elapsed=86.9ms stop_latency=100us "
            "stop=\"at its deadline\"");
}

TEST(CallLogTest, QuotesAndEscapesValues) {
  deadline::v1::BudgetTrace trace;
  deadline::v1::HopTrace hop = NewHop("frontend");
  hop.set_panel(2);
  hop.set_stop("say \"hi\"");
  const std::string line =
      FormatCallLog("FetchAll", trace, hop, absl::ZeroDuration());
  EXPECT_TRUE(absl::StrContains(line, "request_id=\"\""));
  EXPECT_TRUE(absl::StrContains(line, " panel=2 "));
  EXPECT_TRUE(absl::EndsWith(line, "stop=\"say \\\"hi\\\"\""));
}

TEST(CallLogTest, ParsesModes) {
  EXPECT_EQ(*ParseLogMode("all"), LogMode::kAll);
  EXPECT_EQ(*ParseLogMode("errors"), LogMode::kErrors);
  EXPECT_EQ(*ParseLogMode("none"), LogMode::kNone);
  EXPECT_EQ(ParseLogMode("loud").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace deadline
