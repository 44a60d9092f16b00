// Frontend.FetchStream: client -> frontend -> Backend.WorkStream, with real
// servers in this process on port 0. Time bounds are generous on purpose
// (2-core, noisy machines); the benchmark measures the tight figures.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/calls.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "server/frontend/frontend.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::v1::FetchRequest;
using ::deadline::v1::WorkProgress;
using ::deadline::v1::WorkRequest;
using ::testing::AllOf;
using ::testing::HasSubstr;

FetchRequest FetchOf(const WorkRequest& work) {
  FetchRequest request;
  *request.mutable_work() = work;
  return request;
}

struct StreamRun {
  ProgressStream::Outcome outcome;
  std::vector<WorkProgress> messages;
};

// Streams `work` through `stub` with `timeout` (InfiniteDuration() for none),
// reading `max_messages` (0: all).
StreamRun FetchStream(deadline::v1::Frontend::Stub& stub,
                      const WorkRequest& work, absl::Duration timeout,
                      int max_messages = 0) {
  FetchStreamCall call(stub, FetchOf(work), absl::Now() + timeout);
  StreamRun run;
  run.outcome = call.Read(max_messages, [&](const WorkProgress& progress) {
    run.messages.push_back(progress);
  });
  return run;
}

// A FetchStream of `work` that the client cancels `after` into it, while
// this thread reads: how it ended, when the cancel went out, and the
// backend's record of it.
struct CancelledStream {
  ProgressStream::Outcome outcome;
  absl::Time cancelled;
  absl::optional<deadline::v1::HopTrace> backend_hop;
};
CancelledStream FetchStreamCancelledAfter(deadline::v1::Frontend::Stub& stub,
                                          TestBackend& backend,
                                          const WorkRequest& work,
                                          absl::Duration after) {
  FetchStreamCall call(stub, FetchOf(work), absl::Now() + absl::Seconds(20));
  CancelledStream run;
  std::thread canceller([&] {
    absl::SleepFor(after);
    run.cancelled = absl::Now();
    call.Cancel();
  });
  run.outcome = call.Read(0, [](const WorkProgress&) {});
  canceller.join();
  run.backend_hop =
      backend.WaitForCall(run.outcome.request_id, absl::Seconds(5));
  return run;
}

// A stub whose reader has a small HTTP/2 receive window: by default gRPC
// grows it to megabytes (BDP probing), more than a whole stream here.
std::unique_ptr<deadline::v1::Frontend::Stub> SmallWindowStub(
    const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
  return deadline::v1::Frontend::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
}

// The frontend's calls to its backend get a small window too. With gRPC's
// default there, the frontend's transport took in the whole stream of the
// test below (2.5 MB) while the reader paused, and the backend never
// waited: the frontend itself held one message, its HTTP/2 window all.
FrontendOptions SmallWindows() {
  FrontendOptions options;
  options.channels.stream_window_bytes = 16 * 1024;
  return options;
}

// Each test runs against both backends: callback API and sync API.
class FetchStreamTest : public ::testing::TestWithParam<BackendApi> {};
INSTANTIATE_TEST_SUITE_P(Backends, FetchStreamTest,
                         ::testing::Values(BackendApi::kCallback,
                                           BackendApi::kSync),
                         [](const auto& info) { return ApiName(info.param); });

TEST_P(FetchStreamTest, ForwardsEveryMessageInOrderAndCountsTheStream) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  const StreamRun run = FetchStream(
      frontend.stub(), Work(5, absl::Milliseconds(1)), absl::Seconds(5));
  ASSERT_TRUE(run.outcome.status.ok()) << run.outcome.status.error_message();
  ASSERT_EQ(run.messages.size(), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(run.messages[i].step(), i + 1);
    // The backend's own view, passed on unchanged: its deadline is the
    // client's less the frontend's reserve.
    EXPECT_TRUE(run.messages[i].has_time_left());
    EXPECT_LT(ToDuration(run.messages[i].time_left()), absl::Seconds(5));
  }
  // The trace: the frontend, then the backend, under the client's request
  // id, which reached the backend.
  ASSERT_TRUE(run.outcome.trace.has_value());
  ASSERT_EQ(run.outcome.trace->hops_size(), 2);
  EXPECT_EQ(run.outcome.trace->request_id(), run.outcome.request_id);
  EXPECT_EQ(run.outcome.trace->hops(0).hop(), "frontend");
  EXPECT_EQ(run.outcome.trace->hops(0).steps_done(), 5);
  EXPECT_EQ(run.outcome.trace->hops(0).code(), "OK");
  EXPECT_EQ(run.outcome.trace->hops(1).hop(), "backend");
  EXPECT_EQ(run.outcome.trace->hops(1).steps_done(), 5);
  EXPECT_TRUE(backend.WaitForCall(run.outcome.request_id, absl::Seconds(5))
                  .has_value());

  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().ok == 1; }));
  const StatsSnapshot stats = frontend.stats();
  EXPECT_EQ(stats.started, 1);
  EXPECT_EQ(stats.steps_done, 5);
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_EQ(backend.stats().ok, 1);
}

