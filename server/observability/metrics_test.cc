#include "server/observability/metrics.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/observability/hop_record.h"
#include "tests/support/prometheus_text.h"

namespace deadline {
namespace {

using ::deadline::testing::ParsePrometheusText;
using ::deadline::testing::Sample;
using ::deadline::testing::SumOf;
using ::deadline::testing::ValueOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;
using Labels = std::map<std::string, std::string>;

// Calls ended through real HopRecords on a fake clock, into a sink whose
// observer is the metrics under test.
class ServerMetricsTest : public ::testing::Test {
 protected:
  ServerMetricsTest() {
    sink_.log = LogMode::kNone;
    sink_.observer = &metrics_;
  }

  std::vector<Sample> Samples() const {
    absl::StatusOr<std::vector<Sample>> samples =
        ParsePrometheusText(metrics_.Text());
    EXPECT_TRUE(samples.ok()) << samples.status();
    return samples.ok() ? *samples : std::vector<Sample>{};
  }
  // The value of the series `name` of method Work with `more` labels.
  absl::optional<double> Work(const std::string& name, Labels more = {}) {
    more["hop"] = "backend";
    more["method"] = "Work";
    return ValueOf(Samples(), name, more);
  }

  // A Work call arriving now with `budget` (InfiniteDuration(): none) and
  // `steps` requested, which runs for `runs` and then ends with `ending`.
  void EndCall(absl::Duration budget, int steps, absl::Duration runs,
               HopEnding ending) {
    const absl::Time arrived = clock_.Now();
    HopRecord record(sink_, "backend", "Work", "id", arrived);
    record.SetDeadline(budget == absl::InfiniteDuration()
                           ? absl::InfiniteFuture()
                           : arrived + budget);
    record.SetStepsRequested(steps);
    clock_.Advance(runs);
    record.End(std::move(ending), clock_.Now());
  }

