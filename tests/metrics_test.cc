// The real binaries' /metrics, after real calls: promtool accepts both
// servers' output, and the metrics agree with what Stats says.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/metrics_servers.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Optional;

// Runs `promtool check metrics` on `text`; returns its exit status (-1: it
// did not run) and its output.
int PromtoolCheckMetrics(const std::string& text, std::string* output) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  static int files = 0;
  const std::string path =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/metrics-", ++files, ".txt");
  std::ofstream(path) << text;
  auto promtool = Subprocess::Start(
      {"/bin/sh", "-c", absl::StrCat("exec promtool check metrics < ", path)});
  if (promtool == nullptr) return -1;
  const absl::optional<int> status = promtool->Wait(absl::Seconds(30));
  *output = promtool->output();
  return status.value_or(-1);
}

class MetricsBinariesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = StartWithMetrics("server/backend/backend", {"--log=none"});
    ASSERT_TRUE(backend_.has_value()) << "the backend did not start";
    frontend_ = StartWithMetrics(
        "server/frontend/frontend",
        {"--log=none", absl::StrCat("--backend=", backend_->address)});
    ASSERT_TRUE(frontend_.has_value()) << "the frontend did not start";
    frontend_stub_ =
        deadline::v1::Frontend::NewStub(ChannelTo(frontend_->address));
    backend_stub_ =
        deadline::v1::Backend::NewStub(ChannelTo(backend_->address));
  }

  // Three calls OK, two past their deadline, two cancelled through the
  // chain, and two straight to the backend without a deadline.
  void DriveCalls() {
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(FetchEnding(*frontend_stub_, Ending::kOk),
                grpc::StatusCode::OK);
    }
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(FetchEnding(*frontend_stub_, Ending::kDeadlineExceeded),
                grpc::StatusCode::DEADLINE_EXCEEDED);
      EXPECT_EQ(FetchEnding(*frontend_stub_, Ending::kCancelled),
                grpc::StatusCode::CANCELLED);
      EXPECT_EQ(WorkWithoutDeadline(*backend_stub_), grpc::StatusCode::OK);
    }
    // Each server counts a call as it ends, which may be just after the
    // client saw its answer.
    EXPECT_TRUE(WaitUntil([&] {
      const deadline::v1::StatsReply frontend = FetchStats(frontend_->address);
      const deadline::v1::StatsReply backend = FetchStats(backend_->address);
      return frontend.calls_started() == 7 && frontend.calls_in_flight() == 0 &&
             backend.calls_started() == 9 && backend.calls_in_flight() == 0;
    }));
  }

  absl::optional<MetricsServer> backend_;
  absl::optional<MetricsServer> frontend_;
  std::unique_ptr<deadline::v1::Frontend::Stub> frontend_stub_;
  std::unique_ptr<deadline::v1::Backend::Stub> backend_stub_;
};

TEST_F(MetricsBinariesTest, PromtoolAcceptsBothServersMetrics) {
  DriveCalls();
  for (const MetricsServer* server : {&*backend_, &*frontend_}) {
    const absl::StatusOr<std::string> text =
        ScrapeText(server->metrics_address);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_THAT(*text, HasSubstr("deadline_calls_total{"));
    EXPECT_THAT(*text, HasSubstr("deadline_stop_latency_seconds_bucket{"));
    std::string output;
    EXPECT_EQ(PromtoolCheckMetrics(*text, &output), 0)
        << output << "\n--- the metrics:\n"
        << *text;
    EXPECT_EQ(output, "") << "promtool's remarks on " << server->address;
  }
}

// promtool does find fault: a counter without _total, and a name in
// milliseconds.
TEST(PromtoolTest, RejectsMetricsAgainstTheConventions) {
  std::string output;
  EXPECT_NE(PromtoolCheckMetrics("# HELP calls Calls.\n"
                                 "# TYPE calls counter\n"
                                 "calls 1\n"
                                 "# HELP latency_milliseconds Latency.\n"
                                 "# TYPE latency_milliseconds gauge\n"
                                 "latency_milliseconds 3\n",
                                 &output),
            0);
  EXPECT_THAT(output, HasSubstr("_total"));
  EXPECT_THAT(output, HasSubstr("use base unit \"seconds\""));
}

