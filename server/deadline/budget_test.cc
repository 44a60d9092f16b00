#include "server/deadline/budget.h"

#include "common/fake_clock.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

using absl::Microseconds;
using absl::Milliseconds;
using absl::Seconds;

class BudgetPolicyTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  const absl::Time now_ = clock_.Now();
  BudgetPolicy policy_{BudgetOptions{}, clock_};  // 10ms reserve, 5ms min.
};

TEST_F(BudgetPolicyTest, ForwardsTheCallersBudgetMinusSlackAndReserve) {
  const Budget b = policy_.Plan(now_ + Milliseconds(300));
  EXPECT_EQ(b.at_arrival, Milliseconds(300));
  // 300ms - 9ms (3%, the HPACK reuse) - 10ms.
  EXPECT_EQ(b.forwarded, Milliseconds(281));
  EXPECT_EQ(b.forward_deadline, now_ + Milliseconds(281));
  EXPECT_FALSE(b.fail_fast);
}

TEST_F(BudgetPolicyTest, MeasuresFromNowNotFromConstruction) {
  clock_.Advance(Milliseconds(100));
  const Budget b = policy_.Plan(now_ + Milliseconds(300));
  EXPECT_EQ(b.at_arrival, Milliseconds(200));
  EXPECT_EQ(b.forwarded, Milliseconds(184));  // 200 - 6 - 10.
}

TEST_F(BudgetPolicyTest, FailsFastBelowSlackPlusReservePlusMinimum) {
  // 15ms may really be 14: 1ms of slack, 10 of reserve, 5 of minimum.
  EXPECT_TRUE(policy_.Plan(now_ + Milliseconds(15)).fail_fast);
  EXPECT_FALSE(policy_.Plan(now_ + Milliseconds(16)).fail_fast);
}

TEST_F(BudgetPolicyTest, FailsFastWhenTheDeadlineHasPassed) {
  const Budget b = policy_.Plan(now_ - Milliseconds(3));
  EXPECT_TRUE(b.fail_fast);
  EXPECT_EQ(b.at_arrival, -Milliseconds(3));
}

TEST_F(BudgetPolicyTest, NoDeadlineGetsTheDefaultWithoutOverflow) {
  const Budget b = policy_.Plan(absl::InfiniteFuture());
  EXPECT_EQ(b.at_arrival, absl::InfiniteDuration());
  EXPECT_EQ(b.forwarded, Seconds(5) - Milliseconds(10));
  EXPECT_EQ(b.forward_deadline, now_ + b.forwarded);
  EXPECT_FALSE(b.fail_fast);
}

TEST_F(BudgetPolicyTest, LongDeadlinesAreClamped) {
  const Budget b = policy_.Plan(now_ + absl::Hours(24 * 365));
  EXPECT_EQ(b.at_arrival, absl::Hours(24 * 365));
  EXPECT_EQ(b.forwarded, Seconds(60) - Milliseconds(10));
}

TEST_F(BudgetPolicyTest, ExplainsAFailFast) {
  const Budget b = policy_.Plan(now_ + Milliseconds(3));
  EXPECT_EQ(policy_.ExplainFailFast(b),
            "3ms left at arrival, less than the 10ms reserve + 5ms minimum + "
            "1ms of arrival slack");
  EXPECT_EQ(policy_.ExplainFailFast(policy_.Plan(now_ - Milliseconds(1))),
            "-1ms left at arrival, less than the 10ms reserve + 5ms minimum");
}

TEST_F(BudgetPolicyTest, AHopsOwnCapComesOffWhenItIsFirst) {
  // A caller with 300ms at a hop that allows 100ms: the cap, less the
  // reserve, from the arrival.
  const Budget capped =
      policy_.Plan(now_ + Milliseconds(300), now_, Milliseconds(100));
  EXPECT_TRUE(capped.capped);
  EXPECT_EQ(capped.at_arrival, Milliseconds(300));
  EXPECT_EQ(capped.forwarded, Milliseconds(90));
  EXPECT_EQ(capped.forward_deadline, now_ + Milliseconds(90));
  // Under the cap, the caller's deadline rules; none, the default's.
  const Budget under = policy_.Plan(now_ + Milliseconds(50), now_, Seconds(1));
  EXPECT_FALSE(under.capped);
  EXPECT_EQ(under.forwarded, Milliseconds(50 - 2 - 10));
  EXPECT_TRUE(policy_.Plan(absl::InfiniteFuture(), now_, Seconds(1)).capped);
  // Whether to fail fast is the caller's budget's question, not the cap's.
  EXPECT_TRUE(
      policy_.Plan(now_ + Milliseconds(15), now_, Milliseconds(100)).fail_fast);
}