  FakeClock clock_;
  ServerMetrics metrics_{"backend", {"Work", "WorkStream"}, /*queue=*/true};
  HopSink sink_;
};

TEST_F(ServerMetricsTest, TheServersMethodsReadZeroBeforeAnyCall) {
  for (const std::string method : {"Work", "WorkStream"}) {
    const Labels labels = {{"hop", "backend"}, {"method", method}};
    for (const std::string code : {"OK", "CANCELLED", "DEADLINE_EXCEEDED"}) {
      Labels with_code = labels;
      with_code["code"] = code;
      EXPECT_THAT(ValueOf(Samples(), "deadline_calls_total", with_code),
                  Optional(0.0))
          << method << " " << code;
    }
    for (const std::string name :
         {"deadline_calls_without_deadline_total", "deadline_steps_done_total",
          "deadline_steps_saved_total", "deadline_wasted_steps_total",
          "deadline_calls_shed_total", "deadline_hedges_total",
          "deadline_retried_calls_total",
          "deadline_budget_at_arrival_seconds_count",
          "deadline_stop_latency_seconds_count"}) {
      EXPECT_THAT(ValueOf(Samples(), name, labels), Optional(0.0))
          << method << " " << name;
    }
    for (const std::string reason : {"budget", "overloaded", "invalid"}) {
      Labels with_reason = labels;
      with_reason["reason"] = reason;
      EXPECT_THAT(
          ValueOf(Samples(), "deadline_calls_refused_total", with_reason),
          Optional(0.0));
    }
  }
}

TEST_F(ServerMetricsTest, AnOkCallCountsItsCodeBudgetAndSteps) {
  EndCall(absl::Milliseconds(300), 10, absl::Milliseconds(100),
          {absl::OkStatus(), Outcome::kOk, "done", 10});

  EXPECT_THAT(Work("deadline_calls_total", {{"code", "OK"}}), Optional(1.0));
  EXPECT_THAT(Work("deadline_steps_done_total"), Optional(10.0));
  EXPECT_THAT(Work("deadline_steps_saved_total"), Optional(0.0));
  // 0.3 s lands in the le="0.5" bucket, not in le="0.25".
  EXPECT_THAT(
      Work("deadline_budget_at_arrival_seconds_bucket", {{"le", "0.25"}}),
      Optional(0.0));
  EXPECT_THAT(
      Work("deadline_budget_at_arrival_seconds_bucket", {{"le", "0.5"}}),
      Optional(1.0));
  EXPECT_THAT(Work("deadline_budget_at_arrival_seconds_sum"),
              Optional(::testing::DoubleNear(0.3, 1e-9)));
  // Not stopped: no stop latency.
  EXPECT_THAT(Work("deadline_stop_latency_seconds_count"), Optional(0.0));
}

TEST_F(ServerMetricsTest, ACallStoppedAtItsDeadlineCountsLatencyAndSavedSteps) {
  HopEnding ending{absl::DeadlineExceededError("backend: late"),
                   Outcome::kDeadlineExceeded, "at its deadline", 28,
                   absl::Microseconds(700)};
  EndCall(absl::Milliseconds(300), 100, absl::Milliseconds(298), ending);

  EXPECT_THAT(Work("deadline_calls_total", {{"code", "DEADLINE_EXCEEDED"}}),
              Optional(1.0));
  EXPECT_THAT(Work("deadline_stop_latency_seconds_count"), Optional(1.0));
  EXPECT_THAT(Work("deadline_stop_latency_seconds_bucket", {{"le", "0.0005"}}),
              Optional(0.0));
  EXPECT_THAT(Work("deadline_stop_latency_seconds_bucket", {{"le", "0.001"}}),
              Optional(1.0));
  EXPECT_THAT(Work("deadline_steps_done_total"), Optional(28.0));
  EXPECT_THAT(Work("deadline_steps_saved_total"), Optional(72.0));
  EXPECT_THAT(Work("deadline_wasted_steps_total"), Optional(0.0));
}

TEST_F(ServerMetricsTest, ABucketsUpperBoundIsInclusive) {
  EndCall(absl::Milliseconds(1), 0, absl::ZeroDuration(),
          {absl::OkStatus(), Outcome::kOk, "done"});
  EXPECT_THAT(
      Work("deadline_budget_at_arrival_seconds_bucket", {{"le", "0.001"}}),
      Optional(1.0));
}

TEST_F(ServerMetricsTest, CallsWithoutDeadlineHaveACounterOfTheirOwn) {
  EndCall(absl::InfiniteDuration(), 1, absl::Milliseconds(5),
          {absl::OkStatus(), Outcome::kOk, "done", 1});
  EXPECT_THAT(Work("deadline_calls_without_deadline_total"), Optional(1.0));
  EXPECT_THAT(Work("deadline_budget_at_arrival_seconds_count"), Optional(0.0));
  EXPECT_THAT(Work("deadline_calls_total", {{"code", "OK"}}), Optional(1.0));
}

TEST_F(ServerMetricsTest, ADeadlinePastAtArrivalIsABudgetOfZero) {
  EndCall(-absl::Milliseconds(5), 1, absl::ZeroDuration(),
          {absl::DeadlineExceededError("backend: late"), Outcome::kRejected,
           "fail fast"});
  EXPECT_THAT(
      Work("deadline_budget_at_arrival_seconds_bucket", {{"le", "0.001"}}),
      Optional(1.0));
  EXPECT_THAT(Work("deadline_budget_at_arrival_seconds_sum"), Optional(0.0));
}

TEST_F(ServerMetricsTest, ACallEndedBeforeItsDeadlineWasReadIsInNeither) {
  {
    HopRecord record(sink_, "backend", "Work", "id", clock_.Now());
    record.End({absl::InvalidArgumentError("backend: unparsed"),
                Outcome::kInvalid, "invalid request"},
               clock_.Now());
  }
  EXPECT_THAT(Work("deadline_calls_without_deadline_total"), Optional(0.0));
  EXPECT_THAT(Work("deadline_budget_at_arrival_seconds_count"), Optional(0.0));
  EXPECT_THAT(Work("deadline_calls_total", {{"code", "INVALID_ARGUMENT"}}),
              Optional(1.0));
}

TEST_F(ServerMetricsTest, RefusalsHereAreCountedByReason) {
  EndCall(absl::Milliseconds(1), 50, absl::ZeroDuration(),
          {absl::DeadlineExceededError("backend: too little budget"),
           Outcome::kRejected, "fail fast"});
  EndCall(absl::Seconds(1), 50, absl::ZeroDuration(),
          {absl::ResourceExhaustedError("backend: queue full"),
           Outcome::kOverloaded, "overloaded"});
  EndCall(absl::Seconds(1), 50, absl::ZeroDuration(),
          {absl::InvalidArgumentError("backend: steps"), Outcome::kInvalid,
           "invalid request"});

  EXPECT_THAT(Work("deadline_calls_refused_total", {{"reason", "budget"}}),
              Optional(1.0));
  EXPECT_THAT(Work("deadline_calls_refused_total", {{"reason", "overloaded"}}),
              Optional(1.0));
  EXPECT_THAT(Work("deadline_calls_refused_total", {{"reason", "invalid"}}),
              Optional(1.0));
  EXPECT_THAT(Work("deadline_calls_total", {{"code", "DEADLINE_EXCEEDED"}}),
              Optional(1.0));
  EXPECT_THAT(Work("deadline_calls_total", {{"code", "RESOURCE_EXHAUSTED"}}),
              Optional(1.0));
  // Failing fast saves the steps; refusing for overload or bad input is no
  // saving by the deadline.
  EXPECT_THAT(Work("deadline_steps_saved_total"), Optional(50.0));
  // Refused at once: not stopped work, no stop latency.
  EXPECT_THAT(Work("deadline_stop_latency_seconds_count"), Optional(0.0));
}

TEST_F(ServerMetricsTest, ARefusalByAHopFurtherOnIsNotARefusalHere) {
  ServerMetrics frontend("frontend", {"Fetch"});
  sink_.observer = &frontend;
  {
    HopRecord record(sink_, "frontend", "Fetch", "id", clock_.Now());
    record.SetDeadline(clock_.Now() + absl::Seconds(1));
    deadline::v1::HopTrace backend;
    backend.set_hop("backend");
    backend.set_code("RESOURCE_EXHAUSTED");
    record.AddCalledHop(backend);
    record.End({absl::ResourceExhaustedError("backend: queue full"),
                Outcome::kOverloaded, "backend failed"},
               clock_.Now());
  }
  const std::vector<Sample> samples = *ParsePrometheusText(frontend.Text());
  EXPECT_EQ(SumOf(samples, "deadline_calls_refused_total"), 0);
  EXPECT_THAT(ValueOf(samples, "deadline_calls_total",
                      {{"hop", "frontend"},
                       {"method", "Fetch"},
                       {"code", "RESOURCE_EXHAUSTED"}}),
              Optional(1.0));
}

TEST_F(ServerMetricsTest, ShedCallsAreCountedAndStopped) {
  HopEnding ending{absl::CancelledError("backend: the caller cancelled"),
                   Outcome::kCancelled, "the caller cancelled", 0,
                   absl::ZeroDuration()};
  ending.shed = true;
  ending.noticed_cancel_at = clock_.Now() + absl::Milliseconds(20);
  EndCall(absl::Seconds(1), 10, absl::Milliseconds(20), ending);

  EXPECT_THAT(Work("deadline_calls_shed_total"), Optional(1.0));
  EXPECT_THAT(Work("deadline_calls_total", {{"code", "CANCELLED"}}),
              Optional(1.0));
  EXPECT_THAT(Work("deadline_stop_latency_seconds_count"), Optional(1.0));
  EXPECT_THAT(Work("deadline_steps_saved_total"), Optional(10.0));
}

// The anti-pattern as the frontend sees it: its caller leaves at 200 ms,
// its backend works on until 500 ms and reports all 25 steps done: the
// last 300 ms of 500, 15 steps, were for nobody.
TEST_F(ServerMetricsTest, StepsAfterTheCallerLeftAreWasted) {
  ServerMetrics frontend("frontend", {"Fetch"});
  sink_.observer = &frontend;
  const absl::Time arrived = clock_.Now();
  {
    HopRecord record(sink_, "frontend", "Fetch", "id", arrived);
    record.SetDeadline(arrived + absl::Milliseconds(200));
    record.SetStepsRequested(25);
    clock_.Advance(absl::Milliseconds(500));
    HopEnding ending{absl::DeadlineExceededError("frontend: caller left"),
                     Outcome::kDeadlineExceeded, "the caller went away", 25,
                     absl::Milliseconds(300)};
    ending.noticed_cancel_at = arrived + absl::Milliseconds(200);
    record.End(ending, clock_.Now());
  }
  const std::vector<Sample> samples = *ParsePrometheusText(frontend.Text());
  const Labels fetch = {{"hop", "frontend"}, {"method", "Fetch"}};
  EXPECT_THAT(ValueOf(samples, "deadline_wasted_steps_total", fetch),
              Optional(15.0));
  EXPECT_THAT(ValueOf(samples, "deadline_steps_saved_total", fetch),
              Optional(0.0));
  EXPECT_THAT(ValueOf(samples, "deadline_stop_latency_seconds_sum", fetch),
              Optional(::testing::DoubleNear(0.3, 1e-9)));
}

// With propagation the backend stops within a fraction of a step of the
// caller leaving: nothing is wasted.
TEST_F(ServerMetricsTest, AStopWithinAStepWastesNothing) {
  HopEnding ending{absl::CancelledError("backend: the caller cancelled"),
                   Outcome::kCancelled, "the caller cancelled", 50,
                   absl::Microseconds(400)};
  // 50 steps of 1 ms, then the caller leaves and the call ends 0.9 ms later.
  ending.noticed_cancel_at =
      clock_.Now() + absl::Milliseconds(50) + absl::Microseconds(100);
  EndCall(absl::Seconds(1), 100, absl::Microseconds(51000), ending);
  EXPECT_THAT(Work("deadline_wasted_steps_total"), Optional(0.0));
  EXPECT_THAT(Work("deadline_steps_saved_total"), Optional(50.0));
}

TEST_F(ServerMetricsTest, HedgesAreCountedFromTheTrace) {
  ServerMetrics frontend("frontend", {"Fetch"});
  sink_.observer = &frontend;
  {
    HopRecord record(sink_, "frontend", "Fetch", "id", clock_.Now());
    record.SetDeadline(clock_.Now() + absl::Seconds(1));
    deadline::v1::HopTrace first;
    first.set_hop("backend");
    first.set_code("CANCELLED");
    record.AddCalledHop(first);
    deadline::v1::HopTrace hedge = first;
    hedge.set_code("OK");
    hedge.set_hedge(true);
    record.AddCalledHop(hedge);
    record.End({absl::OkStatus(), Outcome::kOk, "done", 3}, clock_.Now());
  }
  EXPECT_THAT(
      ValueOf(*ParsePrometheusText(frontend.Text()), "deadline_hedges_total",
              {{"hop", "frontend"}, {"method", "Fetch"}}),
      Optional(1.0));
}

TEST_F(ServerMetricsTest, CallsThatArriveAsRetriesAreCounted) {
  ServerMetrics backend("backend", {"Work"});
  sink_.observer = &backend;
  for (int attempt : {1, 2, 3}) {
    HopRecord record(sink_, "backend", "Work", "id", clock_.Now());
    record.SetDeadline(clock_.Now() + absl::Seconds(1));
    record.SetAttempt(attempt);
    record.End({absl::OkStatus(), Outcome::kOk, "done", 1}, clock_.Now());
  }
  // The first attempt is no retry; the second and third are.
  EXPECT_THAT(ValueOf(*ParsePrometheusText(backend.Text()),
                      "deadline_retried_calls_total",
                      {{"hop", "backend"}, {"method", "Work"}}),
              Optional(2.0));
}

TEST_F(ServerMetricsTest, AnotherMethodGetsSeriesOnFirstUse) {
  {
    HopRecord record(sink_, "backend", "Other", "id", clock_.Now());
    record.SetDeadline(absl::InfiniteFuture());
    record.End(
        {absl::UnavailableError("backend: gone"), Outcome::kFailed, "failed"},
        clock_.Now());
  }
  EXPECT_THAT(
      ValueOf(
          Samples(), "deadline_calls_total",
          {{"hop", "backend"}, {"method", "Other"}, {"code", "UNAVAILABLE"}}),
      Optional(1.0));
}

// One source, two views: after any sequence of calls, the metrics and the
// sink's CallStats (what Stats serves) agree.
TEST_F(ServerMetricsTest, TheMetricsAndStatsAgree) {
  EndCall(absl::Milliseconds(300), 10, absl::Milliseconds(100),
          {absl::OkStatus(), Outcome::kOk, "done", 10});
  EndCall(absl::Milliseconds(300), 100, absl::Milliseconds(298),
          {absl::DeadlineExceededError("late"), Outcome::kDeadlineExceeded,
           "at its deadline", 29, absl::Microseconds(30)});
  HopEnding shed{absl::CancelledError("gone"), Outcome::kCancelled,
                 "the caller cancelled"};
  shed.shed = true;
  EndCall(absl::Seconds(2), 7, absl::Milliseconds(3), shed);
  EndCall(absl::Milliseconds(1), 50, absl::ZeroDuration(),
          {absl::DeadlineExceededError("fail fast"), Outcome::kRejected,
           "fail fast"});
  EndCall(absl::InfiniteDuration(), 4, absl::Milliseconds(40),
          {absl::OkStatus(), Outcome::kOk, "done", 4});

  const StatsSnapshot stats = sink_.stats.Snapshot();
  const std::vector<Sample> samples = Samples();
  EXPECT_EQ(SumOf(samples, "deadline_calls_total"),
            stats.ok + stats.deadline_exceeded + stats.cancelled +
                stats.rejected + stats.invalid + stats.overloaded +
                stats.failed);
  EXPECT_EQ(SumOf(samples, "deadline_calls_total", {{"code", "OK"}}), stats.ok);
  EXPECT_EQ(SumOf(samples, "deadline_steps_done_total"), stats.steps_done);
  EXPECT_EQ(SumOf(samples, "deadline_calls_shed_total"), stats.shed);
  EXPECT_EQ(
      SumOf(samples, "deadline_calls_refused_total", {{"reason", "budget"}}),
      stats.rejected);
  EXPECT_EQ(stats.started, 5);
}

TEST_F(ServerMetricsTest, GaugesAreReadAtCollectionTime) {
  StatsSnapshot now;
  metrics_.ReadGaugesFrom([&now] { return now; });
  now.in_flight = 3;
  now.queue_depth = 7;
  EXPECT_THAT(
      ValueOf(Samples(), "deadline_calls_in_flight", {{"hop", "backend"}}),
      Optional(3.0));
  EXPECT_THAT(ValueOf(Samples(), "deadline_queue_depth", {{"hop", "backend"}}),
              Optional(7.0));
  now.in_flight = 1;
  EXPECT_THAT(
      ValueOf(Samples(), "deadline_calls_in_flight", {{"hop", "backend"}}),
      Optional(1.0));
}

TEST(ServerMetricsWithoutQueueTest, HasNoQueueDepth) {
  ServerMetrics metrics("frontend", {"Fetch"});
  metrics.ReadGaugesFrom([] { return StatsSnapshot{}; });
  EXPECT_THAT(metrics.Text(), HasSubstr("deadline_calls_in_flight"));
  EXPECT_THAT(metrics.Text(), Not(HasSubstr("deadline_queue_depth")));
}

}  // namespace
}  // namespace deadline
