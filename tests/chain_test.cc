// The chain client -> frontend -> backend, with real servers in this process.
// Time bounds are generous on purpose (2-core, noisy machines); the tight
// figures are measured by the benchmarks.
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "client/calls.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/deadline/budget.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::v1::FetchReply;
using ::deadline::v1::FetchRequest;
using ::deadline::v1::WorkReply;
using ::deadline::v1::WorkRequest;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr absl::Duration kNoDeadline = absl::InfiniteDuration();

// Calls Fetch with `timeout` (kNoDeadline for none) and waits for the end.
FetchOutcome Fetch(TestFrontend& frontend, const WorkRequest& work,
                   absl::Duration timeout) {
  FetchRequest request;
  *request.mutable_work() = work;
  FetchCall call(frontend.stub(), request, absl::Now() + timeout);
  return call.Wait();
}

FrontendOptions WithBudget(absl::Duration reserve, absl::Duration min_budget,
                           absl::Duration default_deadline,
                           absl::Duration max_deadline) {
  FrontendOptions options;
  options.budget = {reserve, min_budget, default_deadline, max_deadline};
  return options;
}

// Each test runs against both backends: the callback API (the default) and
// the sync API with its watcher.
class ChainTest : public ::testing::TestWithParam<BackendApi> {};
class ChainTraceTest : public ::testing::TestWithParam<BackendApi> {};

std::string NameOf(const ::testing::TestParamInfo<BackendApi>& info) {
  return ApiName(info.param);
}
INSTANTIATE_TEST_SUITE_P(Backends, ChainTest,
                         ::testing::Values(BackendApi::kCallback,
                                           BackendApi::kSync),
                         NameOf);
INSTANTIATE_TEST_SUITE_P(Backends, ChainTraceTest,
                         ::testing::Values(BackendApi::kCallback,
                                           BackendApi::kSync),
                         NameOf);

TEST_P(ChainTest, OkReportsTheBudgetEachHopSaw) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  const FetchOutcome outcome =
      Fetch(frontend, Work(5, absl::Milliseconds(1)), absl::Milliseconds(800));
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();

  const absl::Duration at_frontend =
      ToDuration(outcome.reply.budget_at_arrival());
  const absl::Duration forwarded = ToDuration(outcome.reply.budget_forwarded());
  const absl::Duration at_backend =
      ToDuration(outcome.reply.backend().budget_at_arrival());
  // gRPC rounds deadlines up to the millisecond.
  EXPECT_LE(at_frontend, absl::Milliseconds(802));
  EXPECT_GE(at_frontend, absl::Milliseconds(500));
  // The client sends its absolute deadline too (deadline-at): exact, it
  // needs no allowance for what the wire may add, and only the reserve is
  // kept back.
  EXPECT_EQ(forwarded, at_frontend - absl::Milliseconds(10));
  // The backend sees what was forwarded, less the hop. gRPC rounds the
  // deadline up to whole milliseconds on each side of the wire, so it can
  // also see a little more.
  EXPECT_LE(at_backend, forwarded + absl::Milliseconds(3));
  EXPECT_GE(at_backend, forwarded - absl::Milliseconds(200));
  EXPECT_EQ(outcome.reply.backend().steps_done(), 5);

  EXPECT_EQ(backend.stats().ok, 1);
  EXPECT_EQ(backend.stats().steps_done, 5);
  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().ok == 1; }));
}

// A caller that sends grpc-timeout alone (any gRPC client but this
// project's) is planned as before: the arrival slack comes off too, since
// the relative timeout may have grown on the wire.
TEST_P(ChainTest, ACallerWithoutDeadlineAtKeepsTheArrivalSlack) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Milliseconds(800)));
  FetchRequest request;
  *request.mutable_work() = Work(1, absl::Milliseconds(1));
  FetchReply reply;
  ASSERT_TRUE(frontend.stub().Fetch(&context, request, &reply).ok());
  const absl::Duration at_frontend = ToDuration(reply.budget_at_arrival());
  EXPECT_EQ(ToDuration(reply.budget_forwarded()),
            at_frontend - ArrivalSlack(at_frontend) - absl::Milliseconds(10));
}