// One source, two views: each server's metrics say what its Stats says.
TEST_F(MetricsBinariesTest, TheMetricsAgreeWithStats) {
  DriveCalls();
  const absl::StatusOr<std::vector<Sample>> frontend =
      Scrape(frontend_->metrics_address);
  const absl::StatusOr<std::vector<Sample>> backend =
      Scrape(backend_->metrics_address);
  ASSERT_TRUE(frontend.ok()) << frontend.status();
  ASSERT_TRUE(backend.ok()) << backend.status();
  const deadline::v1::StatsReply frontend_stats =
      FetchStats(frontend_->address);
  const deadline::v1::StatsReply backend_stats = FetchStats(backend_->address);

  for (const auto& [samples, stats] : {std::pair(&*frontend, &frontend_stats),
                                       std::pair(&*backend, &backend_stats)}) {
    EXPECT_EQ(SumOf(*samples, "deadline_calls_total"), stats->calls_started());
    EXPECT_EQ(SumOf(*samples, "deadline_calls_total", {{"code", "OK"}}),
              stats->calls_ok());
    EXPECT_EQ(SumOf(*samples, "deadline_calls_total", {{"code", "CANCELLED"}}),
              stats->calls_cancelled());
    EXPECT_EQ(SumOf(*samples, "deadline_calls_total",
                    {{"code", "DEADLINE_EXCEEDED"}}),
              stats->calls_deadline_exceeded() + stats->calls_rejected());
    EXPECT_EQ(SumOf(*samples, "deadline_steps_done_total"),
              stats->steps_done());
    EXPECT_EQ(SumOf(*samples, "deadline_calls_shed_total"),
              stats->calls_shed());
    EXPECT_EQ(SumOf(*samples, "deadline_calls_in_flight"),
              stats->calls_in_flight());
  }

  // What each hop saw, by method and code.
  const std::map<std::string, std::string> fetch = {{"hop", "frontend"},
                                                    {"method", "Fetch"}};
  auto with = [](std::map<std::string, std::string> labels,
                 const std::string& key, const std::string& value) {
    labels[key] = value;
    return labels;
  };
  EXPECT_THAT(
      ValueOf(*frontend, "deadline_calls_total", with(fetch, "code", "OK")),
      Optional(3.0));
  EXPECT_THAT(ValueOf(*frontend, "deadline_calls_total",
                      with(fetch, "code", "DEADLINE_EXCEEDED")),
              Optional(2.0));
  EXPECT_THAT(ValueOf(*frontend, "deadline_calls_total",
                      with(fetch, "code", "CANCELLED")),
              Optional(2.0));
  // Every Fetch had a deadline; the direct calls to the backend had none.
  EXPECT_THAT(
      ValueOf(*frontend, "deadline_budget_at_arrival_seconds_count", fetch),
      Optional(7.0));
  EXPECT_THAT(ValueOf(*backend, "deadline_calls_without_deadline_total",
                      {{"hop", "backend"}, {"method", "Work"}}),
              Optional(2.0));
  // Four calls were stopped at each hop, and both hops saved steps.
  EXPECT_THAT(ValueOf(*frontend, "deadline_stop_latency_seconds_count", fetch),
              Optional(4.0));
  EXPECT_EQ(SumOf(*backend, "deadline_stop_latency_seconds_count"), 4);
  EXPECT_GT(SumOf(*backend, "deadline_steps_saved_total"), 0);
  EXPECT_GT(SumOf(*frontend, "deadline_steps_saved_total"), 0);
  // With propagation, no work is done for callers that left.
  EXPECT_EQ(SumOf(*frontend, "deadline_wasted_steps_total"), 0);
  EXPECT_EQ(SumOf(*backend, "deadline_wasted_steps_total"), 0);
  // Only the callback backend has a queue.
  EXPECT_THAT(ValueOf(*backend, "deadline_queue_depth", {{"hop", "backend"}}),
              Optional(0.0));
  EXPECT_FALSE(ValueOf(*frontend, "deadline_queue_depth", {{"hop", "frontend"}})
                   .has_value());
}

