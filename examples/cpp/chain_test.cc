// The example chain, client -> frontend -> backend, with both servers in this
// process on 127.0.0.1:0. Each test asserts what would fail if the pattern
// were broken; the time bounds are generous (a noisy 2-core machine), and the
// frontend keeps a large reserve so its answers beat the client's timer.
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "examples/cpp/backend.h"
#include "examples/cpp/frontend.h"
#include "examples/cpp/serve.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"

namespace deadline::example {
namespace {

using ::deadline::v1::FetchReply;
using ::deadline::v1::FetchRequest;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr absl::Duration kReserve = absl::Milliseconds(200);
constexpr absl::Duration kMinBudget = absl::Milliseconds(50);
constexpr absl::Duration kPatience = absl::Seconds(20);

// One Fetch of `steps` steps of `step` under `deadline` from now, on the
// callback API; cancelled, if still running, when destroyed.
class FetchCall {
 public:
  FetchCall(deadline::v1::Frontend::Stub& frontend, int steps,
            absl::Duration step, absl::Duration deadline) {
    request_.mutable_work()->set_steps(steps);
    ToProtoDuration(step, request_.mutable_work()->mutable_step_duration());
    context_.set_deadline(ToGrpcDeadline(start_ + deadline));
    frontend.async()->Fetch(&context_, &request_, &reply,
                            [this](grpc::Status s) {
                              status = std::move(s);
                              elapsed = absl::Now() - start_;
                              done_.Notify();
                            });
  }
  ~FetchCall() {
    context_.TryCancel();
    done_.WaitForNotification();
  }
  void Cancel() { context_.TryCancel(); }
  // Whether the call ended within kPatience.
  bool Wait() { return done_.WaitForNotificationWithTimeout(kPatience); }

  grpc::Status status;
  FetchReply reply;
  absl::Duration elapsed;

 private:
  const absl::Time start_ = absl::Now();
  FetchRequest request_;
  grpc::ClientContext context_;
  absl::Notification done_;
};

std::shared_ptr<grpc::Channel> ConnectTo(int port) {
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                     grpc::InsecureChannelCredentials());
  // Connected first, so that no connection setup eats into the budgets.
  EXPECT_TRUE(
      channel->WaitForConnected(ToGrpcDeadline(absl::Now() + kPatience)));
  return channel;
}

class ChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BackendOptions options;
    // Each test makes one call at most.
    options.on_step = [this](int steps) {
      if (steps == 3) working_.Notify();
    };
    options.on_done = [this](const WorkResult& result) {
      work_ = result;
      work_done_.Notify();
    };
    backend_ = std::make_unique<BackendService>(options);
    int port = 0;
    backend_server_ = StartServer(backend_.get(), "127.0.0.1:0", &port);
    ASSERT_NE(backend_server_, nullptr);
    BudgetOptions budget;
    budget.reserve = kReserve;
    budget.min_budget = kMinBudget;
    frontend_ = std::make_unique<FrontendService>(ConnectTo(port), budget);
    frontend_server_ = StartServer(frontend_.get(), "127.0.0.1:0", &port);
    ASSERT_NE(frontend_server_, nullptr);
    frontend_stub_ = deadline::v1::Frontend::NewStub(ConnectTo(port));
  }
  void TearDown() override {
    const absl::Time grace = absl::Now() + absl::Seconds(1);
    if (frontend_server_) frontend_server_->Shutdown(ToGrpcDeadline(grace));
    if (backend_server_) backend_server_->Shutdown(ToGrpcDeadline(grace));
  }

  // What the backend's hooks saw: 3 steps done; the work ended, and how.
  absl::Notification working_;
  absl::Notification work_done_;
  WorkResult work_;
  std::unique_ptr<BackendService> backend_;
  std::unique_ptr<grpc::Server> backend_server_;
  std::unique_ptr<FrontendService> frontend_;
  std::unique_ptr<grpc::Server> frontend_server_;
  std::unique_ptr<deadline::v1::Frontend::Stub> frontend_stub_;
};