TEST_P(FetchStreamTest, TheDeadlineCoversTheWholeStream) {
  // Reserves roomy enough for a busy machine: each hop's explanation must
  // beat its caller's own timer.
  BackendOptions backend_options;
  backend_options.budget.reserve = absl::Milliseconds(20);
  TestBackend backend(backend_options, GetParam());
  FrontendOptions options;
  options.budget.reserve = absl::Milliseconds(50);
  TestFrontend frontend(backend.address(), options);
  // 100 x 10 ms of work under a 300 ms deadline: messages flow, then the
  // stream ends at its deadline, explained.
  const StreamRun run =
      FetchStream(frontend.stub(), Work(100, absl::Milliseconds(10)),
                  absl::Milliseconds(300));
  EXPECT_EQ(run.outcome.status.error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(run.outcome.status.error_message(),
              AllOf(HasSubstr("frontend: "), HasSubstr("messages passed on"),
                    HasSubstr("backend: ")));
  EXPECT_GE(run.messages.size(), 5);
  EXPECT_LE(run.messages.size(), 30);
  EXPECT_LT(run.outcome.elapsed, absl::Seconds(2));

  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.stats().deadline_exceeded + backend.stats().cancelled, 1);
  EXPECT_LT(backend.stats().steps_done, 40);
  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().in_flight == 0; }));
  EXPECT_EQ(frontend.stats().deadline_exceeded, 1);
  EXPECT_EQ(frontend.stats().steps_done,
            static_cast<int64_t>(run.messages.size()));
}

TEST_P(FetchStreamTest, AReaderThatStopsEarlyStopsTheBackendStream) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  // 1000 x 10 ms of work (10 s); the reader wants 3 messages.
  FetchStreamCall call(frontend.stub(),
                       FetchOf(Work(1000, absl::Milliseconds(10))),
                       absl::Now() + absl::Seconds(20));
  const ProgressStream::Outcome outcome =
      call.Read(3, [](const WorkProgress&) {});
  const absl::Time cancelled = absl::Now();
  EXPECT_TRUE(outcome.stopped_early);
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::CANCELLED);

  const absl::optional<deadline::v1::HopTrace> hop =
      backend.WaitForCall(outcome.request_id, absl::Seconds(5));
  ASSERT_TRUE(hop.has_value());
  EXPECT_EQ(hop->code(), "CANCELLED");
  EXPECT_LT(FromProtoTime(hop->finished_at()) - cancelled,
            absl::Milliseconds(500));
  EXPECT_LT(hop->steps_done(), 30);
  EXPECT_EQ(backend.stats().cancelled, 1);

  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().in_flight == 0; }));
  EXPECT_EQ(frontend.stats().cancelled, 1);
  EXPECT_EQ(frontend.stats().steps_done, 3);
}

TEST_P(FetchStreamTest, ACancelWhileWaitingStopsTheBackendStream) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  // Steps of 100 ms: the cancel comes while the frontend waits on the
  // backend for the next message.
  const CancelledStream run = FetchStreamCancelledAfter(
      frontend.stub(), backend, Work(100, absl::Milliseconds(100)),
      absl::Milliseconds(150));
  EXPECT_EQ(run.outcome.status.error_code(), grpc::StatusCode::CANCELLED);

  const absl::optional<deadline::v1::HopTrace>& hop = run.backend_hop;
  ASSERT_TRUE(hop.has_value());
  EXPECT_EQ(hop->code(), "CANCELLED");
  // Well within the step the backend was in.
  EXPECT_LT(FromProtoTime(hop->finished_at()) - run.cancelled,
            absl::Milliseconds(80));
  EXPECT_LE(hop->steps_done(), 3);
  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().in_flight == 0; }));
  EXPECT_EQ(frontend.stats().cancelled, 1);
}

