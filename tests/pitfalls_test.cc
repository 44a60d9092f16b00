// Pitfalls of gRPC C++ 1.51 that docs/guide.md lists, each shown happening
// against a real server on 127.0.0.1:0, with code written the wrong way on
// purpose. The project's own code avoids each one; the guide names the test
// that proves it.

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "server/serving/server_runner.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using deadline::v1::WorkProgress;
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

// THE PITFALL: a server-side TryCancel() that comes after the handler's
// OK. The header (grpcpp/server_context.h, above TryCancel) warns that the
// RPC "may still appear successful to the client" and that a handler that
// calls TryCancel() must itself finish with CANCELLED. Here the OK is
// already on its way when TryCancel() runs (in OnDone(), the last moment
// the context is valid): the client keeps its OK.
class CancelsAfterItsOk final : public deadline::v1::Backend::CallbackService {
 public:
  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const WorkRequest*, WorkReply*) override {
    return new Reactor(context, this);
  }
  bool tried() const { return tried_.load(); }

 private:
  class Reactor final : public grpc::ServerUnaryReactor {
   public:
    Reactor(grpc::CallbackServerContext* context, CancelsAfterItsOk* service)
        : context_(context), service_(service) {
      Finish(grpc::Status::OK);
    }
    void OnDone() override {
      context_->TryCancel();  // THE PITFALL: too late to change the answer.
      service_->tried_.store(true);
      delete this;
    }

   private:
    grpc::CallbackServerContext* const context_;
    CancelsAfterItsOk* const service_;
  };
  std::atomic<bool> tried_{false};
};

// The right way: TryCancel(), then finish with CANCELLED, as the handler's
// own answer.
class CancelsAndSaysSo final : public deadline::v1::Backend::CallbackService {
 public:
  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const WorkRequest*, WorkReply*) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    context->TryCancel();
    reactor->Finish(
        grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the server"));
    return reactor;
  }
};

grpc::Status WorkOnce(deadline::v1::Backend::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(20)));
  WorkReply reply;
  return stub.Work(&context, Work(0, absl::ZeroDuration()), &reply);
}

TEST(ServerTryCancelTest, OneThatComesAfterTheOkLeavesTheClientWithOk) {
  CancelsAfterItsOk service;
  RunningServer running = MustStart(service);
  auto stub = deadline::v1::Backend::NewStub(ChannelTo(running.address));
  EXPECT_TRUE(WorkOnce(*stub).ok());
  EXPECT_TRUE(WaitUntil([&] { return service.tried(); }));
  StopServer(*running.server, absl::ZeroDuration(), absl::ZeroDuration());
}

TEST(ServerTryCancelTest, FinishingWithCancelledIsWhatTheClientSees) {
  CancelsAndSaysSo service;
  RunningServer running = MustStart(service);
  auto stub = deadline::v1::Backend::NewStub(ChannelTo(running.address));
  EXPECT_EQ(WorkOnce(*stub).error_code(), grpc::StatusCode::CANCELLED);
  StopServer(*running.server, absl::ZeroDuration(), absl::ZeroDuration());
}

// grpc/grpc#31403: TryCancel() on a ServerContext whose call never started
// (here, one made by hand) dereferences a call that does not exist. The
// maintainers' answer: not a bug, not a correct use of the API.
TEST(ServerContextDeathTest, TryCancelOnACallThatNeverStartedCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        grpc::ServerContext context;
        context.TryCancel();  // THE PITFALL
      },
      "");
}

// grpc/grpc#10136 (documented by PR #33208, after 1.51): in the async
// (completion-queue) API, the AsyncNotifyWhenDone tag comes back only for a
// call that started. Here a call is requested with the tag set, and the
// server shuts down before any call arrives: the request's tag comes back
// (not ok), the done tag never does. Code that frees a call's state on the
// done tag alone leaks it (or waits forever).
TEST(AsyncNotifyWhenDoneTest, ItsTagNeverComesForACallThatNeverStarted) {
  deadline::v1::Backend::AsyncService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::ServerCompletionQueue> cq =
      builder.AddCompletionQueue();
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);

  int requested_tag = 0;
  int done_tag = 0;
  grpc::ServerContext context;
  context.AsyncNotifyWhenDone(&done_tag);
  WorkRequest request;
  grpc::ServerAsyncResponseWriter<WorkReply> responder(&context);
  service.RequestWork(&context, &request, &responder, cq.get(), cq.get(),
                      &requested_tag);

  server->Shutdown(ToGrpcDeadline(absl::Now()));
  cq->Shutdown();
  std::set<void*> tags;
  bool requested_ok = true;
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) {
    tags.insert(tag);
    if (tag == &requested_tag) requested_ok = ok;
  }
  EXPECT_EQ(tags.count(&requested_tag), 1u);
  EXPECT_FALSE(requested_ok);
  EXPECT_EQ(tags.count(&done_tag), 0u) << "the done tag came after all";
}

