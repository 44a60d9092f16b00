#include "server/work_request.h"

#include "absl/strings/match.h"
#include "common/time_util.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

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

}  // namespace
}  // namespace deadline
