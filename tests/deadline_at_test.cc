// The absolute deadline a caller sends beside gRPC's relative one
// (deadline-at, deadline-sent-at: common/deadline_at.h), against real
// servers: a hop plans from the earlier of the two where it can trust the
// absolute one, refuses a call that arrives after it, and otherwise plans
// as it always did. Time bounds are generous (2-core, noisy machines).
#include "common/deadline_at.h"

#include <signal.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/calls.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "server/deadline/budget.h"
#include "tests/support/proc_stats.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::v1::FetchReply;
using ::deadline::v1::FetchRequest;
using ::testing::HasSubstr;

// A Fetch of one 1 ms step with grpc-timeout `timeout` and, when given,
// the absolute deadline entries as written: what any gRPC client could
// send, right or wrong.
struct RawFetch {
  grpc::Status status;
  FetchReply reply;
  absl::optional<deadline::v1::BudgetTrace> trace;
  absl::Duration elapsed;
};
RawFetch Fetch(TestFrontend& frontend, absl::Duration timeout,
               const std::string& deadline_at,
               const std::string& sent_at = "") {
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + timeout));
  if (!deadline_at.empty()) context.AddMetadata(kDeadlineAtKey, deadline_at);
  if (!sent_at.empty()) context.AddMetadata(kDeadlineSentAtKey, sent_at);
  WantTrace(context);
  FetchRequest request;
  *request.mutable_work() = Work(1, absl::Milliseconds(1));
  RawFetch fetch;
  const absl::Time start = absl::Now();
  fetch.status = frontend.stub().Fetch(&context, request, &fetch.reply);
  fetch.elapsed = absl::Now() - start;
  fetch.trace = TraceFrom(context);
  return fetch;
}

std::string Micros(absl::Time t) { return FormatUnixMicros(t); }

TEST(DeadlineAtTest, AnAbsurdOneNeverLengthensABudget) {
  TestBackend backend;
  TestFrontend frontend(backend.address());
  const absl::Time now = absl::Now();
  for (const std::string& absurd :
       {Micros(now + absl::Hours(1)),    // Beyond --max_deadline.
        Micros(now + absl::Seconds(5)),  // Later than grpc-timeout's 800 ms.
        std::string("soon"), std::string("-1")}) {
    const RawFetch fetch = Fetch(frontend, absl::Milliseconds(800), absurd);
    ASSERT_TRUE(fetch.status.ok()) << fetch.status.error_message();
    const absl::Duration at_frontend =
        ToDuration(fetch.reply.budget_at_arrival());
    // Planned from grpc-timeout alone, as for a caller that sends none: the
    // arrival slack comes off too.
    EXPECT_LE(at_frontend, absl::Milliseconds(801)) << absurd;
    EXPECT_EQ(ToDuration(fetch.reply.budget_forwarded()),
              at_frontend - ArrivalSlack(at_frontend) - absl::Milliseconds(10))
        << absurd;
    ASSERT_TRUE(fetch.trace.has_value());
    EXPECT_EQ(fetch.trace->hops(0).deadline_from(), "grpc-timeout");
  }
  EXPECT_TRUE(
      WaitUntil([&] { return frontend.stats().deadline_at_ignored == 4; }));
}

