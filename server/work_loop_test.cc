#include "server/work_loop.h"

#include <utility>
#include <vector>

#include "common/fake_clock.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

constexpr absl::Duration kCheck = absl::Microseconds(500);

class WorkLoopTest : public ::testing::TestWithParam<bool> {
 protected:
  WorkSpec Spec(int steps, absl::Duration step) {
    return WorkSpec{steps, step, /*spin=*/GetParam()};
  }
  FakeClock clock_;
  const absl::Time t0_ = clock_.Now();
};

INSTANTIATE_TEST_SUITE_P(SleepAndSpin, WorkLoopTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "Spin" : "Sleep";
                         });

TEST_P(WorkLoopTest, CompletesEveryStepOnSchedule) {
  const WorkResult r = RunWork(
      Spec(10, absl::Milliseconds(10)), absl::InfiniteFuture(),
      [] { return false; }, clock_, kCheck);
  EXPECT_EQ(r.reason, StopReason::kCompleted);
  EXPECT_EQ(r.steps_done, 10);
  EXPECT_EQ(r.finished - t0_, absl::Milliseconds(100));
  EXPECT_EQ(r.stop_latency, absl::ZeroDuration());
}

TEST_P(WorkLoopTest, StopsExactlyAtTheDeadlineInsideALongStep) {
  // One 10 s step; the deadline falls 2.3 ms in.
  const WorkResult r = RunWork(
      Spec(1, absl::Seconds(10)), t0_ + absl::Microseconds(2300),
      [] { return false; }, clock_, kCheck);
  EXPECT_EQ(r.reason, StopReason::kDeadline);
  EXPECT_EQ(r.steps_done, 0);
  EXPECT_EQ(r.finished - t0_, absl::Microseconds(2300));
  EXPECT_EQ(r.stop_latency, absl::ZeroDuration());
}

TEST_P(WorkLoopTest, CountsTheStepsDoneBeforeTheDeadline) {
  const WorkResult r = RunWork(
      Spec(100, absl::Milliseconds(10)), t0_ + absl::Milliseconds(285),
      [] { return false; }, clock_, kCheck);
  EXPECT_EQ(r.reason, StopReason::kDeadline);
  EXPECT_EQ(r.steps_done, 28);
}

TEST_P(WorkLoopTest, NoticesCancellationWithinOneCheckInterval) {
  bool cancelled = false;
  const absl::Time cancel_at = t0_ + absl::Microseconds(7'250);
  clock_.OnAdvance([&](absl::Time now) {
    if (now >= cancel_at) cancelled = true;
  });
  const WorkResult r = RunWork(
      Spec(1, absl::Seconds(10)), absl::InfiniteFuture(),
      [&] { return cancelled; }, clock_, kCheck);
  EXPECT_EQ(r.reason, StopReason::kCancelled);
  EXPECT_EQ(r.steps_done, 0);
  EXPECT_GE(r.finished, cancel_at);
  EXPECT_LE(r.finished - cancel_at, kCheck);
  EXPECT_GT(r.stop_latency, absl::ZeroDuration());
  EXPECT_LE(r.stop_latency, kCheck);
}

TEST_P(WorkLoopTest, AlreadyExpiredDeadlineDoesNoWork) {
  const WorkResult r = RunWork(
      Spec(5, absl::Milliseconds(1)), t0_ - absl::Milliseconds(1),
      [] { return false; }, clock_, kCheck);
  EXPECT_EQ(r.reason, StopReason::kDeadline);
  EXPECT_EQ(r.steps_done, 0);
  EXPECT_EQ(clock_.Now(), t0_);
}

TEST_P(WorkLoopTest, AlreadyCancelledDoesNoWork) {
  const WorkResult r = RunWork(
      Spec(5, absl::Milliseconds(1)), absl::InfiniteFuture(),
      [] { return true; }, clock_, kCheck);
  EXPECT_EQ(r.reason, StopReason::kCancelled);
  EXPECT_EQ(r.steps_done, 0);
  EXPECT_EQ(clock_.Now(), t0_);
}

TEST_P(WorkLoopTest, DeadlineWinsWhenCancellationCameFromIt) {
  // gRPC marks a call cancelled when its deadline fires; the loop must still
  // report the deadline.
  const absl::Time deadline = t0_ + absl::Milliseconds(3);
  const WorkResult r = RunWork(
      Spec(1, absl::Seconds(1)), deadline,
      [&] { return clock_.Now() >= deadline; }, clock_, kCheck);
  EXPECT_EQ(r.reason, StopReason::kDeadline);
}

TEST_P(WorkLoopTest, ZeroStepsCompletesAtOnce) {
  const WorkResult r = RunWork(
      Spec(0, absl::Seconds(1)), t0_ + absl::Seconds(1), [] { return false; },
      clock_, kCheck);
  EXPECT_EQ(r.reason, StopReason::kCompleted);
  EXPECT_EQ(r.steps_done, 0);
  EXPECT_EQ(clock_.Now(), t0_);
}

TEST_P(WorkLoopTest, ChecksCancellationAtLeastEveryInterval) {
  int checks = 0;
  RunWork(
      Spec(2, absl::Milliseconds(5)), absl::InfiniteFuture(),
      [&] {
        ++checks;
        return false;
      },
      clock_, kCheck);
  // 10 ms of work at one check per 0.5 ms, plus the final check.
  EXPECT_GE(checks, 20);
  EXPECT_LE(checks, 22);
}

TEST_P(WorkLoopTest, CallsTheStepCallbackAfterEachStep) {
  std::vector<std::pair<int, absl::Duration>> calls;
  const WorkResult r = RunWork(
      Spec(3, absl::Milliseconds(2)), absl::InfiniteFuture(),
      [] { return false; }, clock_, kCheck,
      [&](int steps_done) {
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
      Spec(10, absl::Milliseconds(1)), absl::InfiniteFuture(),
      [] { return false; }, clock_, kCheck,
      [](int steps_done) { return steps_done < 4; });
  EXPECT_EQ(r.reason, StopReason::kAborted);
  EXPECT_EQ(r.steps_done, 4);
  EXPECT_EQ(r.finished - t0_, absl::Milliseconds(4));
}

}  // namespace
}  // namespace deadline
