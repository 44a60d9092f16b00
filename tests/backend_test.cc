// The callback backend's own promises, against a real server in this
// process: a call costs no thread, no reaction blocks, overload is refused
// at once, and queued work whose caller has gone never runs. Time bounds
// are generous (2-core, noisy machines); the tight figures are in bench/.
#include <unistd.h>

#include <memory>
#include <tuple>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/calls.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::v1::WorkReply;
using ::deadline::v1::WorkRequest;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Backend.Work in flight through the async stub.
class AsyncWork {
 public:
  AsyncWork(deadline::v1::Backend::Stub& stub, const WorkRequest& request,
            absl::Duration timeout = absl::InfiniteDuration())
      : request_(request) {
    if (timeout != absl::InfiniteDuration()) {
      context_.set_deadline(ToGrpcDeadline(absl::Now() + timeout));
    }
    start_ = absl::Now();
    stub.async()->Work(&context_, &request_, &reply_, [this](grpc::Status s) {
      status_ = std::move(s);
      elapsed_ = absl::Now() - start_;
      done_.Notify();
    });
  }
  ~AsyncWork() {
    context_.TryCancel();
    done_.WaitForNotification();
  }
  void Cancel() { context_.TryCancel(); }
  const grpc::Status& Wait() {
    done_.WaitForNotification();
    return status_;
  }
  absl::Duration elapsed() const { return elapsed_; }
  const WorkReply& reply() const { return reply_; }

 private:
  grpc::ClientContext context_;
  const WorkRequest request_;
  WorkReply reply_;
  grpc::Status status_;
  absl::Time start_;
  absl::Duration elapsed_;
  absl::Notification done_;
};

BackendOptions OneWorker(int max_queue) {
  BackendOptions options;
  options.workers = 1;
  options.max_queue = max_queue;
  options.log = LogMode::kNone;
  return options;
}

const WorkRequest kLongSpin = Work(1, absl::Seconds(10), /*spin=*/true);
// Time for a few kLongSpin calls to wait for one worker and then run.
constexpr absl::Duration kRoomy = absl::Seconds(50);

TEST(CallbackBackendTest, AFullQueueRefusesAtOnceNamingTheBound) {
  TestBackend backend(OneWorker(2));
  AsyncWork running(backend.stub(), kLongSpin);
  ASSERT_TRUE(WaitUntil([&] {
    return backend.stats().queue_depth == 0 && backend.stats().in_flight == 1;
  }));
  // Deadlines long enough for both to wait their turn and run.
  AsyncWork queued1(backend.stub(), kLongSpin, kRoomy);
  AsyncWork queued2(backend.stub(), kLongSpin, kRoomy);
  ASSERT_TRUE(WaitUntil([&] {
    const StatsSnapshot stats = backend.stats();
    return stats.in_flight == 3 && stats.queue_depth == 2;
  }));

  AsyncWork refused(backend.stub(), kLongSpin, absl::Seconds(10));
  EXPECT_EQ(refused.Wait().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.Wait().error_message(),
              AllOf(HasSubstr("backend: the work queue is full"),
                    HasSubstr("--max_queue=2")));
  EXPECT_LT(refused.elapsed(), absl::Seconds(2));
  EXPECT_EQ(backend.stats().overloaded, 1);
  // Sleep-like work needs no worker: it is still served.
  AsyncWork sleeper(backend.stub(), Work(1, absl::Milliseconds(1)),
                    absl::Seconds(10));
  EXPECT_TRUE(sleeper.Wait().ok()) << sleeper.Wait().error_message();
}

TEST(CallbackBackendTest, AQueueTooLongForTheDeadlineRefusesAtOnce) {
  TestBackend backend(OneWorker(10));
  AsyncWork running(backend.stub(), kLongSpin, kRoomy);
  ASSERT_TRUE(WaitUntil([&] {
    return backend.stats().queue_depth == 0 && backend.stats().in_flight == 1;
  }));
  AsyncWork queued(backend.stub(), kLongSpin, kRoomy);
  ASSERT_TRUE(WaitUntil([&] {
    const StatsSnapshot stats = backend.stats();
    return stats.in_flight == 2 && stats.queue_depth == 1;
  }));

  // 20 s of work is ahead of it (the running call's counts whole): 2 s
  // would run out in the queue.
  const WorkRequest short_spin = Work(1, absl::Milliseconds(100), true);
  AsyncWork refused(backend.stub(), short_spin, absl::Seconds(2));
  EXPECT_EQ(refused.Wait().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.Wait().error_message(),
              AllOf(HasSubstr("backend: the work queue is too long for this "
                              "call: 1 calls wait with 20s of work per worker"),
                    HasSubstr("this call's 100ms of work has 1.9")));
  EXPECT_LT(refused.elapsed(), absl::Seconds(1));
  EXPECT_EQ(backend.stats().overloaded, 1);
  // With time enough to wait its turn, it is queued.
  AsyncWork admitted(backend.stub(), short_spin, absl::Seconds(30));
  EXPECT_TRUE(WaitUntil([&] { return backend.stats().queue_depth == 2; }));
  EXPECT_EQ(backend.stats().overloaded, 1);
}

