#include "client/report.h"

#include "common/time_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

using ::testing::HasSubstr;

TEST(ReportTest, OkFetchShowsTheBudgetAtEachHop) {
  FetchOutcome outcome;
  outcome.elapsed = absl::Milliseconds(101);
  ToProtoDuration(absl::Microseconds(299'600),
                  outcome.reply.mutable_budget_at_arrival());
  ToProtoDuration(absl::Microseconds(289'600),
                  outcome.reply.mutable_budget_forwarded());
  ToProtoDuration(absl::Microseconds(289'300),
                  outcome.reply.mutable_backend()->mutable_budget_at_arrival());
  outcome.reply.mutable_backend()->set_steps_done(10);
  EXPECT_EQ(FormatOutcome(outcome, absl::Milliseconds(300)),
            "status:  OK\nelapsed: 101ms\nbudgets: client 300ms -> frontend "
            "299.6ms at arrival, forwarded 289.6ms -> backend 289.3ms at "
            "arrival, 10 steps done\n");
}

TEST(ReportTest, FailedFetchShowsCodeAndMessage) {
  FetchOutcome outcome;
  outcome.status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                "frontend: 50ms at arrival");
  EXPECT_THAT(FormatOutcome(outcome, absl::InfiniteDuration()),
              HasSubstr("status:  DEADLINE_EXCEEDED: frontend: 50ms at arrival"
                        "\nelapsed: 0\nbudgets: client no deadline"));
}

TEST(ReportTest, FanOutHasALinePerPanel) {
  FetchAllOutcome outcome;
  deadline::v1::PanelResult& slow = *outcome.reply.add_panels();
  slow.set_index(0);
  slow.set_backend("127.0.0.1:9");
  slow.set_code(4);
  slow.set_message("backend call: Deadline Exceeded");
  slow.mutable_reply()->set_steps_done(28);
  ToProtoDuration(absl::Milliseconds(290), slow.mutable_elapsed());
  ToProtoDuration(absl::Milliseconds(290), slow.mutable_budget_forwarded());
  EXPECT_THAT(FormatFanOut(outcome, absl::Milliseconds(300)),
              HasSubstr("panel 0 (127.0.0.1:9): DEADLINE_EXCEEDED, 28 steps "
                        "in 290ms (given 290ms): backend call: Deadline "
                        "Exceeded\n"));
}

TEST(ReportTest, ServersTextCannotAddLinesOrEscapeSequences) {
  FetchAllOutcome outcome;
  deadline::v1::PanelResult& panel = *outcome.reply.add_panels();
  panel.set_backend("127.0.0.1:9\x1b[2J");
  panel.set_code(4);
  panel.set_message("late\npanel 1 (fake): OK");
  EXPECT_THAT(FormatFanOut(outcome, absl::Milliseconds(300)),
              HasSubstr("panel 0 (127.0.0.1:9\\x1b[2J): DEADLINE_EXCEEDED, "
                        "0 steps in 0 (given no deadline): "
                        "late\\npanel 1 (fake): OK\n"));

  FetchOutcome failed;
  failed.status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                               "down\r\nstatus:  OK\x1b]0;owned\x07");
  EXPECT_THAT(FormatOutcome(failed, absl::Milliseconds(300)),
              HasSubstr("status:  UNAVAILABLE: down\\r\\nstatus:  "
                        "OK\\x1b]0;owned\\x07\nelapsed: 0\n"));
}

TEST(ReportTest, ProgressWithAndWithoutDeadline) {
  deadline::v1::WorkProgress progress;
  progress.set_step(3);
  ToProtoDuration(absl::Microseconds(30'200), progress.mutable_elapsed());
  EXPECT_EQ(FormatProgress(progress), "step 3: 30.2ms elapsed, no deadline\n");
  ToProtoDuration(absl::Microseconds(269'800), progress.mutable_time_left());
  EXPECT_EQ(FormatProgress(progress), "step 3: 30.2ms elapsed, 269.8ms left\n");
}

TEST(ReportTest, ExitCodes) {
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::OK), 0);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::CANCELLED), 11);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::DEADLINE_EXCEEDED), 14);
  EXPECT_EQ(ExitCodeFor(grpc::StatusCode::UNAVAILABLE), 24);
}

}  // namespace
}  // namespace deadline
