// What a context derived from an incoming call inherits, in gRPC C++ 1.51,
// against a real backend: a small callback relay in this file derives the
// context for its backend call (server/deadline/propagation.h, or gRPC's own
// FromCallbackServerContext), and the backend's trace says what arrived
// there and how its work ended.

#include "server/deadline/propagation.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "server/serving/server_runner.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using deadline::v1::FetchReply;
using deadline::v1::FetchRequest;
using deadline::v1::HopTrace;

// How the relay makes the context of its backend call from the incoming
// call's.
using MakeChild = std::function<std::unique_ptr<grpc::ClientContext>(
    grpc::CallbackServerContext&)>;

// Frontend.Fetch, reduced to the propagation: one backend call made with
// the context `make_child` derives, answered from that call's completion
// callback (so the derived context never outlives the incoming call), or,
// with `finish_early`, when FinishEarly() says so, leaving the backend call
// running.
// Remembers what the derived context's deadline() read, and how the
// backend call ended.
class Relay final : public deadline::v1::Frontend::CallbackService {
 public:
  Relay(std::shared_ptr<grpc::Channel> backend, MakeChild make_child,
        bool finish_early = false)
      : backend_(deadline::v1::Backend::NewStub(std::move(backend))),
        make_child_(std::move(make_child)),
        finish_early_(finish_early) {}

  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context,
                                  const FetchRequest* request,
                                  FetchReply* reply) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    // The backend call's own state, kept until the relay goes: it may
    // outlive this call (finish_early). Kept that long also because an
    // earlier version of this test, which freed it in its completion
    // callback, aborted twice in about a hundred runs ("assertion failed:
    // prior > 0"); see MayBeFreedInItsOwnCallbackAsItsCallerCompletes
    // below, which has not reproduced it since.
    auto owned = std::make_unique<Child>(
        Child{make_child_(*context), request->work(), {}});
    Child* child = owned.get();
    child->context->AddMetadata(kRequestIdKey, RequestIdOf(*context));
    {
      absl::MutexLock lock(&mu_);
      child_deadline_ = child->context->deadline();
      children_.push_back(std::move(owned));
    }
    const bool finish_early = finish_early_;
    backend_->async()->Work(
        child->context.get(), &child->request, &child->reply,
        [this, reactor, reply, child, finish_early](grpc::Status status) {
          if (!finish_early) {
            *reply->mutable_backend() = child->reply;
            reactor->Finish(status);
          }
          absl::MutexLock lock(&mu_);
          child_status_ = std::move(status);
        });
    if (finish_early) {
      absl::MutexLock lock(&mu_);
      held_ = reactor;
    }
    return reactor;
  }

  // With `finish_early`: answers the incoming call OK now.
  void FinishEarly() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](grpc::ServerUnaryReactor** held) { return *held != nullptr; },
        &held_));
    held_->Finish(grpc::Status::OK);
  }

  // What deadline() of the last derived context read.
  std::chrono::system_clock::time_point child_deadline() {
    absl::MutexLock lock(&mu_);
    return child_deadline_;
  }
  // How the last backend call ended, once it has.
  grpc::Status WaitForChild() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](absl::optional<grpc::Status>* s) { return s->has_value(); },
        &child_status_));
    return *child_status_;
  }

 private:
  struct Child {
    std::unique_ptr<grpc::ClientContext> context;
    deadline::v1::WorkRequest request;
    deadline::v1::WorkReply reply;
  };

  std::unique_ptr<deadline::v1::Backend::Stub> backend_;
  MakeChild make_child_;
  const bool finish_early_;
  absl::Mutex mu_;
  std::chrono::system_clock::time_point child_deadline_ ABSL_GUARDED_BY(mu_);
  absl::optional<grpc::Status> child_status_ ABSL_GUARDED_BY(mu_);
  grpc::ServerUnaryReactor* held_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<std::unique_ptr<Child>> children_ ABSL_GUARDED_BY(mu_);
};

// A backend, and the relay in front of it, both on 127.0.0.1:0.
class Chain {
 public:
  explicit Chain(MakeChild make_child, bool finish_early = false)
      : relay_(backend_.channel(), std::move(make_child), finish_early) {
    absl::StatusOr<RunningServer> running =
        StartServer("127.0.0.1:0", {&relay_});
    EXPECT_TRUE(running.ok()) << running.status();
    running_ = *std::move(running);
    stub_ = deadline::v1::Frontend::NewStub(ChannelTo(running_.address));
  }
  ~Chain() {
    StopServer(*running_.server, absl::ZeroDuration(), absl::ZeroDuration());
  }

