// Frontend.FetchAll over three real backends in this process.
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "client/calls.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/deadline/budget.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::v1::FAN_OUT_MODE_ALL_OR_NOTHING;
using ::deadline::v1::FAN_OUT_MODE_PARTIAL;
using ::deadline::v1::FanOutMode;
using ::deadline::v1::FetchAllRequest;
using ::deadline::v1::WorkRequest;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Each test runs against both backends: callback API and sync API.
class FanOutTest : public ::testing::TestWithParam<BackendApi> {
 protected:
  FanOutTest()
      : backends_{TestBackend(GetParam()), TestBackend(GetParam()),
                  TestBackend(GetParam())},
        frontend_(std::vector<std::string>{backends_[0].address(),
                                           backends_[1].address(),
                                           backends_[2].address()},
                  RoomyReserve()) {}

  // A margin wide enough for a busy machine: the frontend's answer must
  // beat the client's own timer for a partial fan-out to answer OK.
  static FrontendOptions RoomyReserve() {
    FrontendOptions options;
    options.budget.reserve = absl::Milliseconds(40);
    return options;
  }

  static FetchAllRequest Request(FanOutMode mode,
                                 const std::vector<WorkRequest>& panels) {
    FetchAllRequest request;
    request.set_mode(mode);
    for (const WorkRequest& panel : panels) *request.add_panels() = panel;
    return request;
  }

  FetchAllOutcome FetchAll(const FetchAllRequest& request,
                           absl::Duration timeout) {
    FetchAllCall call(frontend_.stub(), request, absl::Now() + timeout);
    return call.Wait();
  }

  bool AllBusy() {
    for (const TestBackend& backend : backends_) {
      if (backend.stats().in_flight != 1) return false;
    }
    return true;
  }

  TestBackend backends_[3];
  TestFrontend frontend_;
};

INSTANTIATE_TEST_SUITE_P(Backends, FanOutTest,
                         ::testing::Values(BackendApi::kCallback,
                                           BackendApi::kSync),
                         [](const auto& info) { return ApiName(info.param); });

const WorkRequest kQuick = Work(5, absl::Milliseconds(10));   // 50 ms
const WorkRequest kSlow = Work(100, absl::Milliseconds(10));  // 1 s

