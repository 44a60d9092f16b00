// Detached work (Go's context.WithoutCancel): the frontend's --audit records
// each Fetch's outcome with Backend.Record, and that record must land even
// when the request's caller cancels. The derived variant shows the hazard
// the detached one avoids. Real servers in this process; generous bounds.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/types/optional.h"
#include "client/calls.h"
#include "gmock/gmock.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::v1::FetchRequest;

FrontendOptions Audited(AuditMode mode) {
  FrontendOptions options;
  options.audit = mode;
  options.log = LogMode::kNone;
  return options;
}

// Starts a Fetch of 20 x 25 ms and cancels it once the backend is at work.
void FetchAndCancel(TestFrontend& frontend, TestBackend& backend) {
  FetchRequest request;
  *request.mutable_work() = Work(20, absl::Milliseconds(25));
  FetchCall call(frontend.stub(), request, absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(WaitUntil([&] { return backend.stats().in_flight == 1; }));
  call.Cancel();
  EXPECT_EQ(call.Wait().status.error_code(), grpc::StatusCode::CANCELLED);
}

TEST(AuditTest, ADetachedAuditLandsWhenTheClientCancels) {
  TestBackend backend;
  TestFrontend frontend(backend.address(), Audited(AuditMode::kDetached));
  FetchAndCancel(frontend, backend);
  // The request's work stopped, as it should...
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.stats().cancelled, 1);
  // ...and its record landed all the same.
  EXPECT_TRUE(WaitUntil([&] { return backend.stats().records == 1; }));
  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().records == 1; }));
  EXPECT_EQ(frontend.stats().records_failed, 0);
}

TEST(AuditTest, ADerivedAuditDiesWithItsRequest) {
  TestBackend backend;
  TestFrontend frontend(backend.address(), Audited(AuditMode::kDerived));
  FetchAndCancel(frontend, backend);
  // Derived from a request whose caller has gone, the audit is cancelled
  // with it: the record is lost.
  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().records_failed == 1; }));
  EXPECT_EQ(frontend.stats().records, 0);
  EXPECT_EQ(backend.stats().records, 0);
}

TEST(AuditTest, EveryFetchIsAuditedWhateverItsOutcome) {
  TestBackend backend;
  TestFrontend frontend(backend.address(), Audited(AuditMode::kDetached));
  FetchRequest ok;
  *ok.mutable_work() = Work(1, absl::Milliseconds(1));
  FetchRequest late;
  *late.mutable_work() = Work(10, absl::Milliseconds(50));
  FetchRequest invalid;
  *invalid.mutable_work() = Work(-1, absl::Milliseconds(1));
  EXPECT_TRUE(FetchCall(frontend.stub(), ok, absl::Now() + absl::Seconds(5))
                  .Wait()
                  .status.ok());
  EXPECT_EQ(
      FetchCall(frontend.stub(), late, absl::Now() + absl::Milliseconds(100))
          .Wait()
          .status.error_code(),
      grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(FetchCall(frontend.stub(), invalid, absl::Now() + absl::Seconds(5))
                .Wait()
                .status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // The backend stores a record before its answer reaches the frontend.
  EXPECT_TRUE(WaitUntil([&] { return backend.stats().records == 3; }));
  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().records == 3; }));
  EXPECT_EQ(frontend.stats().records_failed, 0);
}

TEST(AuditTest, AuditsAreOffByDefault) {
  TestBackend backend;
  TestFrontend frontend(backend.address());
  FetchRequest ok;
  *ok.mutable_work() = Work(1, absl::Milliseconds(1));
  EXPECT_TRUE(FetchCall(frontend.stub(), ok, absl::Now() + absl::Seconds(5))
                  .Wait()
                  .status.ok());
  ASSERT_TRUE(backend.WaitForEnded(1));
  absl::SleepFor(absl::Milliseconds(100));  // Time for a stray audit.
  EXPECT_EQ(backend.stats().records, 0);
}