  TestBackend& backend() { return backend_; }
  Relay& relay() { return relay_; }
  deadline::v1::Frontend::Stub& stub() { return *stub_; }

 private:
  TestBackend backend_;
  Relay relay_;
  RunningServer running_;
  std::unique_ptr<deadline::v1::Frontend::Stub> stub_;
};

// One Fetch through the relay; Cancel() from the test thread.
class Call {
 public:
  Call(Chain& chain, const deadline::v1::WorkRequest& work,
       absl::Duration timeout, std::string request_id)
      : request_id_(std::move(request_id)) {
    if (timeout != absl::InfiniteDuration()) {
      context_.set_deadline(ToGrpcDeadline(absl::Now() + timeout));
    }
    context_.AddMetadata(kRequestIdKey, request_id_);
    *request_.mutable_work() = work;
    start_ = absl::Now();
    chain.stub().async()->Fetch(&context_, &request_, &reply_,
                                [this](grpc::Status status) {
                                  status_ = std::move(status);
                                  elapsed_ = absl::Now() - start_;
                                  done_.Notify();
                                });
  }
  ~Call() { done_.WaitForNotification(); }

  void Cancel() { context_.TryCancel(); }
  const grpc::Status& Wait() {
    done_.WaitForNotification();
    return status_;
  }
  absl::Duration elapsed() {
    done_.WaitForNotification();
    return elapsed_;
  }
  const std::string& request_id() const { return request_id_; }

 private:
  const std::string request_id_;
  grpc::ClientContext context_;
  FetchRequest request_;
  FetchReply reply_;
  absl::Time start_;
  grpc::Status status_;
  absl::Duration elapsed_;
  absl::Notification done_;
};

// The backend's own record of the call, once it has ended.
HopTrace BackendHop(Chain& chain, const std::string& request_id) {
  absl::optional<HopTrace> hop =
      chain.backend().WaitForCall(request_id, absl::Seconds(10));
  EXPECT_TRUE(hop.has_value()) << "the backend never ended " << request_id;
  return hop.value_or(HopTrace());
}

MakeChild WithChildContext(Propagation propagation,
                           absl::Duration own_timeout) {
  return [propagation, own_timeout](grpc::CallbackServerContext& caller) {
    // kDeadlineOnly and the default get the caller's deadline (gRPC takes
    // the earlier of it and this); kCancellationOnly gets only this.
    return ChildContext(caller, absl::Now() + own_timeout, propagation);
  };
}

// grpc/grpc#12655: a context made by FromCallbackServerContext reads its
// deadline() as time_point::max(), yet the caller's deadline is sent on.
TEST(ChildContextTest, DeadlineReadsMaxYetTheCallersDeadlineReachesTheCallee) {
  Chain chain([](grpc::CallbackServerContext& caller) {
    return grpc::ClientContext::FromCallbackServerContext(caller);
  });
  Call call(chain, Work(0, absl::ZeroDuration()), absl::Milliseconds(800),
            "reads-max");
  ASSERT_TRUE(call.Wait().ok()) << call.Wait().error_message();

  EXPECT_EQ(chain.relay().child_deadline(),
            std::chrono::system_clock::time_point::max());
  const HopTrace hop = BackendHop(chain, call.request_id());
  ASSERT_TRUE(hop.has_budget_at_arrival()) << "no deadline reached the backend";
  const absl::Duration budget = ToDuration(hop.budget_at_arrival());
  EXPECT_GT(budget, absl::Milliseconds(500));
  EXPECT_LE(budget, absl::Milliseconds(802));  // gRPC rounds up to 1 ms.
}

// The child's own set_deadline() is what deadline() reads back, whether or
// not it wins: here the caller's earlier deadline does, and only the
// caller's ServerContext::deadline() could have said so.
TEST(ChildContextTest,
     AnOwnLaterDeadlineIsReadBackButTheCallersEarlierOneWins) {
  Chain chain(WithChildContext(Propagation::kDeadlineAndCancellation,
                               absl::Seconds(5)));
  const absl::Time before = absl::Now();
  Call call(chain, Work(0, absl::ZeroDuration()), absl::Milliseconds(800),
            "own-later");
  ASSERT_TRUE(call.Wait().ok()) << call.Wait().error_message();

  const absl::Time read_back = FromGrpcDeadline(chain.relay().child_deadline());
  EXPECT_GT(read_back, before + absl::Seconds(4));
  const absl::Duration budget =
      ToDuration(BackendHop(chain, call.request_id()).budget_at_arrival());
  EXPECT_GT(budget, absl::Milliseconds(500));
  EXPECT_LE(budget, absl::Milliseconds(802));
}

