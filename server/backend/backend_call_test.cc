#include "server/backend/backend_call.h"

#include <memory>

#include "common/fake_clock.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

using absl::Milliseconds;
using ::testing::AllOf;
using ::testing::HasSubstr;

class BackendCallTest : public ::testing::Test {
 protected:
  BackendCallTest() { options_.log = LogMode::kNone; }

  BackendCore& core() {
    if (core_ == nullptr)
      core_ = std::make_unique<BackendCore>(options_, clock_);
    return *core_;
  }
  static deadline::v1::WorkRequest Work(int steps, absl::Duration step) {
    deadline::v1::WorkRequest request;
    request.set_steps(steps);
    ToProtoDuration(step, request.mutable_step_duration());
    return request;
  }
  // How work that stopped now for `reason` after `steps` steps looks to
  // the call.
  WorkStop Stopped(StopReason reason, int steps) {
    return WorkStop::Of(
        WorkResult{steps, reason, clock_.Now(), absl::ZeroDuration()});
  }

  FakeClock clock_;
  const absl::Time now_ = clock_.Now();
  BackendOptions options_;
  std::unique_ptr<BackendCore> core_;
};

TEST_F(BackendCallTest, AdmitsWorkAndStopsAReserveBeforeTheDeadline) {
  BackendCall call(core(), {"Work", "id", now_ + Milliseconds(300)},
                   Work(10, Milliseconds(5)));
  ASSERT_TRUE(call.admitted());
  EXPECT_EQ(call.spec().steps, 10);
  // 9 ms of arrival slack (3%), and the 2 ms reserve.
  EXPECT_EQ(call.stop_at(), now_ + Milliseconds(289));
  EXPECT_EQ(core().stats().Snapshot().in_flight, 1);
}

TEST_F(BackendCallTest, TheSlowdownStretchesEveryStep) {
  options_.slowdown = 3;
  BackendCall call(core(), {"Work", "id", absl::InfiniteFuture()},
                   Work(10, Milliseconds(5)));
  EXPECT_EQ(call.spec().step, Milliseconds(15));
}

TEST_F(BackendCallTest, NoDeadlineGetsTheDefaultAndLongOnesAreClamped) {
  options_.budget.default_deadline = Milliseconds(700);
  options_.budget.max_deadline = absl::Seconds(2);
  BackendCall none(core(), {"Work", "id", absl::InfiniteFuture()},
                   Work(1, Milliseconds(1)));
  EXPECT_EQ(none.stop_at(), now_ + Milliseconds(698));
  BackendCall far(core(), {"Work", "id", now_ + absl::Hours(2'500'000)},
                  Work(1, Milliseconds(1)));
  EXPECT_EQ(far.stop_at(), now_ + absl::Seconds(2) - Milliseconds(2));
}

TEST_F(BackendCallTest, ABadRequestEndsAtOnceNamingTheField) {
  BackendCall call(core(), {"Work", "id", absl::InfiniteFuture()},
                   Work(-3, Milliseconds(1)));
  EXPECT_FALSE(call.admitted());
  EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(call.status().message(),
              AllOf(HasSubstr("backend: steps"), HasSubstr("100000")));
  EXPECT_EQ(call.trace().hops(0).stop(), "invalid request");
  EXPECT_EQ(core().stats().Snapshot().invalid, 1);
}

TEST_F(BackendCallTest, ARequestThatDidNotArriveWholeEndsWithItsCode) {
  BackendCall unparsed(
      core(), {"Work", "id", absl::InfiniteFuture()}, Work(1, Milliseconds(1)),
      absl::InvalidArgumentError("the request did not parse as a X"));
  EXPECT_FALSE(unparsed.admitted());
  EXPECT_EQ(unparsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unparsed.status().message(),
            "backend: the request did not parse as a X");
  EXPECT_EQ(unparsed.trace().hops(0).stop(),
            "the request did not parse as a X");
  BackendCall gone(core(), {"Work", "id", absl::InfiniteFuture()},
                   Work(1, Milliseconds(1)), absl::CancelledError("gone"));
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(core().stats().Snapshot().invalid, 1);
  EXPECT_EQ(core().stats().Snapshot().cancelled, 1);
}

