#include "server/deadline/work_loop.h"

#include <utility>
#include <vector>

#include "common/fake_clock.h"
#include "gtest/gtest.h"
#include "server/deadline/cancel_signal.h"

namespace deadline {
namespace {

constexpr absl::Duration kSpinCheck = absl::Microseconds(500);

// Each behaviour holds for sleep-like and for CPU-bound work.
class WorkLoopTest : public ::testing::TestWithParam<bool> {
 protected:
  WorkSpec Spec(int steps, absl::Duration step) {
    return WorkSpec{steps, step, /*spin=*/GetParam()};
  }
  WorkResult Run(const WorkSpec& spec, absl::Time deadline) {
    return RunWork(spec, deadline, cancel_, clock_, kSpinCheck);
  }
  // The caller goes away at `at`, last seen waiting `seen_before` earlier.
  void CancelAt(absl::Time at, absl::Duration seen_before) {
    clock_.RunAt(at,
                 [this, at, seen_before] { cancel_.Cancel(at - seen_before); });
  }

  FakeClock clock_;
  CancelSignal cancel_{clock_};
  const absl::Time t0_ = clock_.Now();
};

INSTANTIATE_TEST_SUITE_P(SleepAndSpin, WorkLoopTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "Spin" : "Sleep";
                         });

TEST_P(WorkLoopTest, CompletesEveryStepOnSchedule) {
  const WorkResult r =
      Run(Spec(10, absl::Milliseconds(10)), absl::InfiniteFuture());
  EXPECT_EQ(r.reason, StopReason::kCompleted);
  EXPECT_EQ(r.steps_done, 10);
  EXPECT_EQ(r.finished - t0_, absl::Milliseconds(100));
  EXPECT_EQ(r.stop_latency, absl::ZeroDuration());
}

TEST_P(WorkLoopTest, StopsExactlyAtTheDeadlineInsideALongStep) {
  // One 10 s step; the deadline falls 2.3 ms in.
  const WorkResult r =
      Run(Spec(1, absl::Seconds(10)), t0_ + absl::Microseconds(2300));
  EXPECT_EQ(r.reason, StopReason::kDeadline);
  EXPECT_EQ(r.steps_done, 0);
  EXPECT_EQ(r.finished - t0_, absl::Microseconds(2300));
  EXPECT_EQ(r.stop_latency, absl::ZeroDuration());
}

TEST_P(WorkLoopTest, CountsTheStepsDoneBeforeTheDeadline) {
  const WorkResult r =
      Run(Spec(100, absl::Milliseconds(10)), t0_ + absl::Milliseconds(285));
  EXPECT_EQ(r.reason, StopReason::kDeadline);
  EXPECT_EQ(r.steps_done, 28);
}

TEST_P(WorkLoopTest, StopsWhenCancelledInsideALongStep) {
  const absl::Time cancel_at = t0_ + absl::Microseconds(7'250);
  CancelAt(cancel_at, absl::Microseconds(300));
  const WorkResult r = Run(Spec(1, absl::Seconds(10)), absl::InfiniteFuture());
  EXPECT_EQ(r.reason, StopReason::kCancelled);
  EXPECT_EQ(r.steps_done, 0);
  EXPECT_GE(r.finished, cancel_at);
  if (GetParam()) {
    // A spinning loop notices at its next check.
    EXPECT_LE(r.finished - cancel_at, kSpinCheck);
  } else {
    // A sleeping loop is woken by the signal itself.
    EXPECT_EQ(r.finished, cancel_at);
    EXPECT_EQ(r.stop_latency, absl::Microseconds(300));
  }
  EXPECT_LE(r.stop_latency, absl::Microseconds(300) + kSpinCheck);
}

TEST_P(WorkLoopTest, AlreadyExpiredDeadlineDoesNoWork) {
  const WorkResult r =
      Run(Spec(5, absl::Milliseconds(1)), t0_ - absl::Milliseconds(1));
  EXPECT_EQ(r.reason, StopReason::kDeadline);
  EXPECT_EQ(r.steps_done, 0);
  EXPECT_EQ(clock_.Now(), t0_);
}

TEST_P(WorkLoopTest, AlreadyCancelledDoesNoWork) {
  cancel_.Cancel(t0_);
  const WorkResult r =
      Run(Spec(5, absl::Milliseconds(1)), absl::InfiniteFuture());
  EXPECT_EQ(r.reason, StopReason::kCancelled);
  EXPECT_EQ(r.steps_done, 0);
  EXPECT_EQ(clock_.Now(), t0_);
}

TEST_P(WorkLoopTest, DeadlineWinsWhenCancellationCameFromIt) {
  // gRPC also cancels a call when its deadline passes; the loop must still
  // report the deadline.
  const absl::Time deadline = t0_ + absl::Milliseconds(3);
  CancelAt(deadline, absl::ZeroDuration());
  const WorkResult r = Run(Spec(1, absl::Seconds(1)), deadline);
  EXPECT_EQ(r.reason, StopReason::kDeadline);
}

TEST_P(WorkLoopTest, ZeroStepsCompletesAtOnce) {
  const WorkResult r = Run(Spec(0, absl::Seconds(1)), t0_ + absl::Seconds(1));
  EXPECT_EQ(r.reason, StopReason::kCompleted);
  EXPECT_EQ(r.steps_done, 0);
  EXPECT_EQ(clock_.Now(), t0_);
}

TEST_P(WorkLoopTest, CallsTheStepCallbackAfterEachStep) {
  std::vector<std::pair<int, absl::Duration>> calls;
  const WorkResult r =
      RunWork(Spec(3, absl::Milliseconds(2)), absl::InfiniteFuture(), cancel_,
              clock_, kSpinCheck, [&](int steps_done) {
                calls.emplace_back(steps_done, clock_.Now() - t0_);
                return true;
              });
  EXPECT_EQ(r.reason, StopReason::kCompleted);
  EXPECT_EQ(calls, (std::vector<std::pair<int, absl::Duration>>{
                       {1, absl::Milliseconds(2)},
                       {2, absl::Milliseconds(4)},
                       {3, absl::Milliseconds(6)}}));
}

TEST_P(WorkLoopTest, StepCallbackCanStopTheLoop) {
  const WorkResult r = RunWork(
      Spec(10, absl::Milliseconds(1)), absl::InfiniteFuture(), cancel_, clock_,
      kSpinCheck, [](int steps_done) { return steps_done < 4; });
  EXPECT_EQ(r.reason, StopReason::kAborted);
  EXPECT_EQ(r.steps_done, 4);
  EXPECT_EQ(r.finished - t0_, absl::Milliseconds(4));
}

// A caller that can only be asked, as in the callback API: no signal wakes a
// sleep, so only the loop's own checks notice.
class AskedCaller final : public Caller {
 public:
  bool IsCancelled() override {
    ++asked;
    return cancelled;
  }
  void WaitUntil(absl::Time) override { ADD_FAILURE() << "spin work waited"; }
  bool cancelled = false;
  int asked = 0;
};

TEST(WorkLoopSpinTest, AsksTheCallerAtEveryCheck) {
  FakeClock clock;
  AskedCaller caller;
  const absl::Time t0 = clock.Now();
  // Cancelled 2.2 ms into 1 s of CPU-bound work, checked every 0.5 ms.
  clock.RunAt(t0 + absl::Microseconds(2200), [&] { caller.cancelled = true; });
  const WorkResult r =
      RunWork(WorkSpec{1, absl::Seconds(1), true}, absl::InfiniteFuture(),
              caller, clock, kSpinCheck);
  EXPECT_EQ(r.reason, StopReason::kCancelled);
  EXPECT_EQ(r.finished - t0, absl::Microseconds(2500));
  // Checks at 0, 0.5, ..., 2.5 ms; the last "still waiting" was at 2 ms.
  EXPECT_EQ(caller.asked, 6);
  EXPECT_EQ(r.stop_latency, absl::Microseconds(500));
}

TEST(StepScheduleTest, StepsDoneFollowTheFixedSchedule) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  const WorkSpec spec{10, absl::Milliseconds(10), false};
  EXPECT_EQ(StepEnd(spec, t0, 0), t0 + absl::Milliseconds(10));
  EXPECT_EQ(StepEnd(spec, t0, 9), t0 + absl::Milliseconds(100));
  EXPECT_EQ(StepsDoneBy(spec, t0, t0 - absl::Seconds(1)), 0);
  EXPECT_EQ(StepsDoneBy(spec, t0, t0 + absl::Microseconds(9999)), 0);
  EXPECT_EQ(StepsDoneBy(spec, t0, t0 + absl::Milliseconds(10)), 1);
  EXPECT_EQ(StepsDoneBy(spec, t0, t0 + absl::Milliseconds(57)), 5);
  EXPECT_EQ(StepsDoneBy(spec, t0, t0 + absl::Hours(1)), 10);
  // Instant steps are all done at once.
  EXPECT_EQ(StepsDoneBy(WorkSpec{7, absl::ZeroDuration(), false}, t0, t0), 7);
}

}  // namespace
}  // namespace deadline