// A backend whose Record takes `delay`, and whose Work takes `work_delay`
// whatever its deadline (by default Work is unimplemented: the Fetch fails
// at once, and its audit goes out all the same).
class SlowRecords final : public deadline::v1::Backend::CallbackService {
 public:
  explicit SlowRecords(absl::Duration delay,
                       absl::optional<absl::Duration> work_delay = {})
      : delay_(delay), work_delay_(work_delay) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
    address_ = absl::StrCat("127.0.0.1:", port);
  }
  ~SlowRecords() override {
    server_->Shutdown(absl::ToChronoTime(absl::Now()));
    for (std::thread& thread : threads_) thread.join();
  }
  grpc::ServerUnaryReactor* Record(grpc::CallbackServerContext* context,
                                   const deadline::v1::AuditRecord*,
                                   deadline::v1::RecordReply*) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    absl::MutexLock lock(&mu_);
    threads_.emplace_back([this, reactor] {
      absl::SleepFor(delay_);
      ++records_;
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }
  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const deadline::v1::WorkRequest*,
                                 deadline::v1::WorkReply*) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (!work_delay_.has_value()) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, ""));
      return reactor;
    }
    absl::MutexLock lock(&mu_);
    threads_.emplace_back([this, reactor] {
      absl::SleepFor(*work_delay_);
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }
  const std::string& address() const { return address_; }
  int records() const { return records_.load(); }

 private:
  const absl::Duration delay_;
  const absl::optional<absl::Duration> work_delay_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
  absl::Mutex mu_;
  std::vector<std::thread> threads_;
  std::atomic<int> records_{0};
};

TEST(AuditTest, AnAuditRunsUnderItsOwnShortDeadline) {
  SlowRecords backend(absl::Milliseconds(500));
  FrontendOptions options = Audited(AuditMode::kDetached);
  options.audit_deadline = absl::Milliseconds(100);
  TestFrontend frontend(backend.address(), options);
  FetchRequest request;
  *request.mutable_work() = Work(1, absl::Milliseconds(1));
  FetchCall(frontend.stub(), request, absl::Now() + absl::Seconds(5)).Wait();
  const absl::Time sent = absl::Now();
  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().records_failed == 1; }));
  EXPECT_LT(absl::Now() - sent, absl::Milliseconds(400));
  EXPECT_EQ(frontend.stats().records, 0);
}

TEST(AuditTest, ShutdownWaitsForAuditsWithinTheGrace) {
  SlowRecords backend(absl::Milliseconds(200));
  TestFrontend frontend(backend.address(), Audited(AuditMode::kDetached));
  FetchRequest request;
  *request.mutable_work() = Work(1, absl::Milliseconds(1));
  FetchCall(frontend.stub(), request, absl::Now() + absl::Seconds(5)).Wait();
  // The server stops at once; its audit, still in flight, gets the grace.
  frontend.Stop(absl::ZeroDuration());
  EXPECT_TRUE(frontend.service().WaitForAudits(absl::Now() + absl::Seconds(5)));
  EXPECT_EQ(backend.records(), 1);
  EXPECT_EQ(frontend.stats().records, 1);
  // With no grace left, an audit in flight is abandoned, not waited for.
  TestFrontend second(backend.address(), Audited(AuditMode::kDetached));
  FetchCall(second.stub(), request, absl::Now() + absl::Seconds(5)).Wait();
  second.Stop(absl::ZeroDuration());
  EXPECT_FALSE(second.service().WaitForAudits(absl::Now()));
}

// Go: the function that set a timeout handles its expiry; one that gets
// DEADLINE_EXCEEDED because its caller's deadline passed returns it as it
// is. The frontend sets its audit's deadline itself (--audit_deadline):
// when that fires, the frontend handles it (the record counts as lost) and
// its caller never hears of it. A Fetch's deadline is its caller's: when
// it passes, the frontend passes DEADLINE_EXCEEDED up to the client, whose
// deadline it was, and which turns it into its answer.
TEST(AuditTest, TheHopThatSetATimeoutHandlesItAndPassesItsCallersUp) {
  SlowRecords backend(absl::Milliseconds(500), absl::Milliseconds(300));
  FrontendOptions options = Audited(AuditMode::kDetached);
  options.audit_deadline = absl::Milliseconds(100);
  TestFrontend frontend(backend.address(), options);
  FetchRequest request;
  *request.mutable_work() = Work(1, absl::Milliseconds(1));

  const FetchOutcome ok =
      FetchCall(frontend.stub(), request, absl::Now() + absl::Seconds(5))
          .Wait();
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().records_failed == 1; }));
  EXPECT_EQ(frontend.stats().records, 0);

  const FetchOutcome late =
      FetchCall(frontend.stub(), request, absl::Now() + absl::Milliseconds(150))
          .Wait();
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(late.status.error_message(), ::testing::HasSubstr("frontend"));
  EXPECT_LT(late.elapsed, absl::Milliseconds(300)) << "it waited for the work";
}

}  // namespace
}  // namespace deadline::testing
