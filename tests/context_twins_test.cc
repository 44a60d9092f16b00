// Three of Go's context rules and their C++ twins, shown against real
// servers on 127.0.0.1:0 (docs/guide.md, part one):
// - Done() only closes: OnCancel() says that a call ended early, never why;
//   the reason is read elsewhere (the status at the client, the deadline at
//   the server), as Go reads it from Err().
// - defer cancel(): a call lives as long as its ClientContext; a context
//   left alive holds the callee's work, and ending it cancels the call.
// - cancel() may be called again: TryCancel() twice ends the call once.

#include <atomic>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "server/serving/server_runner.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using deadline::v1::HopTrace;
using deadline::v1::WorkProgress;
using deadline::v1::WorkReply;
using deadline::v1::WorkRequest;

// What a handler could tell when its OnCancel() ran.
struct Observed {
  bool is_cancelled = false;
  // Time left until the call's deadline at that moment (negative: passed).
  absl::Duration before_deadline;
};

// Backend.Work that never answers on its own: it waits for OnCancel(),
// notes what it can see there, and finishes.
class WaitsForCancel final : public deadline::v1::Backend::CallbackService {
 public:
  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const WorkRequest*, WorkReply*) override {
    {
      absl::MutexLock lock(&mu_);
      ++started_;
    }
    return new Reactor(context, this);
  }

  // Waits up to 10 s for the `n`th OnCancel(), and returns what it saw.
  Observed WaitForCancel(int n) {
    absl::MutexLock lock(&mu_);
    const auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return static_cast<int>(observed_.size()) >= n;
    };
    EXPECT_TRUE(
        mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10)))
        << "OnCancel() " << n << " never ran";
    return enough() ? observed_[n - 1] : Observed{};
  }
  int started() {
    absl::MutexLock lock(&mu_);
    return started_;
  }

 private:
  class Reactor final : public grpc::ServerUnaryReactor {
   public:
    Reactor(grpc::CallbackServerContext* context, WaitsForCancel* service)
        : context_(context), service_(service) {}
    // No argument: like Go's closed Done channel, it carries no reason.
    void OnCancel() override {
      Observed seen;
      seen.is_cancelled = context_->IsCancelled();
      seen.before_deadline =
          FromGrpcDeadline(context_->deadline()) - absl::Now();
      {
        absl::MutexLock lock(&service_->mu_);
        service_->observed_.push_back(seen);
      }
      Finish(grpc::Status::CANCELLED);
    }
    void OnDone() override { delete this; }

   private:
    grpc::CallbackServerContext* const context_;
    WaitsForCancel* const service_;
  };

  absl::Mutex mu_;
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Observed> observed_ ABSL_GUARDED_BY(mu_);
};

class Served {
 public:
  explicit Served(grpc::Service& service) {
    absl::StatusOr<RunningServer> running =
        StartServer("127.0.0.1:0", {&service});
    EXPECT_TRUE(running.ok()) << running.status();
    running_ = *std::move(running);
    stub_ = deadline::v1::Backend::NewStub(ChannelTo(running_.address));
  }
  ~Served() {
    StopServer(*running_.server, absl::ZeroDuration(), absl::ZeroDuration());
  }
  deadline::v1::Backend::Stub& stub() { return *stub_; }

 private:
  RunningServer running_;
  std::unique_ptr<deadline::v1::Backend::Stub> stub_;
};