TEST_F(BudgetPolicyTest, AFurtherCallIsWorthStartingUntilTheMinimumIsLeft) {
  const Budget b = policy_.Plan(now_ + Milliseconds(300));
  EXPECT_EQ(policy_.LastStart(b), b.forward_deadline - Milliseconds(5));
}

// A caller's absolute deadline (deadline-at), beside grpc-timeout.
class AbsoluteDeadlineTest : public BudgetPolicyTest {
 protected:
  // A 300 ms call read `waited` after it was sent at `now_`: grpc-timeout
  // counts from the read, deadline-at does not.
  CallerDeadline Sent(absl::Duration waited = absl::ZeroDuration()) {
    CallerDeadline caller(now_ + waited + Milliseconds(300));
    caller.at = now_ + Milliseconds(300);
    caller.sent_at = now_;
    return caller;
  }
};

TEST_F(AbsoluteDeadlineTest, TrustedItNeedsNoArrivalSlack) {
  const Budget b = policy_.Plan(Sent(), now_);
  EXPECT_FALSE(b.deadline_at_ignored);
  EXPECT_EQ(b.at_arrival, Milliseconds(300));
  EXPECT_EQ(b.slack, absl::ZeroDuration());
  EXPECT_EQ(b.forwarded, Milliseconds(290));  // The reserve alone.
  EXPECT_EQ(b.arrival_delay, absl::ZeroDuration());
}

TEST_F(AbsoluteDeadlineTest, AWaitBeforeTheReadComesOffTheBudget) {
  // Read 44 ms after it was sent: grpc-timeout says 300 ms are left,
  // deadline-at says 256 (and the allowed 2 ms of skew).
  const Budget b =
      policy_.Plan(Sent(Milliseconds(44)), now_ + Milliseconds(44));
  EXPECT_EQ(b.from, DeadlineFrom::kAbsolute);
  EXPECT_EQ(b.at_arrival, Milliseconds(258));
  EXPECT_EQ(b.forwarded, Milliseconds(248));
  EXPECT_EQ(b.arrival_delay, Milliseconds(44));
}

TEST_F(AbsoluteDeadlineTest, OnePassedBeyondTheSkewFailsFastAsLate) {
  const Budget b =
      policy_.Plan(Sent(Milliseconds(400)), now_ + Milliseconds(400));
  EXPECT_TRUE(b.fail_fast);
  ASSERT_TRUE(b.arrived_late.has_value());
  EXPECT_EQ(*b.arrived_late, Milliseconds(100));
  EXPECT_EQ(policy_.ExplainFailFast(b),
            "arrived 100ms after its caller's deadline (deadline-at)");
  // Within the skew it is not late: it fails fast for too little budget.
  const Budget within =
      policy_.Plan(Sent(Milliseconds(301)), now_ + Milliseconds(301));
  EXPECT_FALSE(within.arrived_late.has_value());
}

TEST_F(AbsoluteDeadlineTest, AnAbsurdOneNeverLengthensABudget) {
  const Budget relative_alone = policy_.Plan(now_ + Milliseconds(300), now_);
  CallerDeadline later = Sent();
  later.at = now_ + absl::Hours(1);  // Beyond --max_deadline too.
  CallerDeadline beyond_relative = Sent();
  beyond_relative.at = now_ + Milliseconds(303);  // Later than 300 + 2.
  CallerDeadline unparsed = Sent();
  unparsed.malformed = true;
  CallerDeadline ahead = Sent();  // A caller whose clock is 1 s ahead.
  ahead.sent_at = now_ + absl::Seconds(1);
  ahead.at = *ahead.sent_at + Milliseconds(300);
  for (const CallerDeadline& caller :
       {later, beyond_relative, unparsed, ahead}) {
    const Budget b = policy_.Plan(caller, now_);
    EXPECT_TRUE(b.deadline_at_ignored);
    EXPECT_EQ(b.from, DeadlineFrom::kRelative);
    // Planned as for a caller that sends none: the slack comes off.
    EXPECT_EQ(b.forwarded, relative_alone.forwarded);
    EXPECT_FALSE(b.arrival_delay.has_value());
  }
}

