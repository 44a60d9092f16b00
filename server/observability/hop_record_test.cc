#include "server/observability/hop_record.h"

#include "common/fake_clock.h"
#include "common/time_util.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

class HopRecordTest : public ::testing::Test {
 protected:
  HopRecordTest() { sink_.log = LogMode::kNone; }
  FakeClock clock_;
  HopSink sink_;
};

TEST_F(HopRecordTest, CountsTheCallInFlightFromArrivalToEnd) {
  HopRecord record(sink_, "backend", "Work", "id-1", clock_.Now());
  EXPECT_EQ(sink_.stats.Snapshot().started, 1);
  EXPECT_EQ(sink_.stats.Snapshot().in_flight, 1);
  record.End({absl::OkStatus(), Outcome::kOk, "done", 3}, clock_.Now());
  const StatsSnapshot stats = sink_.stats.Snapshot();
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_EQ(stats.ok, 1);
  EXPECT_EQ(stats.steps_done, 3);
}

TEST_F(HopRecordTest, WhereTheTimeWentAddsUpToTheHopsTime) {
  const absl::Time arrived = clock_.Now();
  HopRecord record(sink_, "backend", "Work", "id-3", arrived);
  record.SetDeadlineSource("deadline-at", /*deadline_at_ignored=*/false,
                           absl::Milliseconds(44));
  clock_.Advance(absl::Milliseconds(7));  // Waiting for a worker.
  record.WorkStarted(clock_.Now());
  record.WorkStarted(clock_.Now() +
                     absl::Milliseconds(1));  // The first counts.
  record.AddWaiting(absl::Milliseconds(20));
  clock_.Advance(absl::Milliseconds(50));
  record.End({absl::OkStatus(), Outcome::kOk, "done", 5}, clock_.Now());
  const deadline::v1::HopTrace& hop = record.hop();
  EXPECT_EQ(*FromProtoDuration(hop.arrival_delay(), ""),
            absl::Milliseconds(44));
  EXPECT_EQ(hop.deadline_from(), "deadline-at");
  EXPECT_EQ(*FromProtoDuration(hop.queued(), ""), absl::Milliseconds(7));
  EXPECT_EQ(*FromProtoDuration(hop.waiting(), ""), absl::Milliseconds(20));
  EXPECT_EQ(*FromProtoDuration(hop.working(), ""), absl::Milliseconds(30));
}

TEST_F(HopRecordTest, ACallShedFromAQueueWaitedAllAlong) {
  HopRecord shed(sink_, "backend", "Work", "id-4", clock_.Now());
  HopRecord refused(sink_, "backend", "Work", "id-5", clock_.Now());
  clock_.Advance(absl::Milliseconds(12));
  HopEnding ending{absl::DeadlineExceededError("late"),
                   Outcome::kDeadlineExceeded, "at its deadline"};
  ending.shed = true;
  shed.End(ending, clock_.Now());
  refused.End({absl::ResourceExhaustedError("full"), Outcome::kOverloaded,
               "overloaded"},
              clock_.Now());
  EXPECT_EQ(*FromProtoDuration(shed.hop().queued(), ""),
            absl::Milliseconds(12));
  EXPECT_EQ(*FromProtoDuration(refused.hop().queued(), ""),
            absl::ZeroDuration());
  EXPECT_EQ(*FromProtoDuration(refused.hop().working(), ""),
            absl::Milliseconds(12));
}

TEST_F(HopRecordTest, ArrivalsLateAndDeadlinesAtIgnoredAreCounted) {
  HopRecord ignored(sink_, "frontend", "Fetch", "id-6", clock_.Now());
  ignored.SetDeadlineSource("grpc-timeout", /*deadline_at_ignored=*/true,
                            absl::nullopt);
  HopRecord late(sink_, "frontend", "Fetch", "id-7", clock_.Now());
  HopEnding ending{absl::DeadlineExceededError("arrived late"),
                   Outcome::kRejected, "fail fast"};
  ending.arrived_late = true;
  late.End(ending, clock_.Now());
  const StatsSnapshot stats = sink_.stats.Snapshot();
  EXPECT_EQ(stats.deadline_at_ignored, 1);
  EXPECT_EQ(stats.arrived_late, 1);
  EXPECT_EQ(stats.rejected, 1);
}