TEST_F(MetricsBinariesTest, ShutdownStopsTheMetricsWithoutDelay) {
  frontend_->process->Signal(SIGTERM);
  EXPECT_THAT(frontend_->process->Wait(absl::Seconds(10)), Optional(0));
  backend_->process->Signal(SIGTERM);
  const absl::Time signalled = absl::Now();
  EXPECT_THAT(backend_->process->Wait(absl::Seconds(10)), Optional(0));
  // The default drain is 200 ms; the metrics add no wait of their own.
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(1.5));
  EXPECT_FALSE(Scrape(backend_->metrics_address).ok());
}

// A hedge that wins an OK Fetch whose caller wants no trace is counted too.
TEST(HedgeMetricsTest, TheFrontendCountsItsHedges) {
  absl::optional<MetricsServer> slow =
      StartWithMetrics("server/backend/backend", {"--log=none", "--slowdown=20"});
  absl::optional<MetricsServer> fast =
      StartWithMetrics("server/backend/backend", {"--log=none"});
  ASSERT_TRUE(slow.has_value() && fast.has_value());
  absl::optional<MetricsServer> frontend = StartWithMetrics(
      "server/frontend/frontend",
      {"--log=none", "--hedge_after=30ms",
       absl::StrCat("--backend=", slow->address, ",", fast->address)});
  ASSERT_TRUE(frontend.has_value());

  // The first Fetch goes to the slow backend (5 steps of 200 ms), and its
  // hedge, 30 ms later, to the fast one (5 of 10 ms), which wins.
  auto stub = deadline::v1::Frontend::NewStub(ChannelTo(frontend->address));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  deadline::v1::FetchRequest request;
  *request.mutable_work() = Work(5, absl::Milliseconds(10));
  deadline::v1::FetchReply reply;
  ASSERT_TRUE(stub->Fetch(&context, request, &reply).ok());
  EXPECT_EQ(reply.backend().steps_done(), 5);

  const std::map<std::string, std::string> fetch = {{"hop", "frontend"},
                                                    {"method", "Fetch"}};
  EXPECT_TRUE(WaitUntil([&] {
    const absl::StatusOr<std::vector<Sample>> samples =
        Scrape(frontend->metrics_address);
    return samples.ok() &&
           ValueOf(*samples, "deadline_hedges_total", fetch) == 1.0;
  }));
  // The slow backend's call was cancelled when the hedge won.
  EXPECT_TRUE(WaitUntil([&] {
    const absl::StatusOr<std::vector<Sample>> samples =
        Scrape(slow->metrics_address);
    return samples.ok() && SumOf(*samples, "deadline_calls_total",
                                 {{"code", "CANCELLED"}}) == 1;
  }));
}

TEST(MetricsFlagTest, WithoutItNoMetricsAreServed) {
  std::string address;
  std::unique_ptr<Subprocess> backend = StartServerProcess(
      {RunfilePath("server/backend/backend"), "--log=none"}, &address);
  ASSERT_NE(backend, nullptr);
  EXPECT_THAT(backend->output(), Not(HasSubstr("metrics on")));
}

TEST(MetricsFlagTest, AMalformedAddressIsAUsageError) {
  for (const char* binary : {"server/backend/backend", "server/frontend/frontend"}) {
    auto server = Subprocess::Start(
        {RunfilePath(binary), "--metrics_listen=9100", "--listen=127.0.0.1:0"});
    ASSERT_NE(server, nullptr);
    EXPECT_THAT(server->Wait(absl::Seconds(20)), Optional(2)) << binary;
    EXPECT_THAT(server->output(), HasSubstr("--metrics_listen must be"))
        << binary;
  }
}

TEST(MetricsFlagTest, AMetricsPortInUseStopsTheServerBeforeItServes) {
  absl::optional<MetricsServer> first =
      StartWithMetrics("server/backend/backend", {"--log=none"});
  ASSERT_TRUE(first.has_value());
  auto second = Subprocess::Start(
      {RunfilePath("server/backend/backend"), "--listen=127.0.0.1:0",
       absl::StrCat("--metrics_listen=", first->metrics_address)});
  ASSERT_NE(second, nullptr);
  EXPECT_THAT(second->Wait(absl::Seconds(20)), Optional(1));
  EXPECT_THAT(second->output(),
              HasSubstr(absl::StrCat("cannot serve metrics on ",
                                     first->metrics_address)));
  EXPECT_THAT(second->output(), Not(HasSubstr("listening on")));
}

}  // namespace
}  // namespace deadline::testing
