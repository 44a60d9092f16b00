#include "server/deadline/work_request.h"

#include "absl/strings/match.h"
#include "common/time_util.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

using ::deadline::v1::FetchAllRequest;
using ::deadline::v1::WorkRequest;

WorkRequest Request(int steps, absl::Duration step) {
  WorkRequest request;
  request.set_steps(steps);
  ToProtoDuration(step, request.mutable_step_duration());
  return request;
}

// Expects INVALID_ARGUMENT whose message contains each of `parts`.
void ExpectInvalid(const WorkRequest& request,
                   std::initializer_list<absl::string_view> parts,
                   absl::string_view prefix = "") {
  const auto spec = ParseWorkRequest(request, WorkLimits{}, prefix);
  ASSERT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument)
      << spec.status();
  for (absl::string_view part : parts) {
    EXPECT_TRUE(absl::StrContains(spec.status().message(), part))
        << spec.status().message() << " lacks " << part;
  }
}

TEST(ParseWorkRequestTest, AcceptsValidRequest) {
  WorkRequest request = Request(100, absl::Milliseconds(10));
  request.set_kind(deadline::v1::WORK_KIND_SPIN);
  const auto spec = ParseWorkRequest(request, WorkLimits{});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->steps, 100);
  EXPECT_EQ(spec->step, absl::Milliseconds(10));
  EXPECT_TRUE(spec->spin);
}

TEST(ParseWorkRequestTest, UnspecifiedKindIsSleepLike) {
  const auto spec =
      ParseWorkRequest(Request(1, absl::Milliseconds(1)), WorkLimits{});
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE(spec->spin);
}

TEST(ParseWorkRequestTest, EmptyRequestIsNoWork) {
  const auto spec = ParseWorkRequest(WorkRequest(), WorkLimits{});
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->steps, 0);
}

TEST(ParseWorkRequestTest, RejectsNegativeSteps) {
  ExpectInvalid(Request(-1, absl::Milliseconds(1)), {"steps", "100000", "-1"});
}

TEST(ParseWorkRequestTest, RejectsTooManySteps) {
  ExpectInvalid(Request(2'000'000'000, absl::ZeroDuration()),
                {"steps", "100000"});
}

TEST(ParseWorkRequestTest, RejectsNegativeStepDuration) {
  ExpectInvalid(Request(1, -absl::Milliseconds(5)), {"step_duration", "10s"});
}

TEST(ParseWorkRequestTest, RejectsTooLongStep) {
  ExpectInvalid(Request(1, absl::Hours(1)), {"step_duration", "10s", "1h"});
}

TEST(ParseWorkRequestTest, RejectsAbsurdDurationWithoutOverflow) {
  WorkRequest request = Request(100'000, absl::ZeroDuration());
  request.mutable_step_duration()->set_seconds(315'576'000'000);
  ExpectInvalid(request, {"step_duration"});
}

TEST(ParseWorkRequestTest, RejectsMalformedDuration) {
  WorkRequest request = Request(1, absl::ZeroDuration());
  request.mutable_step_duration()->set_nanos(-1'500'000'000);
  ExpectInvalid(request, {"step_duration"});
}

TEST(ParseWorkRequestTest, RejectsTooMuchWorkInTotal) {
  ExpectInvalid(Request(100'000, absl::Seconds(10)),
                {"steps * step_duration", "5m"});
}

TEST(ParseWorkRequestTest, RejectsUnknownKind) {
  WorkRequest request = Request(1, absl::Milliseconds(1));
  request.set_kind(static_cast<deadline::v1::WorkKind>(42));
  ExpectInvalid(request, {"kind", "42"});
}

TEST(ParseWorkRequestTest, FieldNamesCarryThePrefix) {
  ExpectInvalid(Request(-1, absl::Milliseconds(1)), {"work.steps"}, "work.");
}

FetchAllRequest FetchAll(int panels) {
  FetchAllRequest request;
  for (int i = 0; i < panels; ++i) {
    *request.add_panels() = Request(10, absl::Milliseconds(10));
  }
  return request;
}

TEST(ValidateFetchAllRequestTest, AcceptsPanelsUpToTheLimitInEitherMode) {
  FetchAllRequest request = FetchAll(16);
  EXPECT_TRUE(ValidateFetchAllRequest(request, WorkLimits{}, 16).ok());
  request.set_mode(deadline::v1::FAN_OUT_MODE_PARTIAL);
  EXPECT_TRUE(ValidateFetchAllRequest(request, WorkLimits{}, 16).ok());
  request.set_mode(deadline::v1::FAN_OUT_MODE_ALL_OR_NOTHING);
  EXPECT_TRUE(ValidateFetchAllRequest(request, WorkLimits{}, 16).ok());
}

TEST(ValidateFetchAllRequestTest, NoPanelsIsValid) {
  EXPECT_TRUE(ValidateFetchAllRequest(FetchAll(0), WorkLimits{}, 16).ok());
}

TEST(ValidateFetchAllRequestTest, RejectsTooManyPanels) {
  const absl::Status status =
      ValidateFetchAllRequest(FetchAll(17), WorkLimits{}, 16);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "panels must be at most 16, got 17");
}

TEST(ValidateFetchAllRequestTest, TheLimitIsTheCallersChoice) {
  EXPECT_EQ(ValidateFetchAllRequest(FetchAll(3), WorkLimits{}, 2).message(),
            "panels must be at most 2, got 3");
}

TEST(ValidateFetchAllRequestTest, RejectsUnknownMode) {
  FetchAllRequest request = FetchAll(1);
  request.set_mode(static_cast<deadline::v1::FanOutMode>(9));
  const absl::Status status =
      ValidateFetchAllRequest(request, WorkLimits{}, 16);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "mode must be a FanOutMode, got 9");
}

TEST(ValidateFetchAllRequestTest, CountsPanelsBeforeLookingAtTheMode) {
  FetchAllRequest request = FetchAll(17);
  request.set_mode(static_cast<deadline::v1::FanOutMode>(9));
  EXPECT_EQ(ValidateFetchAllRequest(request, WorkLimits{}, 16).message(),
            "panels must be at most 16, got 17");
}

TEST(ValidateFetchAllRequestTest, NamesTheFirstBadPanelByIndex) {
  FetchAllRequest request = FetchAll(4);
  request.mutable_panels(2)->set_steps(-1);
  request.mutable_panels(3)->set_steps(-1);
  const absl::Status status =
      ValidateFetchAllRequest(request, WorkLimits{}, 16);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "panels[2].steps must be between 0 and 100000, got -1");
}

TEST(ValidateFetchAllRequestTest, AppliesTheWorkLimitsToEachPanel) {
  FetchAllRequest request = FetchAll(2);
  WorkLimits limits;
  limits.max_step = absl::Milliseconds(5);
  const absl::Status status = ValidateFetchAllRequest(request, limits, 16);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "panels[0].step_duration"))
      << status.message();
  EXPECT_TRUE(absl::StrContains(status.message(), "5ms")) << status.message();
}

}  // namespace
}  // namespace deadline