// A server stream that writes as fast as its reader's flow control lets it,
// and notes, at its first failed write, whether OnCancel() had run yet and
// what IsCancelled() said.
class WritesUntilItFails final : public deadline::v1::Backend::CallbackService {
 public:
  grpc::ServerWriteReactor<WorkProgress>* WorkStream(
      grpc::CallbackServerContext* context, const WorkRequest*) override {
    return new Writer(context, this);
  }
  // Waits until `n` streams have had a failed write.
  bool WaitForFailures(int n) {
    return WaitUntil([&] { return failed_.load() >= n; }, absl::Seconds(10));
  }
  int failed_before_on_cancel() const { return before_on_cancel_.load(); }
  int not_cancelled_yet() const { return not_cancelled_yet_.load(); }
  int on_cancel_ran() const { return on_cancel_ran_.load(); }

 private:
  class Writer final : public grpc::ServerWriteReactor<WorkProgress> {
   public:
    Writer(grpc::CallbackServerContext* context, WritesUntilItFails* service)
        : context_(context), service_(service) {
      Next();
    }
    void OnWriteDone(bool ok) override {
      if (ok) {
        Next();
        return;
      }
      if (!cancelled_.load()) service_->before_on_cancel_.fetch_add(1);
      if (!context_->IsCancelled()) service_->not_cancelled_yet_.fetch_add(1);
      service_->failed_.fetch_add(1);
      // A failed write ends the stream, whatever IsCancelled() says.
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the write failed"));
    }
    void OnCancel() override {
      cancelled_.store(true);
      service_->on_cancel_ran_.fetch_add(1);
    }
    void OnDone() override { delete this; }

   private:
    void Next() {
      progress_.set_step(++step_);
      StartWrite(&progress_);
    }
    grpc::CallbackServerContext* const context_;
    WritesUntilItFails* const service_;
    std::atomic<bool> cancelled_{false};
    WorkProgress progress_;
    int step_ = 0;
  };

  std::atomic<int> failed_{0};
  std::atomic<int> before_on_cancel_{0};
  std::atomic<int> not_cancelled_yet_{0};
  std::atomic<int> on_cancel_ran_{0};
};

// Go: a handler writing to a client that went away may get a write error
// before r.Context() is done. gRPC 1.51's callback API does the same: when
// a reader cancels while a write waits on flow control, the transport
// fails the pending write before it completes the stream's close
// (grpc_chttp2_mark_stream_closed, chttp2_transport.cc), so OnWriteDone
// (false) usually runs before OnCancel(), and IsCancelled() may still say
// false. Counted over 30 streams: the order is not guaranteed either way.
TEST(StreamWriteTest, AFailedWriteUsuallyComesBeforeOnCancel) {
  WritesUntilItFails service;
  RunningServer running = MustStart(service);
  grpc::ChannelArguments args;
  // A small receive window, fixed: the writer soon waits on flow control.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
  auto stub = deadline::v1::Backend::NewStub(grpc::CreateCustomChannel(
      running.address, grpc::InsecureChannelCredentials(), args));
  constexpr int kStreams = 30;
  for (int i = 0; i < kStreams; ++i) {
    grpc::ClientContext context;
    context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(20)));
    auto reader = stub->WorkStream(&context, WorkRequest());
    WorkProgress progress;
    ASSERT_TRUE(reader->Read(&progress));
    absl::SleepFor(absl::Milliseconds(20));  // The window fills up.
    context.TryCancel();
    while (reader->Read(&progress)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  ASSERT_TRUE(service.WaitForFailures(kStreams));
  EXPECT_TRUE(WaitUntil([&] { return service.on_cancel_ran() == kStreams; }));
  RecordProperty("failed_before_on_cancel", service.failed_before_on_cancel());
  RecordProperty("is_cancelled_still_false", service.not_cancelled_yet());
  EXPECT_GT(service.failed_before_on_cancel(), 0);
  EXPECT_GT(service.not_cancelled_yet(), 0);
  StopServer(*running.server, absl::ZeroDuration(), absl::ZeroDuration());
}

}  // namespace
}  // namespace deadline::testing
