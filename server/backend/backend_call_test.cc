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
  WorkResult Result(StopReason reason, int steps, absl::Duration latency) {
    return WorkResult{steps, reason, clock_.Now(), latency};
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
    absl::StatusCode code;
    const char* stop;
  };
  for (const Case& c :
       {Case{StopReason::kCompleted, absl::StatusCode::kOk, "done"},
        Case{StopReason::kDeadline, absl::StatusCode::kDeadlineExceeded,
             "at its deadline"},
        Case{StopReason::kCancelled, absl::StatusCode::kCancelled,
             "the caller cancelled"},
        Case{StopReason::kAborted, absl::StatusCode::kCancelled,
             "the caller cancelled"}}) {
    BackendCall call(core(), {"Work", "id", now_ + Milliseconds(100)},
                     Work(10, Milliseconds(10)));
    const absl::Status& status =
        call.End(Result(c.reason, 4, absl::ZeroDuration()));
    EXPECT_EQ(status.code(), c.code);
    EXPECT_EQ(call.trace().hops(0).stop(), c.stop);
    EXPECT_EQ(call.trace().hops(0).steps_done(), 4);
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
  EXPECT_EQ(stats.steps_done, 16);
}

TEST_F(BackendCallTest, ACallShedFromTheQueueSaysSo) {
  BackendCall call(core(), {"Work", "id", now_ + Milliseconds(100)},
                   Work(10, Milliseconds(10)));
  const absl::Status& status = call.End(
      Result(StopReason::kDeadline, 0, absl::ZeroDuration()), /*shed=*/true);
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
  EXPECT_EQ(
      early.End(Result(StopReason::kCancelled, 9, absl::ZeroDuration())).code(),
      absl::StatusCode::kCancelled);

  clock_.Advance(Milliseconds(2));  // At the deadline.
  const absl::Status& status =
      late.End(Result(StopReason::kCancelled, 9, absl::ZeroDuration()));
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
  EXPECT_THAT(
      during_grace.End(Result(StopReason::kCancelled, 2, absl::ZeroDuration()))
          .message(),
      HasSubstr("the caller cancelled"));
  BackendCall call(core(), {"Work", "id", absl::InfiniteFuture()},
                   Work(10, Milliseconds(10)));
  clock_.Advance(Milliseconds(30));
  const absl::Status& status =
      call.End(Result(StopReason::kCancelled, 2, absl::ZeroDuration()));
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
  call.End(Result(StopReason::kCompleted, 10, absl::ZeroDuration()));
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