TEST_F(BackendCallTest, TooLittleBudgetFailsFastWithoutWork) {
  BackendCall call(core(), {"Work", "id", now_ + Milliseconds(1)},
                   Work(10, Milliseconds(1)));
  EXPECT_FALSE(call.admitted());
  EXPECT_EQ(call.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(call.status().message(),
              AllOf(HasSubstr("backend: 1ms left at arrival"),
                    HasSubstr("2ms reserve"), HasSubstr("no work done")));
  EXPECT_EQ(core().stats().Snapshot().rejected, 1);
}

TEST_F(BackendCallTest, EachEndingHasItsCodeAndSaysWhy) {
  struct Case {
    StopReason reason;
    int steps;
    absl::StatusCode code;
    const char* stop;
  };
  for (const Case& c :
       {Case{StopReason::kCompleted, 10, absl::StatusCode::kOk, "done"},
        Case{StopReason::kDeadline, 4, absl::StatusCode::kDeadlineExceeded,
             "at its deadline"},
        Case{StopReason::kCancelled, 4, absl::StatusCode::kCancelled,
             "the caller cancelled"},
        Case{StopReason::kAborted, 4, absl::StatusCode::kCancelled,
             "the caller cancelled"}}) {
    BackendCall call(core(), {"Work", "id", now_ + Milliseconds(100)},
                     Work(10, Milliseconds(10)));
    const absl::Status& status = call.End(Stopped(c.reason, c.steps));
    EXPECT_EQ(status.code(), c.code);
    EXPECT_EQ(call.trace().hops(0).stop(), c.stop);
    EXPECT_EQ(call.trace().hops(0).steps_done(), c.steps);
    if (c.code != absl::StatusCode::kOk) {
      EXPECT_THAT(
          status.message(),
          AllOf(HasSubstr("backend: 100ms at arrival"),
                HasSubstr("stopped after 4/10 steps"), HasSubstr(c.stop)));
    }
  }
  const StatsSnapshot stats = core().stats().Snapshot();
  EXPECT_EQ(stats.ok, 1);
  EXPECT_EQ(stats.deadline_exceeded, 1);
  EXPECT_EQ(stats.cancelled, 2);
  EXPECT_EQ(stats.steps_done, 22);
}

// Why a call stopped is decided from when things happened, not from which
// path noticed them first.
TEST_F(BackendCallTest, TheReasonFollowsFromTheFactsWhoeverSeesThem) {
  const auto arrive = [&] {
    return std::make_unique<BackendCall>(
        core(), CallArrival{"Work", "id", now_ + Milliseconds(100)},
        Work(10, Milliseconds(10)));
  };
  // A cancel heard at 40 ms, acted on at 41 ms by a loop that last saw
  // its caller waiting at 40.5 ms.
  auto cancelled = arrive();
  WorkStop stop;
  stop.steps_done = 4;
  stop.at = now_ + Milliseconds(41);
  stop.cancel_heard_at = now_ + Milliseconds(40);
  stop.alive_at = now_ + absl::Microseconds(40'500);
  EXPECT_EQ(cancelled->End(stop).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(FromProtoTime(cancelled->trace().hops(0).noticed_cancel_at()),
            now_ + Milliseconds(40));
  // Work that ran all its steps is done, and says if its caller had gone
  // (before its deadline: gRPC's own cancel at the deadline is no news).
  auto done_for_nobody = arrive();
  stop.steps_done = 10;
  EXPECT_TRUE(done_for_nobody->End(stop).ok());
  EXPECT_EQ(done_for_nobody->trace().hops(0).stop(),
            "done, for a caller that had cancelled");
  auto done_at_deadline = arrive();
  stop.cancel_heard_at = now_ + Milliseconds(100);
  EXPECT_EQ(done_at_deadline->End(stop).ok(), true);
  EXPECT_EQ(done_at_deadline->trace().hops(0).stop(), "done");
  // Nothing heard, steps left: the stop time came.
  auto expired = arrive();
  WorkStop late;
  late.steps_done = 9;
  late.at = now_ + Milliseconds(96);
  EXPECT_EQ(expired->End(late).code(), absl::StatusCode::kDeadlineExceeded);
  // The stop latencies: 0.5 ms after the caller was last seen waiting, and
  // 1 ms after the stop time (100 - 3 slack - 2 reserve).
  EXPECT_EQ(core().stats().Snapshot().max_stop_latency, Milliseconds(1));
}

TEST_F(BackendCallTest, ACallShedFromTheQueueSaysSo) {
  BackendCall call(core(), {"Work", "id", now_ + Milliseconds(100)},
                   Work(10, Milliseconds(10)));
  WorkStop stop = Stopped(StopReason::kDeadline, 0);
  stop.shed = true;
  const absl::Status& status = call.End(stop);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(status.message(), HasSubstr("while waiting for a worker"));
  EXPECT_EQ(core().stats().Snapshot().shed, 1);
  EXPECT_EQ(core().stats().Snapshot().deadline_exceeded, 1);
}

// gRPC cancels a call when its deadline passes; when that reaches the work
// before the backend's own stop time (a busy machine), it is still the
// deadline's.
TEST_F(BackendCallTest, ACancelAtTheDeadlineIsTheDeadlines) {
  BackendCall early(core(), {"Work", "id", now_ + Milliseconds(100)},
                    Work(10, Milliseconds(10)));
  BackendCall late(core(), {"Work", "id", now_ + Milliseconds(100)},
                   Work(10, Milliseconds(10)));
  clock_.Advance(Milliseconds(98));  // Past the stop time, before the deadline.
  EXPECT_EQ(early.End(Stopped(StopReason::kCancelled, 9)).code(),
            absl::StatusCode::kCancelled);

  clock_.Advance(Milliseconds(2));  // At the deadline.
  const absl::Status& status = late.End(Stopped(StopReason::kCancelled, 9));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(late.trace().hops(0).stop(), "at its deadline");
  // Later than the stop time (100 - 3 slack - 2 reserve) by 5 ms.
  EXPECT_EQ(core().stats().Snapshot().max_stop_latency, Milliseconds(5));
  EXPECT_EQ(core().stats().Snapshot().deadline_exceeded, 1);
}

TEST_F(BackendCallTest, CancelledByAShutdownSaysTheServerDidIt) {
  core().BeginShutdown(now_ + Milliseconds(50));
  BackendCall during_grace(core(), {"Work", "id", absl::InfiniteFuture()},
                           Work(10, Milliseconds(10)));
  clock_.Advance(Milliseconds(20));
  EXPECT_THAT(during_grace.End(Stopped(StopReason::kCancelled, 2)).message(),
              HasSubstr("the caller cancelled"));
  BackendCall call(core(), {"Work", "id", absl::InfiniteFuture()},
                   Work(10, Milliseconds(10)));
  clock_.Advance(Milliseconds(30));
  const absl::Status& status = call.End(Stopped(StopReason::kCancelled, 2));
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(status.message(), HasSubstr("the server shut down"));
  EXPECT_EQ(call.trace().hops(0).stop(), "the server shut down");
}

TEST_F(BackendCallTest, RefusedForOverloadIsResourceExhausted) {
  BackendCall call(core(), {"Work", "id", absl::InfiniteFuture()},
                   Work(10, Milliseconds(10)));
  const absl::Status& status =
      call.Refuse(absl::ResourceExhaustedError("the work queue is full"));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(status.message(), "backend: the work queue is full");
  EXPECT_EQ(core().stats().Snapshot().overloaded, 1);
}

TEST_F(BackendCallTest, RepliesCarryTheStepsAndTheBudget) {
  BackendCall call(core(), {"Work", "id", now_ + Milliseconds(100)},
                   Work(10, Milliseconds(1)));
  clock_.Advance(Milliseconds(10));
  call.End(Stopped(StopReason::kCompleted, 10));
  deadline::v1::WorkReply reply;
  call.FillReply(reply);
  EXPECT_EQ(reply.steps_done(), 10);
  EXPECT_EQ(*FromProtoDuration(reply.budget_at_arrival(), ""),
            Milliseconds(100));
  deadline::v1::WorkProgress progress;
  call.FillProgress(3, now_ + Milliseconds(3), progress);
  EXPECT_EQ(progress.step(), 3);
  EXPECT_EQ(*FromProtoDuration(progress.elapsed(), ""), Milliseconds(3));
  EXPECT_EQ(*FromProtoDuration(progress.time_left(), ""), Milliseconds(97));
}

TEST_F(BackendCallTest, AFailRateRefusesThatShareOfCallsBeforeAnyWork) {
  options_.fail_rate = 1;
  BackendCall call(core(), {"Work", "id", absl::InfiniteFuture(), 3},
                   Work(10, Milliseconds(1)));
  EXPECT_FALSE(call.admitted());
  EXPECT_EQ(call.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(call.status().message(), HasSubstr("--fail_rate"));
  EXPECT_EQ(call.trace().hops(0).attempt(), 3);
  EXPECT_EQ(call.trace().hops(0).steps_done(), 0);
}

TEST_F(BackendCallTest, AboutTheGivenShareFails) {
  options_.fail_rate = 0.5;
  int failed = 0;
  for (int i = 0; i < 1000; ++i) {
    BackendCall call(core(), {"Work", "id", absl::InfiniteFuture()},
                     Work(1, Milliseconds(1)));
    failed += !call.admitted();
  }
  EXPECT_GT(failed, 400);
  EXPECT_LT(failed, 600);
}

TEST(BackendOptionsTest, RefusesNonsenseNamingTheFlag) {
  BackendOptions options;
  EXPECT_TRUE(ValidateBackendOptions(options).ok());
  options.workers = 0;
  EXPECT_THAT(ValidateBackendOptions(options).message(),
              HasSubstr("--workers"));
  options = BackendOptions();
  options.slowdown = 0.5;
  EXPECT_THAT(ValidateBackendOptions(options).message(),
              HasSubstr("--slowdown"));
  options = BackendOptions();
  options.max_queue = -1;
  EXPECT_THAT(ValidateBackendOptions(options).message(),
              HasSubstr("--max_queue"));
}

}  // namespace
}  // namespace deadline
