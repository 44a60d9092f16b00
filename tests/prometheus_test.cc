// A real Prometheus scrapes a backend, a frontend and a frontend with the
// anti-pattern (--propagation=off) while calls run through them, with the
// rules of docs/prometheus loaded; its HTTP API then answers what a
// dashboard would ask.
#include <cmath>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/calls.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/metrics_servers.h"
#include "tests/support/prometheus_server.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ResultsCheck = std::function<bool(const std::vector<QueryResult>&)>;

// The value of the result whose `label` is `value`; NaN if none.
double ValueWhere(const std::vector<QueryResult>& results,
                  const std::string& label, const std::string& value) {
  for (const QueryResult& result : results) {
    const auto it = result.labels.find(label);
    if (it != result.labels.end() && it->second == value) return result.value;
  }
  return std::nan("");
}

std::string Describe(const std::vector<QueryResult>& results) {
  std::vector<std::string> lines;
  for (const QueryResult& result : results) {
    std::vector<std::string> labels;
    for (const auto& [name, value] : result.labels) {
      labels.push_back(absl::StrCat(name, "=", value));
    }
    lines.push_back(
        absl::StrCat("{", absl::StrJoin(labels, ","), "} ", result.value));
  }
  return absl::StrJoin(lines, "; ");
}

class PrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = StartWithMetrics("server/backend/backend", {"--log=none"});
    ASSERT_TRUE(backend_.has_value()) << "the backend did not start";
    const std::string to_backend =
        absl::StrCat("--backend=", backend_->address);
    frontend_ = StartWithMetrics("server/frontend/frontend", {"--log=none", to_backend});
    ASSERT_TRUE(frontend_.has_value()) << "the frontend did not start";
    frontend_off_ = StartWithMetrics(
        "server/frontend/frontend", {"--log=none", to_backend, "--propagation=off"});
    ASSERT_TRUE(frontend_off_.has_value()) << "the frontend did not start";

    PrometheusServer::Options options;
    options.jobs = {{"backend", {backend_->metrics_address}},
                    {"frontend", {frontend_->metrics_address}},
                    {"frontend_off", {frontend_off_->metrics_address}}};
    options.rule_files = {RunfilePath("docs/prometheus/rules.yml")};
    options.dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/prometheus");
    ASSERT_EQ(std::system(absl::StrCat("mkdir -p ", options.dir).c_str()), 0);
    absl::StatusOr<std::unique_ptr<PrometheusServer>> prometheus =
        PrometheusServer::Start(options);
    ASSERT_TRUE(prometheus.ok()) << prometheus.status();
    prometheus_ = *std::move(prometheus);
  }

  void TearDown() override {
    if (prometheus_ != nullptr) {
      // It stops cleanly, and nothing is left running.
      EXPECT_EQ(prometheus_->Stop(), 0) << prometheus_->output();
    }
  }

  // Asks `promql` until `check` holds for its answer or `timeout` passes
  // (scrapes and rule evaluations come every second); returns the last
  // answer, or fails the test and returns nothing.
  std::vector<QueryResult> QueryUntil(
      const std::string& promql, const ResultsCheck& check,
      absl::Duration timeout = absl::Seconds(20)) {
    const absl::Time end = absl::Now() + timeout;
    std::vector<QueryResult> last;
    while (true) {
      absl::StatusOr<std::vector<QueryResult>> results =
          prometheus_->Query(promql);
      if (results.ok()) {
        last = *std::move(results);
        if (check(last)) return last;
      } else {
        ADD_FAILURE() << results.status();
        return {};
      }
      if (absl::Now() >= end) break;
      absl::SleepFor(absl::Milliseconds(250));
    }
    ADD_FAILURE() << promql
                  << " never gave what was expected; last: " << Describe(last);
    return last;
  }

  // Calls through the frontend, each ending one of the three ways, on
  // `threads` threads, and calls the anti-pattern frontend gives up on, for
  // `how_long`.
  void DriveCalls(absl::Duration how_long, int threads) {
    const absl::Time end = absl::Now() + how_long;
    std::vector<std::thread> callers;
    for (int i = 0; i < threads; ++i) {
      callers.emplace_back([this, end] {
        auto stub =
            deadline::v1::Frontend::NewStub(ChannelTo(frontend_->address));
        while (absl::Now() < end) {
          EXPECT_EQ(FetchEnding(*stub, Ending::kOk), grpc::StatusCode::OK);
          EXPECT_EQ(FetchEnding(*stub, Ending::kDeadlineExceeded),
                    grpc::StatusCode::DEADLINE_EXCEEDED);
          EXPECT_EQ(FetchEnding(*stub, Ending::kCancelled),
                    grpc::StatusCode::CANCELLED);
        }
      });
    }
    // The anti-pattern: the client gives up after 100 ms, the backend works
    // its 300 ms through for nobody.
    callers.emplace_back([this, end] {
      auto stub =
          deadline::v1::Frontend::NewStub(ChannelTo(frontend_off_->address));
      deadline::v1::FetchRequest request;
      *request.mutable_work() = Work(15, absl::Milliseconds(20));
      while (absl::Now() < end) {
        FetchCall call(*stub, request, absl::Now() + absl::Milliseconds(100));
        EXPECT_EQ(call.Wait().status.error_code(),
                  grpc::StatusCode::DEADLINE_EXCEEDED);
      }
    });
    for (std::thread& caller : callers) caller.join();
  }

  absl::optional<MetricsServer> backend_;
  absl::optional<MetricsServer> frontend_;
  absl::optional<MetricsServer> frontend_off_;
  std::unique_ptr<PrometheusServer> prometheus_;
};