TEST_P(ChainTest, DeadlineExceededEndToEndStopsTheBackendLoop) {
  TestBackend backend(GetParam());
  // A reserve roomy enough for a busy machine: the frontend's explanation
  // must beat the client's own timer.
  TestFrontend frontend(
      backend.address(),
      WithBudget(absl::Milliseconds(60), absl::Milliseconds(5),
                 absl::Seconds(5), absl::Seconds(60)));
  // 100 x 10 ms = 1 s of work under a 300 ms deadline.
  const FetchOutcome outcome = Fetch(
      frontend, Work(100, absl::Milliseconds(10)), absl::Milliseconds(300));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(outcome.status.error_message(),
              AllOf(HasSubstr("frontend: "), HasSubstr("at arrival"),
                    HasSubstr("forwarded")));
  EXPECT_LT(outcome.elapsed, absl::Milliseconds(700));

  ASSERT_TRUE(backend.WaitForEnded(1));
  const StatsSnapshot stats = backend.stats();
  EXPECT_EQ(stats.started, 1);
  // The backend's deadline and the frontend's timer race: either is fine.
  EXPECT_EQ(stats.deadline_exceeded + stats.cancelled, 1);
  EXPECT_LT(stats.steps_done, 40);
  EXPECT_LT(stats.max_stop_latency, absl::Milliseconds(100));
  EXPECT_TRUE(
      WaitUntil([&] { return frontend.stats().deadline_exceeded == 1; }));
}

TEST_P(ChainTest, ClientCancellationReachesTheBackend) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  FetchRequest request;
  *request.mutable_work() = Work(100, absl::Milliseconds(10));
  FetchCall call(frontend.stub(), request, absl::InfiniteFuture());
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));
  call.Cancel();
  EXPECT_EQ(call.Wait().status.error_code(), grpc::StatusCode::CANCELLED);

  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.stats().cancelled, 1);
  EXPECT_EQ(backend.stats().in_flight, 0);
  EXPECT_LT(backend.stats().steps_done, 60);
  EXPECT_LT(backend.stats().max_stop_latency, absl::Milliseconds(100));
  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().cancelled == 1; }));
}

TEST_P(ChainTest, TooLittleBudgetFailsFastWithoutCallingTheBackend) {
  TestBackend backend(GetParam());
  // Fail fast below 100 + 100 ms: a 150 ms deadline is refused at once.
  TestFrontend frontend(
      backend.address(),
      WithBudget(absl::Milliseconds(100), absl::Milliseconds(100),
                 absl::Seconds(5), absl::Seconds(60)));
  const FetchOutcome outcome =
      Fetch(frontend, Work(1, absl::Milliseconds(1)), absl::Milliseconds(150));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(outcome.status.error_message(),
              AllOf(HasSubstr("frontend: "), HasSubstr("100ms reserve"),
                    HasSubstr("backend not called")));
  EXPECT_LT(outcome.elapsed, absl::Milliseconds(140));
  // The trace holds the frontend alone, which forwarded nothing.
  ASSERT_TRUE(outcome.trace.has_value());
  ASSERT_EQ(outcome.trace->hops_size(), 1);
  EXPECT_THAT(outcome.trace->hops(0).stop(), HasSubstr("fail fast: "));
  EXPECT_FALSE(outcome.trace->hops(0).has_forwarded());
  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().rejected == 1; }));
  EXPECT_EQ(backend.stats().started, 0);
}

TEST_P(ChainTest, CallWithoutDeadlineGetsTheDefaultBudget) {
  TestBackend backend(GetParam());
  TestFrontend frontend(
      backend.address(),
      WithBudget(absl::Milliseconds(10), absl::Milliseconds(5),
                 absl::Milliseconds(700), absl::Seconds(60)));
  const FetchOutcome outcome =
      Fetch(frontend, Work(1, absl::Milliseconds(1)), kNoDeadline);
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_FALSE(outcome.reply.has_budget_at_arrival());
  EXPECT_EQ(ToDuration(outcome.reply.budget_forwarded()),
            absl::Milliseconds(690));
  const absl::Duration at_backend =
      ToDuration(outcome.reply.backend().budget_at_arrival());
  EXPECT_LE(at_backend, absl::Milliseconds(693));
  EXPECT_GE(at_backend, absl::Milliseconds(490));
}

TEST_P(ChainTest, CallWithoutDeadlineStopsAtTheDefaultBudget) {
  TestBackend backend(GetParam());
  TestFrontend frontend(
      backend.address(),
      WithBudget(absl::Milliseconds(10), absl::Milliseconds(5),
                 absl::Milliseconds(200), absl::Seconds(60)));
  const FetchOutcome outcome =
      Fetch(frontend, Work(100, absl::Milliseconds(10)), kNoDeadline);
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(outcome.elapsed, absl::Milliseconds(700));
  EXPECT_TRUE(backend.WaitForEnded(1));
}