TEST_P(FetchStreamTest, ABackendFailureMidStreamKeepsItsCode) {
  // The backend gives any call at most 200 ms: it fails mid-stream, long
  // before the client's deadline and the frontend's budget.
  BackendOptions short_lived;
  short_lived.budget.max_deadline = absl::Milliseconds(200);
  TestBackend backend(short_lived, GetParam());
  TestFrontend frontend(backend.address());
  const StreamRun run = FetchStream(
      frontend.stub(), Work(100, absl::Milliseconds(10)), absl::Seconds(10));
  EXPECT_EQ(run.outcome.status.error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // The backend's own words, after the frontend's.
  EXPECT_THAT(run.outcome.status.error_message(),
              AllOf(HasSubstr("frontend: "), HasSubstr("forwarded "),
                    HasSubstr("backend: "), HasSubstr("at its deadline")));
  EXPECT_GE(run.messages.size(), 5);
  EXPECT_LT(run.messages.size(), 40);
  EXPECT_LT(run.outcome.elapsed, absl::Seconds(2));
  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().in_flight == 0; }));
  EXPECT_EQ(frontend.stats().deadline_exceeded, 1);
}

TEST_P(FetchStreamTest, ABackendThatGoesAwayMidStreamEndsItAtOnce) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  auto call = std::make_shared<FetchStreamCall>(
      frontend.stub(), FetchOf(Work(100, absl::Milliseconds(50))),
      absl::Now() + absl::Seconds(20));
  absl::Notification first;
  std::thread stopper([&] {
    first.WaitForNotification();
    backend.Stop(absl::ZeroDuration());
  });
  int messages = 0;
  const ProgressStream::Outcome outcome =
      call->Read(0, [&](const WorkProgress&) {
        if (++messages == 2) first.Notify();
      });
  if (!first.HasBeenNotified()) first.Notify();  // It ended before.
  stopper.join();
  // Whatever code the backend's going gave the frontend reaches the client,
  // with the frontend's words; the trace's backend hop says the same code.
  EXPECT_FALSE(outcome.status.ok());
  EXPECT_NE(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(outcome.status.error_message(),
              AllOf(HasSubstr("frontend: "), HasSubstr("messages passed on")));
  EXPECT_GE(messages, 2);
  EXPECT_LT(outcome.elapsed, absl::Seconds(5));
  ASSERT_TRUE(outcome.trace.has_value());
  ASSERT_EQ(outcome.trace->hops_size(), 2);
  EXPECT_EQ(outcome.trace->hops(1).code(),
            absl::StatusCodeToString(
                static_cast<absl::StatusCode>(outcome.status.error_code())));
  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().in_flight == 0; }));
}