// One async Backend.Work call with a deadline `timeout` from now.
class Call {
 public:
  Call(deadline::v1::Backend::Stub& stub, absl::Duration timeout,
       WorkRequest request = {})
      : request_(std::move(request)) {
    context_.set_deadline(ToGrpcDeadline(absl::Now() + timeout));
    stub.async()->Work(&context_, &request_, &reply_,
                       [this](grpc::Status status) {
                         status_ = std::move(status);
                         done_.Notify();
                       });
  }
  ~Call() { done_.WaitForNotification(); }
  void Cancel() { context_.TryCancel(); }
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

// Go: <-ctx.Done() fires for cancel() and for the deadline alike, and
// ctx.Err() says which. C++: OnCancel() fires for both and says nothing;
// the client reads the reason from its status, the server from its
// deadline. (The backend does the latter in BackendCall::End.)
TEST(OnCancelTest, FiresAlikeForACancelAndADeadlineTheReasonIsReadElsewhere) {
  WaitsForCancel service;
  Served served(service);

  Call cancelled(served.stub(), absl::Seconds(20));
  ASSERT_TRUE(WaitUntil([&] { return service.started() == 1; }));
  cancelled.Cancel();
  EXPECT_EQ(cancelled.Wait().error_code(), grpc::StatusCode::CANCELLED);
  const Observed by_cancel = service.WaitForCancel(1);

  Call expired(served.stub(), absl::Milliseconds(300));
  EXPECT_EQ(expired.Wait().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  const Observed by_deadline = service.WaitForCancel(2);

  // The same hook, the same answer from IsCancelled()...
  EXPECT_TRUE(by_cancel.is_cancelled);
  EXPECT_TRUE(by_deadline.is_cancelled);
  // ...and only the deadline tells them apart at the server. gRPC's timer
  // fires at the deadline rounded up to the millisecond.
  EXPECT_GT(by_cancel.before_deadline, absl::Seconds(10));
  EXPECT_LT(by_deadline.before_deadline, absl::Milliseconds(2));
}

// Go's `defer cancel()` ends the work when the function returns, however
// it returns. The C++ twin is the ClientContext's lifetime: destroying the
// context of a call still running cancels it (grpc_call_unref cancels a
// call that has not completed). A context left alive keeps the callee
// working, here on a stream nobody reads any more.
TEST(ContextLifetimeTest, AStreamLeftOpenHoldsTheBackendAndEndingItFreesIt) {
  TestBackend backend;
  // 200 steps of 20 ms: 4 s of work, under a deadline far beyond it.
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(60)));
  auto reader = backend.stub().WorkStream(context.get(),
                                          Work(200, absl::Milliseconds(20)));
  WorkProgress progress;
  ASSERT_TRUE(reader->Read(&progress));

  // The reader stops reading but keeps its context: the work goes on.
  EXPECT_FALSE(backend.WaitForEnded(1, absl::Milliseconds(500)));
  EXPECT_EQ(backend.stats().in_flight, 1);

  // The scope ends (the reader, then its context): the call is cancelled.
  const absl::Time ended_at = absl::Now();
  reader.reset();
  context.reset();
  ASSERT_TRUE(backend.WaitForEnded(1, absl::Seconds(5)));
  EXPECT_LT(absl::Now() - ended_at, absl::Seconds(2));
  const HopTrace hop = backend.ended().at(0);
  EXPECT_EQ(hop.code(), "CANCELLED");
  EXPECT_LT(hop.steps_done(), 150);
}

// Go's cancel() may be called again and again; the first call wins. So
// with TryCancel(): twice while the call runs, and once more after it
// ended, and the backend sees one cancelled call.
TEST(TryCancelTest, TwiceEndsTheCallOnceAndAgainAfterTheEndIsHarmless) {
  TestBackend backend;
  Call call(backend.stub(), absl::Seconds(20),
            Work(100, absl::Milliseconds(20)));
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));
  call.Cancel();
  call.Cancel();
  EXPECT_EQ(call.Wait().error_code(), grpc::StatusCode::CANCELLED);
  call.Cancel();
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.ended().at(0).code(), "CANCELLED");
  EXPECT_EQ(backend.stats().cancelled, 1);
  EXPECT_EQ(backend.stats().started, 1);
  EXPECT_EQ(backend.stats().in_flight, 0);
}

}  // namespace
}  // namespace deadline::testing