TEST(DeadlineAtTest, OnePassedIsRefusedAtOnceWithoutWork) {
  TestBackend backend;
  TestFrontend frontend(backend.address());
  // Sent 1.3 s ago with a 300 ms deadline: whatever grpc-timeout says now,
  // the caller's deadline passed a second ago.
  const absl::Time now = absl::Now();
  const RawFetch fetch =
      Fetch(frontend, absl::Seconds(5), Micros(now - absl::Seconds(1)),
            Micros(now - absl::Milliseconds(1300)));
  EXPECT_EQ(fetch.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(fetch.status.error_message(),
              HasSubstr("after its caller's deadline (deadline-at)"));
  EXPECT_THAT(fetch.status.error_message(), HasSubstr("backend not called"));
  EXPECT_LT(fetch.elapsed, absl::Seconds(2));
  ASSERT_TRUE(fetch.trace.has_value());
  EXPECT_EQ(fetch.trace->hops(0).steps_done(), 0);
  EXPECT_TRUE(WaitUntil([&] { return frontend.stats().arrived_late == 1; }));
  EXPECT_EQ(frontend.stats().rejected, 1);
  EXPECT_EQ(backend.stats().started, 0);
}

TEST(DeadlineAtTest, ClocksThatDisagreeFallBackToTheRelativeDeadline) {
  TestBackend backend;
  TestFrontend frontend(backend.address());
  // A caller whose clock is a second ahead: by this host's clock it sent
  // the call a second from now.
  const absl::Time ahead = absl::Now() + absl::Seconds(1);
  const RawFetch fetch =
      Fetch(frontend, absl::Milliseconds(300),
            Micros(ahead + absl::Milliseconds(300)), Micros(ahead));
  ASSERT_TRUE(fetch.status.ok()) << fetch.status.error_message();
  const absl::Duration at_frontend =
      ToDuration(fetch.reply.budget_at_arrival());
  EXPECT_LE(at_frontend, absl::Milliseconds(301));
  EXPECT_EQ(ToDuration(fetch.reply.budget_forwarded()),
            at_frontend - ArrivalSlack(at_frontend) - absl::Milliseconds(10));
  EXPECT_TRUE(
      WaitUntil([&] { return frontend.stats().deadline_at_ignored == 1; }));
}

// A frontend that cannot read for a while (stopped, as a process whose
// threads are all busy would be): its caller's call waits in the socket.
// grpc-timeout starts counting when the call is read, so it cannot see the
// wait; deadline-at can, and the trace says where the time went.
TEST(DeadlineAtTest, TimeWaitingToBeReadIsSeenAndComesOffTheBudget) {
  std::string backend_address;
  auto backend = StartServerProcess(
      {RunfilePath("server/backend/backend"), "--log=none"}, &backend_address);
  ASSERT_NE(backend, nullptr);
  std::string frontend_address;
  auto frontend =
      StartServerProcess({RunfilePath("server/frontend/frontend"), "--log=none",
                          absl::StrCat("--backend=", backend_address)},
                         &frontend_address);
  ASSERT_NE(frontend, nullptr);
  auto stub = deadline::v1::Frontend::NewStub(ChannelTo(frontend_address));
  FetchRequest request;
  *request.mutable_work() = Work(1, absl::Milliseconds(1));
  // Connected first, so the next call's bytes reach the socket at once.
  ASSERT_TRUE(FetchCall(*stub, request, absl::Now() + absl::Seconds(5))
                  .Wait()
                  .status.ok());

  frontend->Signal(SIGSTOP);
  ASSERT_TRUE(WaitUntil([&] { return IsStopped(frontend->pid()); }));
  std::thread resume([&] {
    absl::SleepFor(absl::Milliseconds(400));
    frontend->Signal(SIGCONT);
  });
  FetchCall call(*stub, request, absl::Now() + absl::Seconds(2));
  const FetchOutcome& outcome = call.Wait();
  resume.join();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_TRUE(outcome.trace.has_value());
  const deadline::v1::HopTrace& hop = outcome.trace->hops(0);
  // The wait is attributed to the way in, not to the frontend's work.
  const absl::Duration delay = ToDuration(hop.arrival_delay());
  EXPECT_GE(delay, absl::Milliseconds(300));
  EXPECT_LT(ToDuration(hop.working()), delay);
  // And it came off the budget: planned from deadline-at, not from the
  // 2 s grpc-timeout that started counting only when the call was read.
  EXPECT_EQ(hop.deadline_from(), "deadline-at");
  EXPECT_LE(ToDuration(hop.budget_at_arrival()),
            absl::Seconds(2) - absl::Milliseconds(300));
}

}  // namespace
}  // namespace deadline::testing