TEST_P(FanOutTest, PartialAnswersInTimeWithTheSlowPanelTimedOut) {
  const FetchAllOutcome outcome =
      FetchAll(Request(FAN_OUT_MODE_PARTIAL, {kQuick, kQuick, kSlow}),
               absl::Milliseconds(400));
  // OK at all means the answer beat the client's 400 ms deadline.
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_EQ(outcome.reply.panels_size(), 3);
  for (int i : {0, 1}) {
    const auto& panel = outcome.reply.panels(i);
    EXPECT_EQ(panel.code(), 0) << panel.message();
    EXPECT_EQ(panel.reply().steps_done(), 5);
    EXPECT_EQ(panel.backend(), backends_[i].address());
  }
  const auto& slow = outcome.reply.panels(2);
  EXPECT_EQ(slow.code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(slow.reply().steps_done(), 100);
  // Every panel got the caller's budget less the reserve, and reports it.
  const absl::Duration forwarded = ToDuration(outcome.reply.budget_forwarded());
  EXPECT_EQ(ToDuration(slow.budget_forwarded()), forwarded);
  // The slow panel used what it was given: the backend stops at what
  // arrived less its arrival slack and its 2 ms reserve.
  EXPECT_GE(ToDuration(slow.elapsed()),
            forwarded - ArrivalSlack(forwarded) - absl::Milliseconds(2 + 5));

  ASSERT_TRUE(backends_[2].WaitForEnded(1));
  EXPECT_EQ(
      backends_[2].stats().deadline_exceeded + backends_[2].stats().cancelled,
      1);
  EXPECT_LT(backends_[2].stats().steps_done, 60);
}

TEST_P(FanOutTest, AllOrNothingFirstFailureCancelsTheSiblings) {
  FetchAllCall call(frontend_.stub(),
                    Request(FAN_OUT_MODE_ALL_OR_NOTHING, {kSlow, kSlow, kSlow}),
                    absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(WaitUntil([&] { return AllBusy(); }));
  // A short-lived backend: panel 2's backend goes away mid-call.
  backends_[2].Stop(absl::ZeroDuration());

  const FetchAllOutcome& outcome = call.Wait();
  EXPECT_FALSE(outcome.status.ok());
  EXPECT_NE(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(
      outcome.status.error_message(),
      AllOf(HasSubstr("panel 2 of 3"), HasSubstr("siblings were cancelled")));
  EXPECT_LT(outcome.elapsed, absl::Seconds(3));
  // The trace tells the story: the siblings were cancelled from here.
  ASSERT_TRUE(outcome.trace.has_value());
  ASSERT_EQ(outcome.trace->hops_size(), 4);
  EXPECT_THAT(outcome.trace->hops(0).stop(), HasSubstr("panel 2 failed"));
  for (int hop : {1, 2}) {
    EXPECT_EQ(outcome.trace->hops(hop).code(), "CANCELLED");
    EXPECT_EQ(outcome.trace->hops(hop).panel(), hop - 1);
    EXPECT_TRUE(outcome.trace->hops(hop).has_noticed_cancel_at());
    EXPECT_EQ(outcome.trace->hops(hop).stop(),
              "cancelled here: panel 2 failed first");
  }
  for (int i : {0, 1}) {
    EXPECT_TRUE(backends_[i].WaitForEnded(1)) << "backend " << i;
    EXPECT_EQ(backends_[i].stats().cancelled, 1) << "backend " << i;
    EXPECT_LT(backends_[i].stats().steps_done, 100);
  }
}

TEST_P(FanOutTest, AllOrNothingWithAnInvalidPanelCallsNoBackend) {
  const FetchAllOutcome outcome =
      FetchAll(Request(FAN_OUT_MODE_ALL_OR_NOTHING,
                       {kQuick, Work(1, absl::Hours(1)), kQuick}),
               absl::Seconds(5));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(outcome.status.error_message(),
              AllOf(HasSubstr("panels[1].step_duration"), HasSubstr("10s")));
  for (const TestBackend& backend : backends_) {
    EXPECT_EQ(backend.stats().started, 0);
  }
  EXPECT_TRUE(WaitUntil([&] { return frontend_.stats().invalid == 1; }));
}

TEST_P(FanOutTest, TooManyPanelsOrAnUnknownModeIsInvalid) {
  FetchAllOutcome outcome = FetchAll(
      Request(FAN_OUT_MODE_PARTIAL, std::vector<WorkRequest>(17, kQuick)),
      absl::Seconds(5));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(outcome.status.error_message(), HasSubstr("at most 16, got 17"));

  outcome =
      FetchAll(Request(static_cast<FanOutMode>(9), {kQuick}), absl::Seconds(5));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(outcome.status.error_message(), HasSubstr("mode"));
}

TEST_P(FanOutTest, ClientCancellationReachesEveryBackend) {
  FetchAllCall call(frontend_.stub(),
                    Request(FAN_OUT_MODE_PARTIAL, {kSlow, kSlow, kSlow}),
                    absl::InfiniteFuture());
  ASSERT_TRUE(WaitUntil([&] { return AllBusy(); }));
  call.Cancel();
  EXPECT_EQ(call.Wait().status.error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(backends_[i].WaitForEnded(1)) << "backend " << i;
    EXPECT_EQ(backends_[i].stats().cancelled, 1) << "backend " << i;
  }
  EXPECT_TRUE(WaitUntil([&] { return frontend_.stats().cancelled == 1; }));
}

TEST_P(FanOutTest, PanelsAreSpreadOverTheBackends) {
  const FetchAllOutcome outcome = FetchAll(
      Request(FAN_OUT_MODE_ALL_OR_NOTHING,
              std::vector<WorkRequest>(6, Work(1, absl::Milliseconds(1)))),
      absl::Seconds(5));
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(backends_[i].stats().ok, 2);
    EXPECT_EQ(outcome.reply.panels(i + 3).backend(), backends_[i].address());
  }
}

TEST_P(FanOutTest, NoPanelsIsAnEmptySuccess) {
  const FetchAllOutcome outcome =
      FetchAll(Request(FAN_OUT_MODE_ALL_OR_NOTHING, {}), absl::Seconds(5));
  EXPECT_TRUE(outcome.status.ok());
  EXPECT_EQ(outcome.reply.panels_size(), 0);
}

}  // namespace
}  // namespace deadline::testing