TEST_P(FetchStreamTest, ASlowReaderHoldsTheBackendBackThroughBothHops) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address(), SmallWindows());
  auto stub = SmallWindowStub(frontend.address());
  // 100000 instant steps: the backend could write them all in a second or
  // two if nothing held it back, and they would fill megabytes of buffers.
  FetchStreamCall call(*stub, FetchOf(Work(100'000, absl::ZeroDuration())),
                       absl::Now() + absl::Seconds(50));
  absl::Duration previous;
  absl::Duration longest_wait;
  int waited_at = 0;
  const ProgressStream::Outcome outcome =
      call.Read(0, [&](const WorkProgress& progress) {
        if (progress.step() == 1) {
          absl::SleepFor(absl::Milliseconds(1500));  // The reader dawdles.
          // Both hops still hold the stream open, waiting.
          EXPECT_EQ(frontend.stats().in_flight, 1);
          EXPECT_EQ(backend.stats().in_flight, 1);
        }
        // The backend's clock shows where it waited: one step took as long
        // as the pause.
        const absl::Duration elapsed = ToDuration(progress.elapsed());
        if (elapsed - previous > longest_wait) {
          longest_wait = elapsed - previous;
          waited_at = progress.step();
        }
        previous = elapsed;
      });
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(outcome.messages, 100'000);
  EXPECT_GT(longest_wait, absl::Seconds(1));
  // The backend stopped once the windows of both hops were full: a few
  // thousand messages in, far from the end.
  EXPECT_LT(waited_at, 20'000);
  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().in_flight == 0; }));
  EXPECT_EQ(frontend.stats().steps_done, 100'000);
}

TEST_P(FetchStreamTest, MaxStreamDurationEndsTheStreamNamingTheCap) {
  // A backend reserve roomy enough for a busy machine: its explanation must
  // beat the deadline it was given.
  BackendOptions backend_options;
  backend_options.budget.reserve = absl::Milliseconds(20);
  TestBackend backend(backend_options, GetParam());
  FrontendOptions options;
  options.max_stream_duration = absl::Milliseconds(300);
  TestFrontend frontend(backend.address(), options);
  const StreamRun run = FetchStream(
      frontend.stub(), Work(100, absl::Milliseconds(10)), absl::Seconds(10));
  EXPECT_EQ(run.outcome.status.error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(run.outcome.status.error_message(),
              AllOf(HasSubstr("frontend: the stream reached "
                              "--max_stream_duration=300ms"),
                    HasSubstr("backend: ")));
  EXPECT_GE(run.messages.size(), 5);
  EXPECT_LE(run.messages.size(), 30);
  EXPECT_LT(run.outcome.elapsed, absl::Seconds(2));
  ASSERT_TRUE(run.outcome.trace.has_value());
  EXPECT_EQ(run.outcome.trace->hops(0).stop(), "at --max_stream_duration");
  // Unary calls are not capped.
  FetchCall fetch(frontend.stub(), FetchOf(Work(40, absl::Milliseconds(10))),
                  absl::Now() + absl::Seconds(10));
  EXPECT_TRUE(fetch.Wait().status.ok()) << fetch.Wait().status.error_message();
}

TEST_P(FetchStreamTest, AReaderThatStopsReadingIsCutOffAtTheCap) {
  TestBackend backend(GetParam());
  FrontendOptions options = SmallWindows();
  options.max_stream_duration = absl::Milliseconds(500);
  TestFrontend frontend(backend.address(), options);
  auto stub = SmallWindowStub(frontend.address());
  // No deadline, and a reader that stops after one message: only the cap
  // can end the stream, and the windows are full, so not even the trailers
  // could get through.
  FetchStreamCall call(*stub, FetchOf(Work(100'000, absl::ZeroDuration())),
                       absl::InfiniteFuture());
  bool checked = false;
  const ProgressStream::Outcome outcome =
      call.Read(0, [&](const WorkProgress& progress) {
        if (progress.step() != 1) return;
        // While the reader does not read, the frontend ends the stream and
        // lets the backend go.
        EXPECT_TRUE(
            WaitUntil([&] { return frontend.stats().deadline_exceeded == 1; },
                      absl::Seconds(5)));
        EXPECT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 0; }));
        EXPECT_EQ(frontend.stats().in_flight, 0);
        checked = true;
      });
  EXPECT_TRUE(checked);
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(outcome.status.error_message(),
              HasSubstr("--max_stream_duration=500ms"));
  EXPECT_LT(outcome.messages, 50'000);
}

TEST_P(FetchStreamTest, TooLittleBudgetFailsFastWithoutCallingTheBackend) {
  TestBackend backend(GetParam());
  FrontendOptions options;
  options.budget = {absl::Milliseconds(100), absl::Milliseconds(100),
                    absl::Seconds(5), absl::Seconds(60)};
  TestFrontend frontend(backend.address(), options);
  const StreamRun run =
      FetchStream(frontend.stub(), Work(10, absl::Milliseconds(1)),
                  absl::Milliseconds(150));
  EXPECT_EQ(run.outcome.status.error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(run.outcome.status.error_message(),
              AllOf(HasSubstr("frontend: "), HasSubstr("100ms reserve"),
                    HasSubstr("backend not called")));
  EXPECT_TRUE(run.messages.empty());
  EXPECT_LT(run.outcome.elapsed, absl::Milliseconds(140));
  ASSERT_TRUE(run.outcome.trace.has_value());
  EXPECT_EQ(run.outcome.trace->hops_size(), 1);
  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().rejected == 1; }));
  EXPECT_EQ(backend.stats().started, 0);
}