TEST_F(AbsoluteDeadlineTest, SwitchedOffOnlyGrpcTimeoutCounts) {
  BudgetOptions options;
  options.absolute_deadline = false;
  const BudgetPolicy policy(options, clock_);
  const Budget b = policy.Plan(Sent(Milliseconds(44)), now_ + Milliseconds(44));
  EXPECT_FALSE(b.deadline_at_ignored);  // Not sent for: nothing to count.
  EXPECT_EQ(b.at_arrival, Milliseconds(300));
  EXPECT_EQ(b.forwarded,
            policy_.Plan(now_ + Milliseconds(300), now_).forwarded);
}

TEST(BudgetOptionsTest, TheSkewMayNotExceedTheReserve) {
  BudgetOptions options;
  options.clock_skew = options.reserve + Milliseconds(1);
  EXPECT_EQ(ValidateBudgetOptions(options).code(),
            absl::StatusCode::kInvalidArgument);
  options.clock_skew = -Milliseconds(1);
  EXPECT_EQ(ValidateBudgetOptions(options).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AtOrPastTest, AMomentWithinAMillisecondOfTheDeadlineIsAtIt) {
  const absl::Time deadline = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(AtOrPast(deadline, deadline - Microseconds(1001)));
  EXPECT_TRUE(AtOrPast(deadline, deadline - Microseconds(1000)));
  EXPECT_TRUE(AtOrPast(deadline, deadline + Seconds(1)));
  EXPECT_FALSE(AtOrPast(absl::InfiniteFuture(), deadline));
}

TEST(BudgetOptionsTest, DefaultsAreValid) {
  EXPECT_TRUE(ValidateBudgetOptions(BudgetOptions{}).ok());
}

TEST(BudgetOptionsTest, RejectsNonsense) {
  BudgetOptions negative_reserve;
  negative_reserve.reserve = -Milliseconds(1);
  BudgetOptions infinite_max;
  infinite_max.max_deadline = absl::InfiniteDuration();
  BudgetOptions default_too_small;
  default_too_small.default_deadline = Milliseconds(12);
  BudgetOptions max_below_default;
  max_below_default.max_deadline = Seconds(1);
  for (const BudgetOptions& options :
       {negative_reserve, infinite_max, default_too_small, max_below_default}) {
    EXPECT_EQ(ValidateBudgetOptions(options).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(BudgetPolicyTest, WhatTheWireMayHaveRoundedUpComesOff) {
  // 1.5 s arrived: the caller's deadline may be up to 10 ms (rounding) +
  // 45 ms (HPACK reuse) earlier.
  const Budget b = policy_.Plan(now_ + Milliseconds(1500));
  EXPECT_EQ(b.at_arrival, Milliseconds(1500));
  EXPECT_EQ(b.forwarded, Milliseconds(1435));
}

TEST(ArrivalSlackTest, IsTheRoundingPlusThreePercentRoundedUp) {
  EXPECT_EQ(ArrivalSlack(Milliseconds(100)), Milliseconds(3));
  EXPECT_EQ(ArrivalSlack(Milliseconds(150)), Milliseconds(5));  // 4.5 up.
  EXPECT_EQ(ArrivalSlack(Microseconds(1)), Milliseconds(1));
  EXPECT_EQ(ArrivalSlack(Seconds(2)), Milliseconds(10 + 60));
  EXPECT_EQ(ArrivalSlack(Seconds(60)), Milliseconds(100 + 1800));
  EXPECT_EQ(ArrivalSlack(absl::ZeroDuration()), absl::ZeroDuration());
  EXPECT_EQ(ArrivalSlack(-Seconds(1)), absl::ZeroDuration());
  EXPECT_EQ(ArrivalSlack(absl::InfiniteDuration()), absl::ZeroDuration());
  // No overflow, however far the deadline.
  EXPECT_GT(ArrivalSlack(absl::Hours(1e9)), absl::ZeroDuration());
}

TEST(WireRoundingTest, GrowsWithTheTimeoutsUnit) {
  EXPECT_EQ(WireRounding(Milliseconds(999)), absl::ZeroDuration());
  EXPECT_EQ(WireRounding(Seconds(1)), Milliseconds(10));
  EXPECT_EQ(WireRounding(Milliseconds(9999)), Milliseconds(10));
  EXPECT_EQ(WireRounding(Seconds(10)), Milliseconds(100));
  EXPECT_EQ(WireRounding(Seconds(99)), Milliseconds(100));
  EXPECT_EQ(WireRounding(Seconds(100)), Seconds(1));
  EXPECT_EQ(WireRounding(absl::Hours(27'000)), Seconds(1));
  EXPECT_EQ(WireRounding(absl::InfiniteDuration()), absl::ZeroDuration());
}

}  // namespace
}  // namespace deadline
