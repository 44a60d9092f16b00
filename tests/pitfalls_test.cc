// Pitfalls of gRPC C++ 1.51 that docs/guide.md lists, each shown happening
// against a real server on 127.0.0.1:0, with code written the wrong way on
// purpose. The project's own code avoids each one; the guide names the test
// that proves it.

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/time_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "server/serving/server_runner.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using deadline::v1::WorkReply;
using deadline::v1::WorkRequest;

RunningServer MustStart(grpc::Service& service) {
  absl::StatusOr<RunningServer> running =
      StartServer("127.0.0.1:0", {&service});
  EXPECT_TRUE(running.ok()) << running.status();
  return *std::move(running);
}

// One async Backend.Work call; the destructor waits for it to end.
class AsyncCall {
 public:
  AsyncCall(deadline::v1::Backend::Stub& stub, absl::Duration timeout) {
    context_.set_deadline(ToGrpcDeadline(absl::Now() + timeout));
    stub.async()->Work(&context_, &request_, &reply_,
                       [this](grpc::Status status) {
                         status_ = std::move(status);
                         done_.Notify();
                       });
  }
  ~AsyncCall() { done_.WaitForNotification(); }

  const grpc::Status& Wait() {
    done_.WaitForNotification();
    return status_;
  }

 private:
  grpc::ClientContext context_;
  WorkRequest request_;
  WorkReply reply_;
  grpc::Status status_;
  absl::Notification done_;
};

// How long one quick Work call to `stub` takes.
absl::Duration TimeAQuickCall(deadline::v1::Backend::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(20)));
  WorkReply reply;
  const absl::Time start = absl::Now();
  const grpc::Status status =
      stub.Work(&context, Work(0, absl::ZeroDuration()), &reply);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return absl::Now() - start;
}

// A ClientContext is good for one call. gRPC 1.51 does not report a second
// use as an error: it aborts the process ("assertion failed: call_ ==
// nullptr"). The project makes one context per call and per attempt
// (client/calls.h, server/frontend/frontend_service.cc).
TEST(ClientContextDeathTest, AReusedContextAbortsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        TestBackend backend;
        grpc::ClientContext context;
        WorkReply reply;
        const WorkRequest work = Work(0, absl::ZeroDuration());
        backend.stub().Work(&context, work, &reply).ok();
        backend.stub().Work(&context, work, &reply).ok();  // THE PITFALL
      },
      "call_ == nullptr");
}

// THE PITFALL: a callback-API handler that blocks (here, sleeps) instead of
// returning and finishing later.
class BlockingBackend final : public deadline::v1::Backend::CallbackService {
 public:
  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const WorkRequest*, WorkReply*) override {
    started_.fetch_add(1);
    absl::SleepFor(absl::Milliseconds(500));  // Holds a gRPC thread.
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  int started() const { return started_.load(); }

 private:
  std::atomic<int> started_{0};
};

// gRPC runs every callback of the process on a few shared threads (two on
// a 2-core machine). Reactions that block take them all, and calls to
// another server of the same process, which blocks nothing, wait for them.
TEST(BlockingReactionTest, ItHoldsUpCallsToEveryServerOfTheProcess) {
  BlockingBackend blocking;
  RunningServer running = MustStart(blocking);
  auto blocking_stub =
      deadline::v1::Backend::NewStub(ChannelTo(running.address));
  TestBackend other;  // The project's backend, whose reactions never block.
  TimeAQuickCall(other.stub());  // The connection is up.

  const int calls =
      4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::unique_ptr<AsyncCall>> held;
  for (int i = 0; i < calls; ++i) {
    held.push_back(
        std::make_unique<AsyncCall>(*blocking_stub, absl::Seconds(60)));
  }
  ASSERT_TRUE(WaitUntil([&] { return blocking.started() >= 2; }));
  const absl::Duration held_up = TimeAQuickCall(other.stub());
  for (auto& call : held) EXPECT_TRUE(call->Wait().ok());
  const absl::Duration alone = TimeAQuickCall(other.stub());

  EXPECT_GT(held_up, absl::Milliseconds(250));
  EXPECT_LT(alone, absl::Milliseconds(250));
  StopServer(*running.server, absl::ZeroDuration(), absl::ZeroDuration());
}

// A sync handler of 1.5 s that checks for cancellation, or not.
class SlowSyncBackend final : public deadline::v1::Backend::Service {
 public:
  explicit SlowSyncBackend(bool checks) : checks_(checks) {}

  grpc::Status Work(grpc::ServerContext* context, const WorkRequest*,
                    WorkReply*) override {
    started_.Notify();
    const absl::Time end = absl::Now() + absl::Milliseconds(1500);
    while (absl::Now() < end) {
      if (checks_ && context->IsCancelled()) return grpc::Status::CANCELLED;
      absl::SleepFor(absl::Milliseconds(5));
    }
    return grpc::Status::OK;
  }
  void WaitUntilStarted() { started_.WaitForNotification(); }

 private:
  const bool checks_;
  absl::Notification started_;
};

// How long Server::Shutdown(now + 100 ms) takes with one call of `service`
// in its handler.
absl::Duration ShutdownWithACallInFlight(SlowSyncBackend& service) {
  RunningServer running = MustStart(service);
  auto stub = deadline::v1::Backend::NewStub(ChannelTo(running.address));
  AsyncCall call(*stub, absl::Seconds(60));
  service.WaitUntilStarted();
  const absl::Time start = absl::Now();
  running.server->Shutdown(ToGrpcDeadline(start + absl::Milliseconds(100)));
  const absl::Duration took = absl::Now() - start;
  EXPECT_FALSE(call.Wait().ok());
  return took;
}

// grpc/grpc#10324: Shutdown(deadline) cancels the calls still running at
// the deadline, then waits for their sync handlers to return.
TEST(SyncShutdownTest, WaitsForAHandlerThatIgnoresCancellation) {
  SlowSyncBackend ignores(/*checks=*/false);
  EXPECT_GT(ShutdownWithACallInFlight(ignores), absl::Milliseconds(1200));
}

TEST(SyncShutdownTest, EndsNearItsDeadlineWhenHandlersCheck) {
  SlowSyncBackend checks(/*checks=*/true);
  EXPECT_LT(ShutdownWithACallInFlight(checks), absl::Milliseconds(1000));
}

}  // namespace
}  // namespace deadline::testing