TEST_F(ChainTest, TheBackendGetsTheClientsDeadlineMinusTheReserve) {
  // Under 1 s, where grpc-timeout is exact to the millisecond.
  constexpr absl::Duration kDeadline = absl::Milliseconds(900);
  FetchCall call(*frontend_stub_, 10, absl::Milliseconds(1), kDeadline);
  ASSERT_TRUE(call.Wait());
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(call.reply.backend().steps_done(), 10);

  // Unset if no deadline had reached the backend.
  ASSERT_TRUE(call.reply.backend().has_budget_at_arrival());
  const absl::Duration at_backend =
      *FromProtoDuration(call.reply.backend().budget_at_arrival(), "");
  // What the frontend forwards of the whole deadline (the policy also takes
  // off the slack the wire may add). The call arrives with a little less;
  // each hop's timeout may be rounded up by a millisecond.
  const absl::Duration expected =
      kDeadline - ArrivalSlack(kDeadline) - kReserve;
  EXPECT_LE(at_backend, expected + absl::Milliseconds(5));
  EXPECT_GE(at_backend, expected - absl::Milliseconds(150));
}

TEST_F(ChainTest, AClientCancelStopsTheBackendPromptly) {
  // 1 s of work, far inside the deadline.
  FetchCall call(*frontend_stub_, 100, absl::Milliseconds(10),
                 absl::Seconds(10));
  ASSERT_TRUE(working_.WaitForNotificationWithTimeout(kPatience));
  const absl::Time cancelled_at = absl::Now();
  call.Cancel();
  ASSERT_TRUE(call.Wait());
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::CANCELLED);

  ASSERT_TRUE(work_done_.WaitForNotificationWithTimeout(kPatience));
  EXPECT_EQ(work_.reason, StopReason::kCancelled);
  EXPECT_LT(work_.steps_done, 100);
  // Well before the rest of the work would have ended.
  EXPECT_LT(work_.finished - cancelled_at, absl::Milliseconds(500));
}

TEST_F(ChainTest, TooLittleBudgetFailsFastWithoutCallingTheBackend) {
  // 240 ms - 8 ms of arrival slack - the 200 ms reserve leaves at most 32 ms
  // to forward, less than the 50 ms minimum.
  constexpr absl::Duration kDeadline = absl::Milliseconds(240);
  FetchCall call(*frontend_stub_, 1, absl::Milliseconds(1), kDeadline);
  ASSERT_TRUE(call.Wait());
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The frontend's own answer, not the client's timer.
  EXPECT_THAT(call.status.error_message(),
              AllOf(StartsWith("frontend: "), HasSubstr("reserve"),
                    HasSubstr("backend not called")));
  EXPECT_LT(call.elapsed, kDeadline);
  // The backend answers only after its hook has run: none ran.
  EXPECT_FALSE(work_done_.HasBeenNotified());
}

TEST_F(ChainTest, ADeadlineThatPassesMidWorkStopsTheBackendEarly) {
  constexpr absl::Duration kDeadline = absl::Milliseconds(600);
  constexpr absl::Duration kStep = absl::Milliseconds(10);
  FetchCall call(*frontend_stub_, 100, kStep, kDeadline);  // 1 s of work.
  ASSERT_TRUE(call.Wait());
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The frontend answered, explaining, before the client's timer fired.
  EXPECT_THAT(call.status.error_message(), StartsWith("frontend: "));

  ASSERT_TRUE(work_done_.WaitForNotificationWithTimeout(kPatience));
  EXPECT_EQ(work_.reason, StopReason::kDeadline);
  // The backend had at most the client's deadline minus the reserve, and
  // stopped when that ran out, not when its caller gave up.
  EXPECT_LE(work_.steps_done, (kDeadline - kReserve) / kStep);
  EXPECT_LT(work_.stop_latency, absl::Milliseconds(100));
}

}  // namespace
}  // namespace deadline::example