TEST_P(ChainTest, LongDeadlinesAreClamped) {
  TestBackend backend(GetParam());
  TestFrontend frontend(
      backend.address(),
      WithBudget(absl::Milliseconds(10), absl::Milliseconds(5),
                 absl::Milliseconds(500), absl::Milliseconds(800)));
  const FetchOutcome outcome =
      Fetch(frontend, Work(1, absl::Milliseconds(1)), absl::Hours(1));
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_GT(ToDuration(outcome.reply.budget_at_arrival()), absl::Minutes(59));
  EXPECT_EQ(ToDuration(outcome.reply.budget_forwarded()),
            absl::Milliseconds(790));
  EXPECT_LE(ToDuration(outcome.reply.backend().budget_at_arrival()),
            absl::Milliseconds(793));
}

TEST_P(ChainTest, WithPropagationOffTheBackendWorksOnAfterTheClientGaveUp) {
  TestBackend backend(GetParam());
  FrontendOptions off;
  off.propagation = Propagation::kNone;
  TestFrontend frontend(backend.address(), off);
  // 20 x 25 ms = 500 ms of work; the client gives up after 100 ms.
  const FetchOutcome outcome = Fetch(frontend, Work(20, absl::Milliseconds(25)),
                                     absl::Milliseconds(100));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The client has its answer, yet the backend is still busy for it...
  EXPECT_EQ(backend.stats().in_flight, 1);
  // ...and finishes every step, all of it wasted.
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.stats().ok, 1);
  EXPECT_EQ(backend.stats().steps_done, 20);
  EXPECT_EQ(backend.stats().deadline_exceeded + backend.stats().cancelled, 0);
  // The frontend counts the call for what its caller saw, not as OK.
  EXPECT_TRUE(
      WaitUntil([&] { return frontend.stats().deadline_exceeded == 1; }));
  EXPECT_EQ(frontend.stats().ok, 0);
}

TEST_P(ChainTest, BackendFailuresKeepTheirCodeAndNameTheHop) {
  TestBackend backend(GetParam());
  // A frontend whose limits are looser than the backend's lets the backend
  // refuse the request itself.
  FrontendOptions loose;
  loose.limits.max_steps = 1'000'000;
  TestFrontend frontend(backend.address(), loose);
  const FetchOutcome outcome =
      Fetch(frontend, Work(200'000, absl::ZeroDuration()), absl::Seconds(5));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(outcome.status.error_message(),
              AllOf(HasSubstr("frontend: "), HasSubstr("forwarded"),
                    HasSubstr("backend: steps must be between 0 and 100000")));
  EXPECT_EQ(backend.stats().invalid, 1);
}

TEST_P(ChainTest, BadInputIsRefusedByNameAndTheServersKeepServing) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());

  WorkRequest too_long = Work(1, absl::Hours(1));
  FetchOutcome outcome = Fetch(frontend, too_long, absl::Seconds(5));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(outcome.status.error_message(),
              AllOf(HasSubstr("work.step_duration"), HasSubstr("10s")));

  WorkRequest unknown_kind = Work(1, absl::Milliseconds(1));
  unknown_kind.set_kind(static_cast<deadline::v1::WorkKind>(7));
  outcome = Fetch(frontend, unknown_kind, absl::Seconds(5));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(outcome.status.error_message(), HasSubstr("work.kind"));

  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().invalid == 2; }));
  EXPECT_EQ(backend.stats().started, 0);  // Refused before the backend.

  // Directly at the backend.
  grpc::ClientContext context;
  WorkReply reply;
  const grpc::Status status =
      backend.stub().Work(&context, Work(-4, absl::Milliseconds(1)), &reply);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              AllOf(HasSubstr("backend: steps"), HasSubstr("100000")));
  EXPECT_EQ(backend.stats().invalid, 1);

  // Bytes that are not a WorkRequest at all.
  grpc::GenericStub generic(backend.channel());
  grpc::ClientContext raw_context;
  raw_context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  const std::string garbage = "\xff\xff\xff\xff\x0f not a protobuf";
  grpc::Slice slice(garbage);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status raw_status;
  generic.UnaryCall(&raw_context, "/deadline.v1.Backend/Work",
                    grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      raw_status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  EXPECT_FALSE(raw_status.ok());

  // Both servers still serve.
  outcome = Fetch(frontend, Work(2, absl::Milliseconds(1)), absl::Seconds(5));
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.reply.backend().steps_done(), 2);
}