TEST_F(PrometheusTest, AnswersTheDashboardsQuestions) {
  // Every target is scraped before the calls start.
  QueryUntil("up == 1",
             [](const std::vector<QueryResult>& up) { return up.size() == 3; });
  DriveCalls(absl::Seconds(6), /*threads=*/3);

  // Calls per second by code: all three endings are there.
  const std::vector<QueryResult> by_code = QueryUntil(
      "sum by (code) (rate(deadline_calls_total[30s]))",
      [](const std::vector<QueryResult>& results) {
        for (const char* code : {"OK", "DEADLINE_EXCEEDED", "CANCELLED"}) {
          if (!(ValueWhere(results, "code", code) > 0)) return false;
        }
        return true;
      });
  // No more than were made: each thread's round of three calls takes at
  // least 250 ms, and each call is counted at most at 3 hops.
  const double most = 3 /*threads*/ / 0.25 /*s a round*/ * 3 /*hops*/;
  for (const QueryResult& result : by_code) {
    EXPECT_LT(result.value, most) << Describe(by_code);
  }
  std::cout << "calls/s by code: " << Describe(by_code) << std::endl;

  // The worst stop latency, all hops together: a real number of seconds.
  QueryUntil(
      "histogram_quantile(0.99, sum by (le) "
      "(rate(deadline_stop_latency_seconds_bucket[30s])))",
      [](const std::vector<QueryResult>& results) {
        return results.size() == 1 && results[0].value > 0 &&
               results[0].value < 10;
      });
  // By hop: with propagation, calls stop within milliseconds of their
  // deadline or their caller; without, the frontend waits out its
  // backend's work, 200 ms after its caller left.
  const std::vector<QueryResult> by_job = QueryUntil(
      "histogram_quantile(0.99, sum by (job, le) "
      "(rate(deadline_stop_latency_seconds_bucket[30s])))",
      [](const std::vector<QueryResult>& results) {
        return ValueWhere(results, "job", "frontend_off") > 0.1 &&
               ValueWhere(results, "job", "frontend") >= 0 &&
               ValueWhere(results, "job", "backend") >= 0;
      });
  EXPECT_LT(ValueWhere(by_job, "job", "frontend"), 0.1) << Describe(by_job);
  EXPECT_LT(ValueWhere(by_job, "job", "backend"), 0.1) << Describe(by_job);
  EXPECT_LT(ValueWhere(by_job, "job", "frontend_off"), 0.25)
      << Describe(by_job);
  std::cout << "p99 stop latency (s) by job: " << Describe(by_job) << std::endl;

  // Work for callers that had gone: only where the anti-pattern is.
  const std::vector<QueryResult> wasted =
      QueryUntil("sum by (job) (increase(deadline_wasted_steps_total[30s]))",
                 [](const std::vector<QueryResult>& results) {
                   return ValueWhere(results, "job", "frontend_off") > 0;
                 });
  EXPECT_EQ(ValueWhere(wasted, "job", "frontend"), 0) << Describe(wasted);
  EXPECT_EQ(ValueWhere(wasted, "job", "backend"), 0) << Describe(wasted);
  std::cout << "wasted steps in 30 s by job: " << Describe(wasted) << std::endl;

  // The gauges are scraped too.
  QueryUntil("deadline_calls_in_flight",
             [](const std::vector<QueryResult>& results) {
               return results.size() == 3;
             });
  QueryUntil(
      "deadline_queue_depth", [](const std::vector<QueryResult>& results) {
        return results.size() == 1 && results[0].labels.at("job") == "backend";
      });

  // The rules of docs/prometheus work on the real series: a recording
  // rule, and the anti-pattern's alert, pending (it fires after 5 minutes).
  QueryUntil(
      "job_hop_code:deadline_calls:rate5m{job=\"frontend\",code=\"CANCELLED\"}",
      [](const std::vector<QueryResult>& results) {
        return results.size() == 1 && results[0].value > 0;
      });
  const std::vector<QueryResult> alerts =
      QueryUntil("ALERTS{alertname=\"DeadlineWorkForCallersThatLeft\"}",
                 [](const std::vector<QueryResult>& results) {
                   return ValueWhere(results, "job", "frontend_off") == 1;
                 });
  ASSERT_EQ(alerts.size(), 1u) << Describe(alerts);
  EXPECT_EQ(alerts[0].labels.at("alertstate"), "pending");
  EXPECT_EQ(alerts[0].labels.at("hop"), "frontend");
}

}  // namespace
}  // namespace deadline::testing