TEST_F(HopRecordTest, TheTraceTellsTheBudgetAndTheOutcome) {
  const absl::Time arrived = clock_.Now();
  HopRecord record(sink_, "frontend", "Fetch", "id-2", arrived);
  record.SetDeadline(arrived + absl::Milliseconds(300));
  record.SetForwarded(absl::Milliseconds(290));
  record.SetStepsRequested(100);
  EXPECT_EQ(record.budget_at_arrival(), absl::Milliseconds(300));
  clock_.Advance(absl::Milliseconds(291));
  HopEnding ending;
  ending.status = absl::DeadlineExceededError("frontend: too slow");
  ending.outcome = Outcome::kDeadlineExceeded;
  ending.stop = "at its deadline";
  ending.steps_done = 28;
  ending.stop_latency = absl::Milliseconds(1);
  EXPECT_EQ(record.End(ending, clock_.Now()).code(),
            absl::StatusCode::kDeadlineExceeded);

  const deadline::v1::BudgetTrace& trace = record.trace();
  EXPECT_EQ(trace.request_id(), "id-2");
  ASSERT_EQ(trace.hops_size(), 1);
  const deadline::v1::HopTrace& hop = trace.hops(0);
  EXPECT_EQ(hop.hop(), "frontend");
  EXPECT_EQ(hop.panel(), -1);
  EXPECT_EQ(FromProtoTime(hop.arrived_at()), arrived);
  EXPECT_EQ(FromProtoTime(hop.finished_at()) - arrived,
            absl::Milliseconds(291));
  EXPECT_EQ(FromProtoTime(hop.deadline()) - arrived, absl::Milliseconds(300));
  EXPECT_EQ(*FromProtoDuration(hop.budget_at_arrival(), ""),
            absl::Milliseconds(300));
  EXPECT_EQ(*FromProtoDuration(hop.forwarded(), ""), absl::Milliseconds(290));
  EXPECT_EQ(hop.steps_requested(), 100);
  EXPECT_EQ(hop.steps_done(), 28);
  EXPECT_EQ(hop.code(), "DEADLINE_EXCEEDED");
  EXPECT_EQ(hop.stop(), "at its deadline");
  EXPECT_FALSE(hop.has_noticed_cancel_at());
  EXPECT_EQ(sink_.stats.Snapshot().max_stop_latency, absl::Milliseconds(1));
}

TEST_F(HopRecordTest, WithoutADeadlineNoBudgetIsRecorded) {
  HopRecord record(sink_, "backend", "Work", "id-3", clock_.Now());
  record.SetDeadline(absl::InfiniteFuture());
  EXPECT_EQ(record.budget_at_arrival(), absl::InfiniteDuration());
  EXPECT_FALSE(record.hop().has_deadline());
  EXPECT_FALSE(record.hop().has_budget_at_arrival());
}

TEST_F(HopRecordTest, OnlyTheFirstEndCountsAndTheHookSeesIt) {
  int hooked = 0;
  std::string hooked_code;
  sink_.on_call_end = [&](const deadline::v1::BudgetTrace& trace) {
    ++hooked;
    hooked_code = trace.hops(0).code();
  };
  HopRecord record(sink_, "backend", "Work", "id-4", clock_.Now());
  const absl::Time noticed = clock_.Now() + absl::Milliseconds(4);
  HopEnding cancelled{absl::CancelledError("gone"), Outcome::kCancelled,
                      "the caller cancelled"};
  cancelled.noticed_cancel_at = noticed;
  cancelled.shed = true;
  record.End(cancelled, noticed);
  EXPECT_EQ(record
                .End({absl::OkStatus(), Outcome::kOk, "done"},
                     clock_.Now() + absl::Seconds(1))
                .code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(hooked, 1);
  EXPECT_EQ(hooked_code, "CANCELLED");
  EXPECT_EQ(FromProtoTime(record.hop().noticed_cancel_at()), noticed);
  const StatsSnapshot stats = sink_.stats.Snapshot();
  EXPECT_EQ(stats.cancelled, 1);
  EXPECT_EQ(stats.shed, 1);
  EXPECT_EQ(stats.ok, 0);
}

TEST_F(HopRecordTest, CalledHopsFollowThisOneInOrder) {
  HopRecord record(sink_, "frontend", "FetchAll", "id-5", clock_.Now());
  for (int panel = 0; panel < 3; ++panel) {
    deadline::v1::HopTrace backend;
    backend.set_hop("backend");
    backend.set_panel(panel);
    record.AddCalledHop(backend);
  }
  ASSERT_EQ(record.trace().hops_size(), 4);
  EXPECT_EQ(record.trace().hops(0).hop(), "frontend");
  EXPECT_EQ(record.trace().hops(3).panel(), 2);
}

}  // namespace
}  // namespace deadline