TEST_P(ChainTest, UnreachableBackendIsUnavailableAtOnce) {
  std::string address;
  {
    TestBackend gone;  // Reserve a port, then free it.
    address = gone.address();
  }
  TestFrontend frontend(address);
  const FetchOutcome outcome =
      Fetch(frontend, Work(1, absl::Milliseconds(1)), absl::Seconds(10));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(outcome.status.error_message(), HasSubstr("frontend: "));
  EXPECT_LT(outcome.elapsed, absl::Seconds(3));
  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().failed == 1; }));
}

TEST(ChainReplicaTest, AnUnreachableReplicaSetIsNamedAsGiven) {
  std::vector<std::string> gone;
  for (int i = 0; i < 2; ++i) {
    TestBackend backend;  // Reserve a port, then free it.
    gone.push_back(backend.address());
  }
  const std::string replicas = absl::StrJoin(gone, "+");
  TestFrontend frontend(replicas);
  const FetchOutcome outcome =
      Fetch(frontend, Work(1, absl::Milliseconds(1)), absl::Seconds(10));
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  // No replica answered: the hop is named by the entry, not gRPC's list.
  ASSERT_TRUE(outcome.trace.has_value());
  ASSERT_EQ(outcome.trace->hops_size(), 2);
  EXPECT_EQ(outcome.trace->hops(1).address(), replicas);
}

TEST_P(ChainTest, BackendShutdownCancelsWorkInFlightAndReturnsPromptly) {
  TestBackend backend(GetParam());
  grpc::ClientContext context;  // No deadline: only shutdown can stop it.
  WorkReply reply;
  absl::Notification done;
  grpc::Status status;
  const WorkRequest work = Work(100, absl::Milliseconds(100));  // 10 s
  backend.stub().async()->Work(&context, &work, &reply, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));

  const absl::Time start = absl::Now();
  backend.Stop(absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  done.WaitForNotification();
  EXPECT_FALSE(status.ok());
  const StatsSnapshot stats = backend.stats();
  EXPECT_EQ(stats.cancelled, 1);
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_LT(stats.steps_done, 30);
}

TEST_P(ChainTest, FrontendShutdownDoesNotWaitForUnpropagatedWork) {
  TestBackend backend(GetParam());
  FrontendOptions off;
  off.propagation = Propagation::kNone;
  auto frontend = std::make_unique<TestFrontend>(backend.address(), off);
  FetchRequest request;
  *request.mutable_work() = Work(100, absl::Milliseconds(100));  // 10 s
  FetchCall call(frontend->stub(), request, absl::InfiniteFuture());
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));

  const absl::Time start = absl::Now();
  frontend->Stop(absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_FALSE(call.Wait().status.ok());
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.stats().cancelled, 1);
}

TEST_P(ChainTest, FrontendShutdownSaysTheServerCancelledTheCall) {
  TestBackend backend(GetParam());
  FrontendOptions options;
  absl::Mutex mu;
  std::vector<deadline::v1::BudgetTrace> ended;
  options.on_call_end = [&](const deadline::v1::BudgetTrace& trace) {
    absl::MutexLock lock(&mu);
    ended.push_back(trace);
  };
  auto frontend = std::make_unique<TestFrontend>(backend.address(), options);
  FetchRequest request;
  *request.mutable_work() = Work(100, absl::Milliseconds(100));  // 10 s
  FetchCall call(frontend->stub(), request, absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));
  frontend->Stop(absl::Milliseconds(50));
  // The client sees the connection go (UNAVAILABLE) or the cancel.
  EXPECT_FALSE(call.Wait().status.ok());
  // The frontend knows why: not its caller, itself. The backend cannot
  // know (an HTTP/2 cancel carries no cause): it says its caller cancelled.
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.ended()[0].stop(), "the caller cancelled");
  absl::MutexLock lock(&mu);
  ASSERT_EQ(ended.size(), 1);
  ASSERT_EQ(ended[0].hops_size(), 2);
  EXPECT_EQ(ended[0].hops(0).stop(), "the server shut down");
  EXPECT_EQ(ended[0].hops(1).stop(), "cancelled here: the server shut down");
}