TEST(CallbackBackendTest, AQueuedCallWhoseCallerGoesLeavesTheQueueAtOnce) {
  TestBackend backend(OneWorker(10));
  AsyncWork running(backend.stub(), kLongSpin, kRoomy);
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));
  AsyncWork queued(backend.stub(), kLongSpin, kRoomy);
  // Both in, one waiting for the worker: the second (the pool is FIFO).
  ASSERT_TRUE(WaitUntil([&] {
    const StatsSnapshot stats = backend.stats();
    return stats.in_flight == 2 && stats.queue_depth == 1;
  }));
  queued.Cancel();
  EXPECT_EQ(queued.Wait().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(backend.WaitForEnded(1));
  const StatsSnapshot stats = backend.stats();
  EXPECT_EQ(stats.queue_depth, 0);
  EXPECT_EQ(stats.shed, 1);
  EXPECT_EQ(stats.cancelled, 1);
  EXPECT_EQ(stats.steps_done, 0);
  EXPECT_EQ(stats.in_flight, 1);  // The running one, still at work.
  const deadline::v1::HopTrace hop = backend.ended()[0];
  EXPECT_EQ(hop.steps_done(), 0);
  EXPECT_THAT(hop.stop(), HasSubstr("while waiting for a worker"));
}

// A call that the queue's estimate admits yet whose deadline passes before
// a worker takes it (a worker slower than the work's declared cost, on a
// crowded machine) leaves the queue at its stop time, with no step done:
// ShedAtDeadline in server/backend/backend_service.cc. The estimate makes that
// rare; what the client sees most is the refusal below.
TEST(CallbackBackendTest, AQueuedCallThatCouldNotStartInTimeIsRefusedAtOnce) {
  TestBackend backend(OneWorker(10));
  AsyncWork running(backend.stub(), kLongSpin);
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));
  // The worker is held for ~5 s (the running call's default deadline):
  // 300 ms would run out in the queue, so the call is not queued at all.
  AsyncWork refused(backend.stub(), kLongSpin, absl::Milliseconds(300));
  EXPECT_EQ(refused.Wait().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_LT(refused.elapsed(), absl::Milliseconds(250));
  const StatsSnapshot stats = backend.stats();
  EXPECT_EQ(stats.overloaded, 1);
  EXPECT_EQ(stats.shed, 0);
}

TEST(CallbackBackendTest, SleepingCallsHoldNoThread) {
  TestBackend backend(OneWorker(10));
  const int at_rest = ThreadsOf(getpid());
  std::vector<std::unique_ptr<AsyncWork>> calls;
  constexpr int kCalls = 1000;
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::make_unique<AsyncWork>(backend.stub(),
                                                Work(3, absl::Seconds(10))));
  }
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == kCalls; },
                        absl::Seconds(20)))
      << backend.stats().in_flight << " in flight";
  // gRPC may start a thread or two of its own under load; a thread per
  // call would be a thousand.
  EXPECT_LE(ThreadsOf(getpid()), at_rest + 8);

  const absl::Time cancelled = absl::Now();
  for (auto& call : calls) call->Cancel();
  ASSERT_TRUE(backend.WaitForEnded(kCalls, absl::Seconds(20)));
  EXPECT_LT(absl::Now() - cancelled, absl::Seconds(10));
  EXPECT_EQ(backend.stats().cancelled, kCalls);
  EXPECT_EQ(backend.stats().in_flight, 0);
}

