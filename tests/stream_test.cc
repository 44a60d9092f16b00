// Backend.WorkStream against a real backend in this process.
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "client/calls.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::v1::WorkProgress;

struct StreamRun {
  WorkStreamCall::Outcome outcome;
  std::vector<WorkProgress> messages;
};

StreamRun ReadStream(TestBackend& backend, int steps, absl::Duration step,
                     absl::Duration timeout, int max_messages = 0) {
  WorkStreamCall call(backend.stub(), Work(steps, step), absl::Now() + timeout);
  StreamRun run;
  run.outcome = call.Read(max_messages, [&](const WorkProgress& progress) {
    run.messages.push_back(progress);
  });
  return run;
}

// Each test runs against both backends: callback API and sync API.
class StreamTest : public ::testing::TestWithParam<BackendApi> {};
INSTANTIATE_TEST_SUITE_P(Backends, StreamTest,
                         ::testing::Values(BackendApi::kCallback,
                                           BackendApi::kSync),
                         [](const auto& info) { return ApiName(info.param); });

TEST_P(StreamTest, SendsOneMessagePerStepInOrder) {
  TestBackend backend(GetParam());
  const StreamRun run =
      ReadStream(backend, 5, absl::Milliseconds(1), absl::Seconds(5));
  EXPECT_TRUE(run.outcome.status.ok()) << run.outcome.status.error_message();
  ASSERT_EQ(run.messages.size(), 5);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(run.messages[i].step(), i + 1);
    EXPECT_TRUE(run.messages[i].has_time_left());
    EXPECT_GE(ToDuration(run.messages[i].elapsed()), absl::Milliseconds(i + 1));
  }
  EXPECT_LT(ToDuration(run.messages[4].time_left()),
            ToDuration(run.messages[0].time_left()));
  EXPECT_EQ(backend.stats().ok, 1);
  EXPECT_EQ(backend.stats().steps_done, 5);
}

TEST_P(StreamTest, WithoutDeadlineTimeLeftIsUnset) {
  TestBackend backend(GetParam());
  const StreamRun run =
      ReadStream(backend, 2, absl::ZeroDuration(), absl::InfiniteDuration());
  ASSERT_EQ(run.messages.size(), 2);
  EXPECT_FALSE(run.messages[1].has_time_left());
}

TEST_P(StreamTest, ReaderStoppingEarlyStopsTheBackend) {
  TestBackend backend(GetParam());
  // 100 x 10 ms of work; the reader wants 3 messages.
  const StreamRun run = ReadStream(backend, 100, absl::Milliseconds(10),
                                   absl::InfiniteDuration(), 3);
  EXPECT_TRUE(run.outcome.stopped_early);
  EXPECT_EQ(run.outcome.messages, 3);
  EXPECT_EQ(run.outcome.status.error_code(), grpc::StatusCode::CANCELLED);

  ASSERT_TRUE(backend.WaitForEnded(1));
  const StatsSnapshot stats = backend.stats();
  EXPECT_EQ(stats.cancelled, 1);
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_LT(stats.steps_done, 30);
  EXPECT_LT(stats.max_stop_latency, absl::Milliseconds(100));
}

TEST_P(StreamTest, DeadlineMidStreamStopsTheBackend) {
  TestBackend backend(GetParam());
  const StreamRun run =
      ReadStream(backend, 100, absl::Milliseconds(10), absl::Milliseconds(150));
  EXPECT_EQ(run.outcome.status.error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GE(run.messages.size(), 3);
  EXPECT_LE(run.messages.size(), 15);

  ASSERT_TRUE(backend.WaitForEnded(1));
  const StatsSnapshot stats = backend.stats();
  EXPECT_EQ(stats.deadline_exceeded + stats.cancelled, 1);
  EXPECT_LT(stats.steps_done, 30);
}

TEST_P(StreamTest, CpuBoundStepsAreStreamedToo) {
  TestBackend backend(GetParam());
  WorkStreamCall call(backend.stub(), Work(5, absl::Milliseconds(2), true),
                      absl::Now() + absl::Seconds(5));
  std::vector<int> steps;
  const WorkStreamCall::Outcome outcome = call.Read(
      0,
      [&](const WorkProgress& progress) { steps.push_back(progress.step()); });
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3, 4, 5}));
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.stats().steps_done, 5);
}

TEST_P(StreamTest, CpuBoundStreamStopsWhenTheReaderStops) {
  TestBackend backend(GetParam());
  // 100 x 10 ms of CPU-bound work; the reader wants 3 messages.
  WorkStreamCall call(backend.stub(), Work(100, absl::Milliseconds(10), true),
                      absl::InfiniteFuture());
  const WorkStreamCall::Outcome outcome =
      call.Read(3, [](const WorkProgress&) {});
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(backend.WaitForEnded(1));
  const StatsSnapshot stats = backend.stats();
  EXPECT_EQ(stats.cancelled, 1);
  EXPECT_LT(stats.steps_done, 30);
  EXPECT_LT(stats.max_stop_latency, absl::Milliseconds(100));
}

TEST_P(StreamTest, BadRequestIsInvalidArgument) {
  TestBackend backend(GetParam());
  const StreamRun run =
      ReadStream(backend, 1, absl::Hours(2), absl::Seconds(5));
  EXPECT_EQ(run.outcome.status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(run.outcome.status.error_message(),
              ::testing::HasSubstr("step_duration"));
  EXPECT_TRUE(run.messages.empty());
  EXPECT_EQ(backend.stats().invalid, 1);
}

TEST_P(StreamTest, ASlowReaderHoldsTheBackendBackInsteadOfBuffering) {
  TestBackend backend(GetParam());
  // A reader with a small receive window (by default gRPC grows it to
  // megabytes, more than this whole stream).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
  auto stub = deadline::v1::Backend::NewStub(grpc::CreateCustomChannel(
      backend.address(), grpc::InsecureChannelCredentials(), args));
  // 100000 instant steps: the backend could write them all in well under a
  // second if nothing held it back.
  grpc::ClientContext context;
  auto reader = stub->WorkStream(&context, Work(100'000, absl::ZeroDuration()));
  WorkProgress progress;
  ASSERT_TRUE(reader->Read(&progress));
  absl::SleepFor(absl::Milliseconds(1500));  // The reader dawdles.
  EXPECT_EQ(backend.stats().in_flight, 1);

  // The backend's own clock shows where it waited: one step took as long as
  // the pause, and it came once the flow-control window was full, long
  // before the last step.
  absl::Duration previous = ToDuration(progress.elapsed());
  absl::Duration longest_wait;
  int waited_at = 0;
  int messages = 1;
  while (reader->Read(&progress)) {
    ++messages;
    const absl::Duration elapsed = ToDuration(progress.elapsed());
    if (elapsed - previous > longest_wait) {
      longest_wait = elapsed - previous;
      waited_at = progress.step();
    }
    previous = elapsed;
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(messages, 100'000);
  EXPECT_GT(longest_wait, absl::Seconds(1));
  EXPECT_LT(waited_at, 50'000);
}

}  // namespace
}  // namespace deadline::testing