TEST_P(ChainTest, ASlowBackendStretchesEveryStep) {
  BackendOptions slow;
  slow.slowdown = 20;
  TestBackend backend(slow, GetParam());
  TestFrontend frontend(backend.address());
  // 5 x 2 ms asked for; 5 x 40 ms it takes.
  const FetchOutcome outcome =
      Fetch(frontend, Work(5, absl::Milliseconds(2)), absl::Seconds(5));
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_GE(outcome.elapsed, absl::Milliseconds(200));
  EXPECT_EQ(outcome.reply.backend().steps_done(), 5);
}

// The hops of a trace, checked for order: every hop answers within its
// caller's span.
void ExpectNested(const deadline::v1::BudgetTrace& trace) {
  const auto& frontend = trace.hops(0);
  for (int i = 1; i < trace.hops_size(); ++i) {
    const auto& backend = trace.hops(i);
    EXPECT_LE(FromProtoTime(frontend.arrived_at()),
              FromProtoTime(backend.arrived_at()));
    EXPECT_LE(FromProtoTime(backend.arrived_at()),
              FromProtoTime(backend.finished_at()));
    EXPECT_LE(FromProtoTime(backend.finished_at()),
              FromProtoTime(frontend.finished_at()));
  }
}

TEST_P(ChainTraceTest, OkCallCarriesEachHopsStoryAndTheRequestId) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  FetchRequest request;
  *request.mutable_work() = Work(5, absl::Milliseconds(1));
  FetchCall call(frontend.stub(), request,
                 absl::Now() + absl::Milliseconds(800), "trace-ok-1");
  const FetchOutcome& outcome = call.Wait();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_TRUE(outcome.trace.has_value());
  const auto& trace = *outcome.trace;
  EXPECT_EQ(trace.request_id(), "trace-ok-1");
  ASSERT_EQ(trace.hops_size(), 2);
  const auto& front = trace.hops(0);
  const auto& back = trace.hops(1);
  EXPECT_EQ(front.hop(), "frontend");
  EXPECT_EQ(front.code(), "OK");
  EXPECT_EQ(front.stop(), "done");
  const absl::Duration at_arrival = ToDuration(front.budget_at_arrival());
  EXPECT_EQ(ToDuration(front.forwarded()), at_arrival - absl::Milliseconds(10));
  // Where each hop's time went adds up to the time it took.
  // (Timestamps in a trace keep microseconds, durations nanoseconds.)
  for (const auto& hop : {front, back}) {
    const absl::Duration parts = ToDuration(hop.queued()) +
                                 ToDuration(hop.working()) +
                                 ToDuration(hop.waiting());
    const absl::Duration elapsed =
        FromProtoTime(hop.finished_at()) - FromProtoTime(hop.arrived_at());
    EXPECT_LE(absl::AbsDuration(parts - elapsed), absl::Microseconds(1))
        << hop.hop();
    EXPECT_TRUE(hop.has_arrival_delay()) << hop.hop();
    EXPECT_GE(ToDuration(hop.arrival_delay()), -absl::Milliseconds(1));
  }
  // The frontend waited on its backend for about as long as the backend
  // took.
  EXPECT_GE(ToDuration(front.waiting()), FromProtoTime(back.finished_at()) -
                                             FromProtoTime(back.arrived_at()));
  EXPECT_EQ(ToDuration(front.budget_at_arrival()),
            ToDuration(outcome.reply.budget_at_arrival()));
  EXPECT_EQ(back.hop(), "backend");
  EXPECT_EQ(back.address(), backend.address());
  EXPECT_EQ(back.code(), "OK");
  EXPECT_EQ(back.steps_done(), 5);
  EXPECT_EQ(back.steps_requested(), 5);
  EXPECT_EQ(ToDuration(back.budget_at_arrival()),
            ToDuration(outcome.reply.backend().budget_at_arrival()));
  EXPECT_EQ(front.steps_done(), 5);
  ExpectNested(trace);
}