// Go's r.Context() ends when the handler returns; here too: a call made
// with a propagating context is cancelled when the call it derives from
// finishes, even with OK.
TEST(ChildContextTest, ACallStillRunningWhenItsCallerFinishesIsCancelled) {
  Chain chain(
      [](grpc::CallbackServerContext& caller) {
        return grpc::ClientContext::FromCallbackServerContext(caller);
      },
      /*finish_early=*/true);
  Call call(chain, Work(50, absl::Milliseconds(20)), absl::Seconds(5),
            "finish-early");
  ASSERT_TRUE(
      WaitUntil([&] { return chain.backend().stats().in_flight == 1; }));
  chain.relay().FinishEarly();
  EXPECT_TRUE(call.Wait().ok()) << call.Wait().error_message();
  EXPECT_EQ(chain.relay().WaitForChild().error_code(),
            grpc::StatusCode::CANCELLED);
  const HopTrace hop = BackendHop(chain, call.request_id());
  EXPECT_EQ(hop.code(), "CANCELLED");
  EXPECT_LT(hop.steps_done(), 25);
}

// Runs 50 steps of 20 ms (1 s of work) through a relay whose backend call
// inherits `propagation` and has 5 s of its own; the client cancels after
// 60 ms. Returns the backend's record of it.
HopTrace CancelAfter60ms(Propagation propagation, const std::string& id,
                         grpc::Status& client) {
  Chain chain(WithChildContext(propagation, absl::Seconds(5)));
  Call call(chain, Work(50, absl::Milliseconds(20)), absl::Seconds(5), id);
  absl::SleepFor(absl::Milliseconds(60));
  call.Cancel();
  client = call.Wait();
  EXPECT_LT(call.elapsed(), absl::Milliseconds(500))
      << "the client waited for the backend";
  return BackendHop(chain, id);
}

absl::Duration Elapsed(const HopTrace& hop) {
  return FromProtoTime(hop.finished_at()) - FromProtoTime(hop.arrived_at());
}

