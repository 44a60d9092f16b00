// Retries inside the caller's budget, by gRPC's own retry policy (gRFC A6)
// on the frontend's backend channel, against a backend that refuses a share
// of its calls on purpose (--fail_rate, a test aid).
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "client/calls.h"
#include "gtest/gtest.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::v1::FetchRequest;

BackendOptions Failing(double rate) {
  BackendOptions options;
  options.fail_rate = rate;
  options.log = LogMode::kNone;
  return options;
}

// A fresh frontend per test: retry throttling keeps its tokens per process
// and target.
FrontendOptions Retrying(int attempts) {
  FrontendOptions options;
  options.channels.max_attempts = attempts;
  options.log = LogMode::kNone;
  return options;
}

// Runs `n` quick Fetch calls one after another; returns how many were OK.
int OkOf(TestFrontend& frontend, int n) {
  FetchRequest request;
  *request.mutable_work() = Work(1, absl::ZeroDuration());
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    FetchCall call(frontend.stub(), request, absl::Now() + absl::Seconds(5));
    ok += call.Wait().status.ok();
  }
  return ok;
}

TEST(RetryTest, WithRetriesNearlyEveryCallSucceedsAtAHalfFailureRate) {
  TestBackend backend(Failing(0.5));
  TestFrontend frontend(backend.address(), Retrying(4));
  const int ok = OkOf(frontend, 200);
  // One call in 16 fails four times in a row; throttling lets the retries
  // go on at this rate.
  EXPECT_GT(ok, 170) << ok << " of 200";
  // The backend saw the retries: more calls than the frontend made.
  EXPECT_GT(backend.stats().started, 250);
}

TEST(RetryTest, WithoutRetriesAboutHalfFail) {
  TestBackend backend(Failing(0.5));
  TestFrontend frontend(backend.address(), Retrying(1));
  const int ok = OkOf(frontend, 200);
  EXPECT_GT(ok, 60);
  EXPECT_LT(ok, 140);
  EXPECT_EQ(backend.stats().started, 200);
}

TEST(RetryTest, EveryAttemptLivesInsideTheOneDeadlineAndTheTraceCountsThem) {
  TestBackend backend(Failing(1));
  FrontendOptions options = Retrying(5);
  options.channels.initial_backoff = absl::Milliseconds(5);
  options.channels.max_backoff = absl::Milliseconds(20);
  TestFrontend frontend(backend.address(), options);
  FetchRequest request;
  *request.mutable_work() = Work(1, absl::ZeroDuration());
  FetchCall call(frontend.stub(), request,
                 absl::Now() + absl::Milliseconds(300));
  const FetchOutcome& outcome = call.Wait();
  // Every attempt was refused: the last refusal, or the deadline, ends it.
  EXPECT_TRUE(outcome.status.error_code() == grpc::StatusCode::UNAVAILABLE ||
              outcome.status.error_code() ==
                  grpc::StatusCode::DEADLINE_EXCEEDED)
      << outcome.status.error_message();
  EXPECT_LT(outcome.elapsed, absl::Milliseconds(400));
  ASSERT_TRUE(outcome.trace.has_value());
  ASSERT_EQ(outcome.trace->hops_size(), 2);
  // Only the last attempt's trailers reach the frontend: its number says
  // how many were made.
  const int attempts = outcome.trace->hops(1).attempt();
  EXPECT_GE(attempts, 2);
  EXPECT_LE(attempts, 5);
  EXPECT_TRUE(WaitUntil([&] { return backend.stats().started == attempts; }));
}

TEST(RetryTest, TheThrottleStopsRetryingInASustainedOutage) {
  TestBackend backend(Failing(1));
  TestFrontend frontend(backend.address(), Retrying(5));
  EXPECT_EQ(OkOf(frontend, 30), 0);
  const int64_t after_30 = backend.stats().started;
  // Without the throttle, 30 calls would have made 150 attempts. Its bucket
  // of 100 tokens lets retries go only while more than half are left: about
  // 10 calls of 5 attempts, then one attempt each.
  EXPECT_LT(after_30, 90);
  // From then on, each call is one attempt.
  EXPECT_EQ(OkOf(frontend, 10), 0);
  EXPECT_EQ(backend.stats().started - after_30, 10);
}

}  // namespace
}  // namespace deadline::testing
