#include "server/deadline/fan_out.h"

#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "common/fake_clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

using absl::Milliseconds;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// Backends that only remember what they were asked to do.
class FakeBackends final : public FanOut::Backends {
 public:
  void Start(int attempt, int /*panel*/, int backend) override {
    started.push_back(attempt);
    backend_of[attempt] = backend;
  }
  void Cancel(int attempt, CancelCause cause) override {
    cancelled.insert(attempt);
    cause_of[attempt] = cause;
  }

  std::vector<int> started;
  std::map<int, int> backend_of;
  std::set<int> cancelled;
  std::map<int, CancelCause> cause_of;
};

class FanOutTest : public ::testing::Test {
 protected:
  void Make(FanOutOptions options) {
    fan_out_ = std::make_unique<FanOut>(options, backends_, clock_,
                                        [this] { ++done_; });
  }
  FanOutOptions Options(FanOutMode mode, int panels, int backends = 3) {
    FanOutOptions options;
    options.mode = mode;
    options.panels = panels;
    options.backends = backends;
    return options;
  }
  FanOutOptions Hedged(absl::Duration after) {
    FanOutOptions options = Options(FanOutMode::kAllOrNothing, 1, 2);
    options.hedge_after = after;
    return options;
  }

  FakeClock clock_;
  FakeBackends backends_;
  std::unique_ptr<FanOut> fan_out_;
  int done_ = 0;
};

const absl::Status kOk = absl::OkStatus();
const absl::Status kDown = absl::UnavailableError("down");
const absl::Status kCancelled = absl::CancelledError("cancelled");

TEST_F(FanOutTest, OnePanelIsOneCallAndItsAnswer) {
  Make(Options(FanOutMode::kAllOrNothing, 1));
  fan_out_->Start();
  EXPECT_THAT(backends_.started, ElementsAre(0));
  EXPECT_EQ(done_, 0);
  fan_out_->Done(0, kDown);
  EXPECT_EQ(done_, 1);
  EXPECT_EQ(fan_out_->status(), kDown);
  EXPECT_EQ(fan_out_->failed_panel(), 0);
  EXPECT_EQ(fan_out_->answer_of(0), 0);
  EXPECT_THAT(backends_.cancelled, IsEmpty());
}

TEST_F(FanOutTest, PanelsGoToTheBackendsInTurn) {
  Make(Options(FanOutMode::kPartial, 5, 3));
  fan_out_->Start();
  EXPECT_THAT(backends_.started, ElementsAre(0, 1, 2, 3, 4));
  EXPECT_EQ(backends_.backend_of[3], 0);
  EXPECT_EQ(backends_.backend_of[4], 1);
}

TEST_F(FanOutTest, AllOrNothingTheFirstFailureCancelsTheOthersOnce) {
  Make(Options(FanOutMode::kAllOrNothing, 3));
  fan_out_->Start();
  fan_out_->Done(0, kOk);
  fan_out_->Done(2, kDown);
  EXPECT_THAT(backends_.cancelled, UnorderedElementsAre(1));
  EXPECT_EQ(backends_.cause_of[1], CancelCause::kSiblingFailed);
  // The sibling then ends cancelled: no second failure, no new answer.
  EXPECT_EQ(done_, 0);
  fan_out_->Done(1, kCancelled);
  EXPECT_EQ(done_, 1);
  EXPECT_EQ(fan_out_->status(), kDown);
  EXPECT_EQ(fan_out_->failed_panel(), 2);
  EXPECT_EQ(backends_.cancelled.size(), 1);
}

TEST_F(FanOutTest, AllOrNothingAllOkIsOk) {
  Make(Options(FanOutMode::kAllOrNothing, 2));
  fan_out_->Start();
  fan_out_->Done(1, kOk);
  fan_out_->Done(0, kOk);
  EXPECT_EQ(done_, 1);
  EXPECT_TRUE(fan_out_->status().ok());
  EXPECT_EQ(fan_out_->failed_panel(), -1);
}

TEST_F(FanOutTest, PartialNeverCancelsAndAnswersOk) {
  Make(Options(FanOutMode::kPartial, 3));
  fan_out_->Start();
  fan_out_->Done(1, absl::DeadlineExceededError("slow"));
  fan_out_->Done(0, kOk);
  EXPECT_EQ(done_, 0);
  fan_out_->Done(2, kDown);
  EXPECT_EQ(done_, 1);
  EXPECT_TRUE(fan_out_->status().ok());
  EXPECT_THAT(backends_.cancelled, IsEmpty());
  EXPECT_EQ(fan_out_->answer_of(1), 1);
}

TEST_F(FanOutTest, NoPanelsIsDoneAtOnce) {
  Make(Options(FanOutMode::kAllOrNothing, 0));
  fan_out_->Start();
  EXPECT_EQ(done_, 1);
  EXPECT_TRUE(fan_out_->status().ok());
}

TEST_F(FanOutTest, AFastAnswerSendsNoHedge) {
  Make(Hedged(Milliseconds(20)));
  fan_out_->Start();
  clock_.Advance(Milliseconds(5));
  fan_out_->Done(0, kOk);
  EXPECT_EQ(done_, 1);  // The hedge timer was stopped: nothing is left.
  clock_.Advance(Milliseconds(50));
  EXPECT_THAT(backends_.started, ElementsAre(0));
  EXPECT_EQ(clock_.pending_timers(), 0);
}