// The one right case for deadline without cancellation: work that must not
// be left half done (a write, a cache fill) when the caller goes, yet gets
// no more time than the caller had.
TEST(DeadlineOnlyTest, AWriteThatMustNotBeHalfDoneOutlivesTheCallersCancel) {
  grpc::Status client;
  const HopTrace hop =
      CancelAfter60ms(Propagation::kDeadlineOnly, "deadline-only", client);
  EXPECT_EQ(client.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(hop.code(), "OK");
  EXPECT_EQ(hop.steps_done(), 50);

  // The default would have torn it down half done.
  const HopTrace both =
      CancelAfter60ms(Propagation::kDeadlineAndCancellation, "both", client);
  EXPECT_EQ(client.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(both.code(), "CANCELLED");
  EXPECT_LT(both.steps_done(), 25);
}

TEST(DeadlineOnlyTest, ItStillEndsAtTheCallersDeadline) {
  Chain chain(WithChildContext(Propagation::kDeadlineOnly, absl::Seconds(5)));
  Call call(chain, Work(50, absl::Milliseconds(20)), absl::Milliseconds(200),
            "deadline-only-expires");
  EXPECT_EQ(call.Wait().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  const HopTrace hop = BackendHop(chain, call.request_id());
  EXPECT_EQ(hop.code(), "DEADLINE_EXCEEDED");
  EXPECT_LE(ToDuration(hop.budget_at_arrival()), absl::Milliseconds(202));
  EXPECT_LT(hop.steps_done(), 50);
  EXPECT_LT(Elapsed(hop), absl::Milliseconds(700));
}

// Cancellation without the deadline: the callee is told a deadline of the
// relay's own (2 s), not what is left of the caller's (200 ms). Right only
// where the callee must see a deadline set by its own contract, not the
// caller's; for example at a trust boundary, where an outside caller's
// grpc-timeout means nothing inside. In gRPC 1.51 the call still cannot
// outlive its caller: the caller's deadline passing cancels the caller's
// call, and that cancellation is propagated, so the callee stops then, as
// CANCELLED.
TEST(CancellationOnlyTest, TheCalleeSeesItsOwnDeadlineYetStopsWithTheCaller) {
  Chain chain(
      WithChildContext(Propagation::kCancellationOnly, absl::Seconds(2)));
  Call call(chain, Work(50, absl::Milliseconds(20)), absl::Milliseconds(200),
            "cancellation-only");
  EXPECT_EQ(call.Wait().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);

  const HopTrace hop = BackendHop(chain, call.request_id());
  EXPECT_GT(ToDuration(hop.budget_at_arrival()), absl::Milliseconds(1500));
  EXPECT_EQ(hop.code(), "CANCELLED");
  EXPECT_LT(hop.steps_done(), 50);
  EXPECT_LT(Elapsed(hop), absl::Milliseconds(700));
}

TEST(CancellationOnlyTest, TheCallersCancelStopsTheCallee) {
  grpc::Status client;
  const HopTrace hop = CancelAfter60ms(Propagation::kCancellationOnly,
                                       "cancellation-only-cancel", client);
  EXPECT_EQ(client.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(hop.code(), "CANCELLED");
  EXPECT_LT(hop.steps_done(), 25);
}

// Frontend.Fetch that frees each derived context in its backend call's
// completion callback: after answering (work with steps), or while its
// own call is finishing early and so cancelling the backend call (work
// without steps answers at once; with steps, the relay answers OK first).
class FreeingRelay final : public deadline::v1::Frontend::CallbackService {
 public:
  explicit FreeingRelay(std::shared_ptr<grpc::Channel> backend)
      : backend_(deadline::v1::Backend::NewStub(std::move(backend))) {}

  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* context,
                                  const FetchRequest* request,
                                  FetchReply* reply) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    struct Child {
      std::unique_ptr<grpc::ClientContext> context;
      deadline::v1::WorkRequest request;
      deadline::v1::WorkReply reply;
    };
    auto* child =
        new Child{grpc::ClientContext::FromCallbackServerContext(*context),
                  request->work(),
                  {}};
    const bool early = request->work().steps() > 0;
    backend_->async()->Work(
        child->context.get(), &child->request, &child->reply,
        [reactor, reply, child, early](grpc::Status status) {
          if (!early) {
            *reply->mutable_backend() = child->reply;
            reactor->Finish(status);
          }
          delete child;  // Its context goes as its caller completes.
        });
    if (early) reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::unique_ptr<deadline::v1::Backend::Stub> backend_;
};

// The project's own finding, not an upstream report: an earlier version of
// this test freed each derived context in its completion callback, as its
// caller completed, and aborted twice in about a hundred runs ("assertion
// failed: prior > 0"). The nearest upstream report, grpc/grpc#11393
// ("FromServerContext does not take a ref"), is about a derived context
// used after its server call is gone. This stress test does exactly what
// the old one did, 2000 times; it has not aborted here since, so the
// finding stays unconfirmed, and the project keeps its cautious layout
// (each derived context lives as long as its caller's call, or longer).
TEST(ChildContextTest, MayBeFreedInItsOwnCallbackAsItsCallerCompletes) {
  BackendOptions quiet;
  quiet.log = LogMode::kNone;
  TestBackend backend(quiet);
  FreeingRelay relay(backend.channel());
  absl::StatusOr<RunningServer> running = StartServer("127.0.0.1:0", {&relay});
  ASSERT_TRUE(running.ok()) << running.status();
  auto stub = deadline::v1::Frontend::NewStub(ChannelTo(running->address));
  constexpr int kCalls = 2000;
  int ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    grpc::ClientContext context;
    context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(10)));
    FetchRequest request;
    // Odd calls: the relay answers first, and its backend call is
    // cancelled as it does.
    *request.mutable_work() = Work(i % 2, absl::Milliseconds(50));
    FetchReply reply;
    ok += stub->Fetch(&context, request, &reply).ok();
  }
  EXPECT_EQ(ok, kCalls);
  // Every even call reached the backend; an odd one may have been
  // cancelled before it got there.
  EXPECT_GE(backend.stats().started, kCalls / 2);
  EXPECT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 0; },
                        absl::Seconds(10)));
  RecordProperty("backend_calls", static_cast<int>(backend.stats().started));
  RecordProperty("backend_cancelled",
                 static_cast<int>(backend.stats().cancelled));
  StopServer(*running->server, absl::ZeroDuration(), absl::ZeroDuration());
}

}  // namespace
}  // namespace deadline::testing
