// Hedging, the tail-at-scale answer and cancellation's best showcase: a call
// not answered after --hedge_after gets a second one on the next backend,
// the first OK wins, and the loser is cancelled at once and stops its work.
#include "absl/time/clock.h"
#include "client/calls.h"
#include "common/time_util.h"
#include "gtest/gtest.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::v1::FetchRequest;

BackendOptions SlowedBy(double factor) {
  BackendOptions options;
  options.slowdown = factor;
  options.log = LogMode::kNone;
  return options;
}

TEST(HedgeTest, EveryCallIsAnsweredInAboutTheFastBackendsTime) {
  TestBackend fast(SlowedBy(1));
  TestBackend slow(SlowedBy(10));
  FrontendOptions options;
  options.hedge_after = absl::Milliseconds(20);
  options.log = LogMode::kNone;
  TestFrontend frontend({fast.address(), slow.address()}, options);

  // 5 steps of 10 ms: 50 ms on the fast backend, 500 ms on the slow one.
  FetchRequest request;
  *request.mutable_work() = Work(5, absl::Milliseconds(10));
  constexpr int kCalls = 20;
  int hedges_won = 0;
  for (int i = 0; i < kCalls; ++i) {
    // Below 1 s, gRPC sends deadlines to the millisecond (10 ms above).
    FetchCall call(frontend.stub(), request,
                   absl::Now() + absl::Milliseconds(800));
    const FetchOutcome& outcome = call.Wait();
    ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    // Half the calls go to the slow backend first: without hedging they
    // would take 500 ms.
    EXPECT_LT(outcome.elapsed, absl::Milliseconds(300)) << "call " << i;
    EXPECT_EQ(outcome.reply.backend().steps_done(), 5);
    // The trace shows both attempts, the hedge sent after the delay. (Both
    // had the same deadline; gRPC 1.51 computes the grpc-timeout it sends
    // from a clock it caches, so the hedge's backend may be told up to the
    // hedge delay more than it has. The frontend's own deadline still holds
    // both.)
    ASSERT_TRUE(outcome.trace.has_value());
    ASSERT_EQ(outcome.trace->hops_size(), 3) << "call " << i;
    const auto& first = outcome.trace->hops(1);
    const auto& hedge = outcome.trace->hops(2);
    EXPECT_FALSE(first.hedge());
    EXPECT_TRUE(hedge.hedge());
    EXPECT_GE(
        FromProtoTime(hedge.arrived_at()) - FromProtoTime(first.arrived_at()),
        absl::Milliseconds(10));
    const auto& winner = first.code() == "OK" ? first : hedge;
    const auto& loser = first.code() == "OK" ? hedge : first;
    EXPECT_EQ(winner.address(), fast.address());
    EXPECT_EQ(loser.code(), "CANCELLED");
    // The cause is known only here: an HTTP/2 cancel carries none.
    EXPECT_EQ(loser.stop(),
              "cancelled here: the other attempt of its panel answered first");
    hedges_won += hedge.code() == "OK";
  }
  EXPECT_EQ(hedges_won, kCalls / 2);  // The ones that began on the slow one.
  // Every losing attempt was cancelled, and its backend stopped working.
  ASSERT_TRUE(slow.WaitForEnded(kCalls));
  EXPECT_EQ(slow.stats().cancelled, kCalls);
  EXPECT_EQ(slow.stats().ok, 0);
  EXPECT_EQ(slow.stats().in_flight, 0);
  EXPECT_LT(slow.stats().steps_done, kCalls);  // 50 ms of 10x work: 0 steps.
  EXPECT_LT(slow.stats().max_stop_latency, absl::Milliseconds(100));
  EXPECT_EQ(fast.stats().ok, kCalls);
}

TEST(HedgeTest, AFirstAttemptThatFailsSendsTheHedgeAtOnce) {
  std::string down;
  {
    TestBackend gone;  // Reserve a port, then free it.
    down = gone.address();
  }
  TestBackend up;
  FrontendOptions options;
  options.hedge_after = absl::Seconds(2);  // Too late to matter here.
  TestFrontend frontend({down, up.address()}, options);
  FetchRequest request;
  *request.mutable_work() = Work(1, absl::Milliseconds(1));
  FetchCall call(frontend.stub(), request, absl::Now() + absl::Seconds(5));
  const FetchOutcome& outcome = call.Wait();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_LT(outcome.elapsed, absl::Seconds(1));
  ASSERT_TRUE(outcome.trace.has_value());
  ASSERT_EQ(outcome.trace->hops_size(), 3);
  EXPECT_EQ(outcome.trace->hops(1).code(), "UNAVAILABLE");
  EXPECT_TRUE(outcome.trace->hops(2).hedge());
  EXPECT_EQ(outcome.trace->hops(2).code(), "OK");
}

TEST(HedgeTest, WhenBothAttemptsFailTheCallFailsWithTheLaterCode) {
  TestBackend slow(SlowedBy(10));
  FrontendOptions options;
  options.hedge_after = absl::Milliseconds(20);
  options.budget.reserve = absl::Milliseconds(40);
  TestFrontend frontend({slow.address(), slow.address()}, options);
  FetchRequest request;
  *request.mutable_work() = Work(10, absl::Milliseconds(10));  // 1 s here.
  FetchCall call(frontend.stub(), request,
                 absl::Now() + absl::Milliseconds(300));
  const FetchOutcome& outcome = call.Wait();
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(outcome.trace.has_value());
  ASSERT_EQ(outcome.trace->hops_size(), 3);
  ASSERT_TRUE(slow.WaitForEnded(2));
  EXPECT_EQ(slow.stats().in_flight, 0);
}

}  // namespace
}  // namespace deadline::testing