TEST(CallbackBackendTest, NoReactionWaitsForTheWork) {
  // Every callback of the process shares gRPC's few callback threads
  // (two here). If a reaction ran the work, or waited for it, four
  // CPU-bound calls of 10 s and a crowd of sleeping ones would leave no
  // thread to answer anyone else.
  TestBackend backend(OneWorker(10));
  std::vector<std::unique_ptr<AsyncWork>> busy;
  for (int i = 0; i < 4; ++i) {
    busy.push_back(
        std::make_unique<AsyncWork>(backend.stub(), kLongSpin, kRoomy));
  }
  for (int i = 0; i < 100; ++i) {
    busy.push_back(std::make_unique<AsyncWork>(backend.stub(),
                                               Work(1, absl::Seconds(10))));
  }
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 104; }));

  const absl::Time start = absl::Now();
  EXPECT_EQ(FetchStats(backend.address()).calls_in_flight(), 104);
  AsyncWork quick(backend.stub(), Work(0, absl::ZeroDuration()),
                  absl::Seconds(10));
  EXPECT_TRUE(quick.Wait().ok()) << quick.Wait().error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));

  // Cancelling them all: the queued and sleeping ones end at once, the
  // running one at its next check.
  const absl::Time cancelled = absl::Now();
  for (auto& call : busy) call->Cancel();
  ASSERT_TRUE(backend.WaitForEnded(105, absl::Seconds(10)));
  EXPECT_LT(absl::Now() - cancelled, absl::Seconds(2));
  EXPECT_EQ(backend.stats().in_flight, 0);
}

TEST(CallbackBackendTest, ACallWithoutADeadlineGetsTheBackendsDefault) {
  BackendOptions options;
  options.budget.default_deadline = absl::Milliseconds(300);
  TestBackend backend(options);
  // 1 s of work, no deadline: anyone may call the backend directly.
  AsyncWork call(backend.stub(), Work(100, absl::Milliseconds(10)));
  EXPECT_EQ(call.Wait().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GE(call.elapsed(), absl::Milliseconds(290));
  EXPECT_LT(call.elapsed(), absl::Milliseconds(900));
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_LT(backend.stats().steps_done, 60);
}

TEST(CallbackBackendTest, ShutdownSaysTheServerCancelledTheCall) {
  TestBackend backend;
  AsyncWork call(backend.stub(), Work(100, absl::Milliseconds(100)));
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));
  backend.Stop(absl::Milliseconds(50));
  EXPECT_FALSE(call.Wait().ok());
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.ended()[0].stop(), "the server shut down");
  EXPECT_EQ(backend.stats().cancelled, 1);
}

// The --ignore_cancel anti-pattern, on both APIs and both kinds of work: the
// cancellation arrives and nobody checks it, so every step runs for a
// caller that has gone. This is what propagation alone cannot fix.
class IgnoreCancelTest
    : public ::testing::TestWithParam<std::tuple<BackendApi, bool>> {};

INSTANTIATE_TEST_SUITE_P(
    ApisAndWork, IgnoreCancelTest,
    ::testing::Combine(::testing::Values(BackendApi::kCallback,
                                         BackendApi::kSync),
                       ::testing::Bool()),
    [](const auto& info) {
      return ApiName(std::get<0>(info.param)) +
             (std::get<1>(info.param) ? "Spin" : "Sleep");
    });

TEST_P(IgnoreCancelTest, EveryStepRunsForACallerThatLeft) {
  const auto [api, spin] = GetParam();
  BackendOptions options;
  options.ignore_cancel = true;
  options.log = LogMode::kNone;
  TestBackend backend(options, api);
  // 10 x 30 ms of work; the caller cancels after about 50 ms.
  AsyncWork call(backend.stub(), Work(10, absl::Milliseconds(30), spin),
                 absl::Seconds(5));
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));
  absl::SleepFor(absl::Milliseconds(50));
  call.Cancel();
  EXPECT_EQ(call.Wait().error_code(), grpc::StatusCode::CANCELLED);
  // The caller has its answer; the backend works on, to the last step.
  ASSERT_TRUE(backend.WaitForEnded(1));
  const deadline::v1::HopTrace hop = backend.ended()[0];
  EXPECT_EQ(hop.code(), "OK");
  EXPECT_EQ(hop.steps_done(), 10);
  EXPECT_THAT(hop.stop(), HasSubstr("caller that had cancelled"));
  // The record says when the cancel came, well before the work finished.
  ASSERT_TRUE(hop.has_noticed_cancel_at());
  EXPECT_GT(
      FromProtoTime(hop.finished_at()) - FromProtoTime(hop.noticed_cancel_at()),
      absl::Milliseconds(100));
}

TEST_P(IgnoreCancelTest, ThePastDeadlineIsIgnoredToo) {
  const auto [api, spin] = GetParam();
  BackendOptions options;
  options.ignore_cancel = true;
  options.log = LogMode::kNone;
  TestBackend backend(options, api);
  // 400 ms of work on a 60 ms deadline: the client's own timer fires long
  // before the work could end, even with spinning threads crowding it.
  AsyncWork call(backend.stub(), Work(10, absl::Milliseconds(40), spin),
                 absl::Milliseconds(60));
  EXPECT_EQ(call.Wait().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.ended()[0].steps_done(), 10);
  EXPECT_EQ(backend.stats().ok, 1);
}

}  // namespace
}  // namespace deadline::testing