TEST_P(FetchStreamTest, BadRequestsAreInvalidArgumentWithoutABackendCall) {
  TestBackend backend(GetParam());
  TestFrontend frontend(backend.address());
  const StreamRun run = FetchStream(
      frontend.stub(), Work(-3, absl::Milliseconds(1)), absl::Seconds(5));
  EXPECT_EQ(run.outcome.status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(run.outcome.status.error_message(),
              HasSubstr("frontend: work.steps must be between 0 and 100000"));
  EXPECT_TRUE(run.messages.empty());

  // Bytes that are no FetchRequest at all.
  grpc::GenericStub generic(frontend.channel());
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  grpc::Slice slice(std::string("\xff\xff\xff\xff\x0f not a protobuf"));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&context, "/deadline.v1.Frontend/FetchStream",
                    grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("did not parse as a "));

  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().invalid == 2; }));
  EXPECT_EQ(backend.stats().started, 0);
}

TEST_P(FetchStreamTest, WithoutPropagationTheBackendStopsOnlyAtTheNextMessage) {
  TestBackend backend(GetParam());
  FrontendOptions options;
  options.propagation = Propagation::kNone;  // The anti-pattern.
  TestFrontend frontend(backend.address(), options);
  // Steps of 200 ms; the cancel comes 100 ms into the second. The backend
  // hears nothing of it, and finishes that step for nobody: only the
  // message the frontend then cannot write stops it.
  const CancelledStream run = FetchStreamCancelledAfter(
      frontend.stub(), backend, Work(50, absl::Milliseconds(200)),
      absl::Milliseconds(300));
  EXPECT_EQ(run.outcome.status.error_code(), grpc::StatusCode::CANCELLED);
  const absl::optional<deadline::v1::HopTrace>& hop = run.backend_hop;
  ASSERT_TRUE(hop.has_value());
  EXPECT_EQ(hop->code(), "CANCELLED");
  EXPECT_GE(hop->steps_done(), 2);
  EXPECT_LE(hop->steps_done(), 4);
  // It worked on after the cancel, to the end of its step.
  EXPECT_GT(FromProtoTime(hop->finished_at()) - run.cancelled,
            absl::Milliseconds(50));
}

TEST_P(FetchStreamTest, WithoutPropagationTheCapStillEndsTheBackendStream) {
  TestBackend backend(GetParam());
  FrontendOptions options;
  options.propagation = Propagation::kNone;  // The backend gets no deadline.
  options.max_stream_duration = absl::Milliseconds(300);
  TestFrontend frontend(backend.address(), options);
  const StreamRun run = FetchStream(
      frontend.stub(), Work(100, absl::Milliseconds(10)), absl::Seconds(10));
  EXPECT_EQ(run.outcome.status.error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(run.outcome.status.error_message(),
              AllOf(HasSubstr("--max_stream_duration=300ms"),
                    HasSubstr("the backend had not ended its stream")));
  EXPECT_LT(run.outcome.elapsed, absl::Seconds(2));
  const absl::optional<deadline::v1::HopTrace> hop =
      backend.WaitForCall(run.outcome.request_id, absl::Seconds(5));
  ASSERT_TRUE(hop.has_value());
  EXPECT_EQ(hop->code(), "CANCELLED");
  EXPECT_LT(hop->steps_done(), 40);
}

// FetchStream shares its call core with Fetch (server/frontend/
// frontend_call.h): what Fetch says of its ending, FetchStream says too.
// These once drifted apart, each copy written its own way.

// A frontend's record of each call that ended there.
struct EndedCalls {
  absl::Mutex mu;
  std::vector<deadline::v1::BudgetTrace> traces ABSL_GUARDED_BY(mu);

  FrontendOptions Options() {
    FrontendOptions options;
    options.on_call_end = [this](const deadline::v1::BudgetTrace& trace) {
      absl::MutexLock lock(&mu);
      traces.push_back(trace);
    };
    return options;
  }
  // The one trace, once there is one.
  absl::optional<deadline::v1::BudgetTrace> One() {
    absl::MutexLock lock(&mu);
    if (!mu.AwaitWithTimeout(
            absl::Condition(
                +[](std::vector<deadline::v1::BudgetTrace>* t) {
                  return !t->empty();
                },
                &traces),
            absl::Seconds(5))) {
      return absl::nullopt;
    }
    return traces.front();
  }
};

TEST_P(FetchStreamTest, AShutdownSaysTheServerCancelledTheStream) {
  TestBackend backend(GetParam());
  EndedCalls ended;
  auto frontend =
      std::make_unique<TestFrontend>(backend.address(), ended.Options());
  FetchStreamCall call(frontend->stub(),
                       FetchOf(Work(100, absl::Milliseconds(100))),
                       absl::Now() + absl::Seconds(20));
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));
  frontend->Stop(absl::Milliseconds(50));
  EXPECT_FALSE(call.Read(0, [](const WorkProgress&) {}).status.ok());
  const absl::optional<deadline::v1::BudgetTrace> trace = ended.One();
  ASSERT_TRUE(trace.has_value());
  ASSERT_EQ(trace->hops_size(), 2);
  EXPECT_EQ(trace->hops(0).stop(), "the server shut down");
  EXPECT_EQ(trace->hops(1).stop(), "cancelled here: the server shut down");
}

