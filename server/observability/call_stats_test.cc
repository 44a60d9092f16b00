#include "server/observability/call_stats.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace deadline {
namespace {

TEST(CallStatsTest, CountsEachOutcomeOnceAndBalancesInFlight) {
  CallStats stats;
  {
    CallStats::Call ok(stats);
    CallStats::Call late(stats);
    EXPECT_EQ(stats.Snapshot().in_flight, 2);
    ok.End(Outcome::kOk, 10);
    ok.End(Outcome::kFailed);  // Ignored: already ended.
    late.End(Outcome::kDeadlineExceeded, 3, absl::Microseconds(700));
  }
  const StatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.started, 2);
  EXPECT_EQ(s.ok, 1);
  EXPECT_EQ(s.deadline_exceeded, 1);
  EXPECT_EQ(s.failed, 0);
  EXPECT_EQ(s.in_flight, 0);
  EXPECT_EQ(s.steps_done, 13);
  EXPECT_EQ(s.max_stop_latency, absl::Microseconds(700));
}

TEST(CallStatsTest, CountsShedCallsBesideTheirOutcome) {
  CallStats stats;
  CallStats::Call(stats).End(Outcome::kCancelled, 0, absl::ZeroDuration(),
                             /*shed=*/true);
  CallStats::Call(stats).End(Outcome::kOverloaded);
  const StatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.cancelled, 1);
  EXPECT_EQ(s.shed, 1);
  EXPECT_EQ(s.overloaded, 1);
  EXPECT_EQ(s.in_flight, 0);
}

TEST(CallStatsTest, CallLeftWithoutEndCountsAsFailed) {
  CallStats stats;
  { CallStats::Call abandoned(stats); }
  EXPECT_EQ(stats.Snapshot().failed, 1);
  EXPECT_EQ(stats.Snapshot().in_flight, 0);
}

TEST(CallStatsTest, KeepsTheWorstStopLatencyAcrossThreads) {
  CallStats stats;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&stats, t] {
      for (int i = 0; i < 1000; ++i) {
        CallStats::Call call(stats);
        call.End(Outcome::kCancelled, 1, absl::Microseconds(t * 1000 + i));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const StatsSnapshot s = stats.Snapshot();
  EXPECT_EQ(s.cancelled, 4000);
  EXPECT_EQ(s.steps_done, 4000);
  EXPECT_EQ(s.max_stop_latency, absl::Microseconds(3999));
}

TEST(OutcomeOfTest, MapsCodes) {
  EXPECT_EQ(OutcomeOf(absl::StatusCode::kOk), Outcome::kOk);
  EXPECT_EQ(OutcomeOf(absl::StatusCode::kDeadlineExceeded),
            Outcome::kDeadlineExceeded);
  EXPECT_EQ(OutcomeOf(absl::StatusCode::kCancelled), Outcome::kCancelled);
  EXPECT_EQ(OutcomeOf(absl::StatusCode::kInvalidArgument), Outcome::kInvalid);
  EXPECT_EQ(OutcomeOf(absl::StatusCode::kResourceExhausted),
            Outcome::kOverloaded);
  EXPECT_EQ(OutcomeOf(absl::StatusCode::kUnavailable), Outcome::kFailed);
}

}  // namespace
}  // namespace deadline