TEST_F(FanOutTest, ASlowAnswerGetsAHedgeOnTheNextBackendAndTheFirstOkWins) {
  Make(Hedged(Milliseconds(20)));
  fan_out_->Start();
  clock_.Advance(Milliseconds(19));
  EXPECT_THAT(backends_.started, ElementsAre(0));
  clock_.Advance(Milliseconds(1));
  ASSERT_THAT(backends_.started, ElementsAre(0, 1));
  EXPECT_TRUE(fan_out_->is_hedge(1));
  EXPECT_EQ(backends_.backend_of[1], 1);
  // The hedge answers first: the slow one is cancelled at once.
  fan_out_->Done(1, kOk);
  EXPECT_THAT(backends_.cancelled, ElementsAre(0));
  EXPECT_EQ(backends_.cause_of[0], CancelCause::kHedgeLost);
  EXPECT_EQ(done_, 0);
  fan_out_->Done(0, kCancelled);
  EXPECT_EQ(done_, 1);
  EXPECT_TRUE(fan_out_->status().ok());
  EXPECT_EQ(fan_out_->answer_of(0), 1);
}

TEST_F(FanOutTest, AFailedFirstAttemptSendsTheHedgeAtOnce) {
  Make(Hedged(Milliseconds(20)));
  fan_out_->Start();
  clock_.Advance(Milliseconds(2));
  fan_out_->Done(0, kDown);
  EXPECT_THAT(backends_.started, ElementsAre(0, 1));
  EXPECT_EQ(clock_.pending_timers(), 0);
  fan_out_->Done(1, kOk);
  EXPECT_EQ(done_, 1);
  EXPECT_TRUE(fan_out_->status().ok());
  EXPECT_EQ(fan_out_->answer_of(0), 1);
}

TEST_F(FanOutTest, WhenBothAttemptsFailTheLaterOneIsTheAnswer) {
  Make(Hedged(Milliseconds(20)));
  fan_out_->Start();
  clock_.Advance(Milliseconds(20));
  fan_out_->Done(1, kDown);
  EXPECT_EQ(done_, 0);
  const absl::Status late = absl::DeadlineExceededError("late");
  fan_out_->Done(0, late);
  EXPECT_EQ(done_, 1);
  EXPECT_EQ(fan_out_->status(), late);
  EXPECT_EQ(fan_out_->answer_of(0), 0);
}

TEST_F(FanOutTest, NoHedgeWhenTooLittleBudgetWouldBeLeft) {
  FanOutOptions options = Hedged(Milliseconds(20));
  options.hedge_until = clock_.Now() + Milliseconds(10);
  Make(options);
  fan_out_->Start();
  EXPECT_EQ(clock_.pending_timers(), 0);
  clock_.Advance(Milliseconds(15));
  fan_out_->Done(0, kDown);  // Too late for a hedge even after a failure.
  EXPECT_THAT(backends_.started, ElementsAre(0));
  EXPECT_EQ(done_, 1);
}

TEST_F(FanOutTest, AFailedPanelStopsTheHedgeTimersOfTheOthers) {
  FanOutOptions options = Options(FanOutMode::kAllOrNothing, 2, 2);
  options.hedge_after = Milliseconds(20);
  Make(options);
  fan_out_->Start();
  EXPECT_EQ(clock_.pending_timers(), 2);
  // Panel 1's hedge goes out, then panel 0 fails for good.
  clock_.Advance(Milliseconds(20));
  ASSERT_THAT(backends_.started, ElementsAre(0, 1, 2, 3));
  fan_out_->Done(2, kDown);
  fan_out_->Done(0, kDown);
  EXPECT_THAT(backends_.cancelled, UnorderedElementsAre(1, 3));
  EXPECT_EQ(backends_.cause_of[3], CancelCause::kSiblingFailed);
  fan_out_->Done(1, kCancelled);
  fan_out_->Done(3, kCancelled);
  EXPECT_EQ(done_, 1);
  EXPECT_EQ(fan_out_->failed_panel(), 0);
}

// Backends whose calls end inside Start(), as a gRPC call can when the
// channel is down: the fan-out must not be holding its lock then.
class InlineBackends final : public FanOut::Backends {
 public:
  void Start(int attempt, int, int) override {
    fan_out->Done(attempt, attempt == 0 ? kDown : kCancelled);
  }
  void Cancel(int attempt, CancelCause) override {
    cancelled.push_back(attempt);
  }
  FanOut* fan_out = nullptr;
  std::vector<int> cancelled;
};

TEST(FanOutInlineTest, CallsThatEndInsideStartAreFine) {
  FakeClock clock;
  InlineBackends backends;
  int done = 0;
  FanOutOptions options;
  options.panels = 3;
  options.backends = 3;
  FanOut fan_out(options, backends, clock, [&] { ++done; });
  backends.fan_out = &fan_out;
  fan_out.Start();
  EXPECT_EQ(done, 1);
  EXPECT_EQ(fan_out.failed_panel(), 0);
  EXPECT_THAT(backends.cancelled, UnorderedElementsAre(1, 2));
}

}  // namespace
}  // namespace deadline