TEST_P(ChainTraceTest, BackendTimeoutIsExplainedHopByHop) {
  TestBackend backend(GetParam());
  // A reserve wide enough for a busy machine's stalls: the frontend's
  // answer must beat the client's timer for the trace to arrive.
  TestFrontend frontend(
      backend.address(),
      WithBudget(absl::Milliseconds(60), absl::Milliseconds(5),
                 absl::Seconds(5), absl::Seconds(60)));
  const FetchOutcome outcome = Fetch(
      frontend, Work(100, absl::Milliseconds(10)), absl::Milliseconds(300));
  ASSERT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(outcome.trace.has_value())
      << "the frontend's reserve should let its explanation arrive first";
  const auto& trace = *outcome.trace;
  ASSERT_EQ(trace.hops_size(), 2);
  EXPECT_EQ(trace.hops(0).code(), "DEADLINE_EXCEEDED");
  EXPECT_EQ(trace.hops(0).stop(), "backend failed: DEADLINE_EXCEEDED");
  const auto& back = trace.hops(1);
  EXPECT_EQ(back.code(), "DEADLINE_EXCEEDED");
  EXPECT_LT(back.steps_done(), 40);
  EXPECT_EQ(back.steps_requested(), 100);
  // Usually the backend, stopping 2 ms before its deadline, answers first;
  // on a busy machine the frontend's timer may win and say so.
  EXPECT_THAT(back.stop(), ::testing::AnyOf(HasSubstr("at its deadline"),
                                            HasSubstr("no answer")));
  EXPECT_TRUE(back.has_deadline());
  ExpectNested(trace);
}

TEST_P(ChainTraceTest, ACancelledCallBringsNothingBackButTheBackendStops) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  FetchRequest request;
  *request.mutable_work() = Work(100, absl::Milliseconds(10));
  FetchCall call(frontend.stub(), request, absl::InfiniteFuture(), "cancel-1");
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));
  call.Cancel();
  const FetchOutcome& outcome = call.Wait();
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_FALSE(outcome.trace.has_value());
  EXPECT_EQ(outcome.request_id, "cancel-1");
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.stats().cancelled, 1);
}

TEST_P(ChainTraceTest, AnOkAnswerCarriesTheTraceOnlyWhenAsked) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  FetchRequest request;
  *request.mutable_work() = Work(2, absl::Milliseconds(1));
  for (bool ask : {false, true}) {
    grpc::ClientContext context;
    context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
    if (ask) WantTrace(context);
    FetchReply reply;
    ASSERT_TRUE(frontend.stub().Fetch(&context, request, &reply).ok());
    const absl::optional<deadline::v1::BudgetTrace> trace = TraceFrom(context);
    EXPECT_EQ(trace.has_value(), ask);
    if (ask) {
      ASSERT_EQ(trace->hops_size(), 2);
      EXPECT_EQ(trace->hops(1).steps_done(), 2);  // The backend was asked too.
      EXPECT_TRUE(trace->hops(1).has_budget_at_arrival());
    }
    EXPECT_EQ(reply.backend().steps_done(), 2);
  }
}

TEST_P(ChainTraceTest, AFailedCallAlwaysCarriesItsTrace) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  grpc::ClientContext context;  // It does not ask.
  FetchRequest request;
  *request.mutable_work() = Work(-1, absl::Milliseconds(1));
  FetchReply reply;
  EXPECT_EQ(frontend.stub().Fetch(&context, request, &reply).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  const absl::optional<deadline::v1::BudgetTrace> trace = TraceFrom(context);
  ASSERT_TRUE(trace.has_value());
  EXPECT_EQ(trace->hops(0).stop(), "invalid request");
}

TEST_P(ChainTraceTest, AnInsaneRequestIdIsReplaced) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  FetchRequest request;
  FetchCall call(frontend.stub(), request, absl::Now() + absl::Seconds(5),
                 "bad id with spaces");
  const FetchOutcome& outcome = call.Wait();
  ASSERT_TRUE(outcome.status.ok());
  ASSERT_TRUE(outcome.trace.has_value());
  EXPECT_EQ(outcome.trace->request_id().size(), 16);
}

TEST_P(ChainTest, StatsServiceReportsTheCounters) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  ASSERT_TRUE(Fetch(frontend, Work(3, absl::ZeroDuration()), absl::Seconds(5))
                  .status.ok());
  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().ok == 1; }));

  for (const auto& channel : {backend.channel(), frontend.channel()}) {
    auto stats = deadline::v1::Stats::NewStub(channel);
    grpc::ClientContext context;
    deadline::v1::StatsReply reply;
    ASSERT_TRUE(stats->GetStats(&context, {}, &reply).ok());
    EXPECT_EQ(reply.calls_started(), 1);
    EXPECT_EQ(reply.calls_ok(), 1);
    EXPECT_EQ(reply.calls_in_flight(), 0);
    EXPECT_EQ(reply.steps_done(), 3);
  }
}

}  // namespace
}  // namespace deadline::testing