TEST_P(FetchStreamTest, ABackendStreamCancelledHereSaysWhy) {
  TestBackend backend(GetParam());
  EndedCalls ended;
  TestFrontend frontend(backend.address(), ended.Options());
  const CancelledStream run = FetchStreamCancelledAfter(
      frontend.stub(), backend, Work(100, absl::Milliseconds(10)),
      absl::Milliseconds(50));
  EXPECT_EQ(run.outcome.status.error_code(), grpc::StatusCode::CANCELLED);
  const absl::optional<deadline::v1::BudgetTrace> trace = ended.One();
  ASSERT_TRUE(trace.has_value());
  ASSERT_EQ(trace->hops_size(), 2);
  EXPECT_EQ(trace->hops(0).stop(), "the caller went away");
  // Whether the backend's own account arrived or this side's stands in,
  // the backend stream's end is a cancel, never "no answer".
  EXPECT_EQ(trace->hops(1).code(), "CANCELLED");
  EXPECT_THAT(trace->hops(1).stop(), ::testing::Not(HasSubstr("no answer")));
}

TEST(FetchStreamReplicaTest, AnUnreachableReplicaSetIsNamedAsGiven) {
  std::vector<std::string> gone;
  for (int i = 0; i < 2; ++i) {
    TestBackend backend;  // Reserve a port, then free it.
    gone.push_back(backend.address());
  }
  const std::string replicas = absl::StrJoin(gone, "+");
  TestFrontend frontend(replicas);
  const StreamRun run = FetchStream(
      frontend.stub(), Work(1, absl::Milliseconds(1)), absl::Seconds(10));
  EXPECT_EQ(run.outcome.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  // No replica answered: the hop is named by the entry, not gRPC's list.
  ASSERT_TRUE(run.outcome.trace.has_value());
  ASSERT_EQ(run.outcome.trace->hops_size(), 2);
  EXPECT_EQ(run.outcome.trace->hops(1).address(), replicas);
}

TEST(MaxStreamDurationTest, ZeroAndInfinityAreOffAndTinyCapsAreRefused) {
  const BudgetOptions budget;  // 10 ms reserve, 5 ms minimum.
  EXPECT_EQ(*ParseMaxStreamDuration(absl::ZeroDuration(), budget),
            absl::InfiniteDuration());
  EXPECT_EQ(*ParseMaxStreamDuration(absl::InfiniteDuration(), budget),
            absl::InfiniteDuration());
  EXPECT_EQ(*ParseMaxStreamDuration(absl::Seconds(30), budget),
            absl::Seconds(30));
  for (absl::Duration bad : {absl::Milliseconds(-1), absl::Milliseconds(15)}) {
    const absl::StatusOr<absl::Duration> parsed =
        ParseMaxStreamDuration(bad, budget);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(),
                AllOf(HasSubstr("--max_stream_duration"), HasSubstr("15ms")));
  }
}

}  // namespace
}  // namespace deadline::testing
