// Nothing that crosses a hop is trusted: the frontend against a hostile
// backend (garbage replies, numbers out of range, oversized trailers), and
// both servers against requests that do not parse. Each answer keeps its
// real code, names the hop, and the servers keep serving.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/calls.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "server/serving/raw_messages.h"
#include "server/serving/server_runner.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::v1::FetchAllRequest;
using ::deadline::v1::FetchRequest;
using ::testing::AllOf;
using ::testing::HasSubstr;

// What the hostile backend answers every Backend.Work with.
struct Answer {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  std::string reply_bytes;       // Sent as the reply when the code is OK.
  std::string trace_bytes = {};  // Sent as deadline-trace-bin if not empty.
};

// A backend that says whatever it is told to, as raw bytes.
class HostileBackend final
    : public deadline::v1::Backend::WithRawCallbackMethod_Work<
          deadline::v1::Backend::Service> {
 public:
  explicit HostileBackend(Answer answer) : answer_(std::move(answer)) {
    running_ = *StartServer("127.0.0.1:0", {this});
  }
  ~HostileBackend() override {
    StopServer(*running_.server, absl::ZeroDuration(), absl::ZeroDuration());
  }
  const std::string& address() const { return running_.address; }

  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer*,
                                 grpc::ByteBuffer* reply) override {
    if (!answer_.trace_bytes.empty()) {
      context->AddTrailingMetadata(kTraceKey, answer_.trace_bytes);
    }
    if (answer_.code == grpc::StatusCode::OK) {
      grpc::Slice slice(answer_.reply_bytes);
      *reply = grpc::ByteBuffer(&slice, 1);
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(answer_.code, answer_.message));
    return reactor;
  }

 private:
  const Answer answer_;
  RunningServer running_;
};

FetchOutcome Fetch(TestFrontend& frontend, int steps) {
  FetchRequest request;
  *request.mutable_work() = Work(steps, absl::Milliseconds(1));
  FetchCall call(frontend.stub(), request, absl::Now() + absl::Seconds(5));
  return call.Wait();
}

std::string WorkReplyBytes(int steps_done) {
  deadline::v1::WorkReply reply;
  reply.set_steps_done(steps_done);
  return reply.SerializeAsString();
}

TEST(HostileBackendTest, AReplyThatDoesNotParseIsInternalNotOk) {
  // 64 bytes that are not a WorkReply (a truncated length-delimited field).
  HostileBackend backend({grpc::StatusCode::OK, "", std::string(64, '\x12')});
  TestFrontend frontend(backend.address());
  const FetchOutcome outcome = Fetch(frontend, 5);
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_THAT(outcome.status.error_message(),
              AllOf(HasSubstr("frontend: "),
                    HasSubstr(absl::StrCat("backend ", backend.address())),
                    HasSubstr("does not parse")));
  EXPECT_EQ(frontend.stats().ok, 0);
  EXPECT_EQ(frontend.stats().steps_done, 0);
}

TEST(HostileBackendTest, StepsOutsideWhatWasAskedAreNotBelieved) {
  for (int steps_done : {std::numeric_limits<int32_t>::max(), -1,
                         std::numeric_limits<int32_t>::min(), 6}) {
    HostileBackend backend(
        {grpc::StatusCode::OK, "", WorkReplyBytes(steps_done)});
    TestFrontend frontend(backend.address());
    const FetchOutcome outcome = Fetch(frontend, 5);
    EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::INTERNAL)
        << steps_done;
    EXPECT_THAT(outcome.status.error_message(),
                HasSubstr(absl::StrCat("answered steps_done ", steps_done,
                                       " for work of 5 steps")));
    EXPECT_EQ(frontend.stats().steps_done, 0);
  }
}

TEST(HostileBackendTest, PanelsClaimingTooManyStepsCannotInflateTheStats) {
  HostileBackend backend({grpc::StatusCode::OK, "",
                          WorkReplyBytes(std::numeric_limits<int32_t>::max())});
  TestFrontend frontend(backend.address());
  FetchAllRequest request;
  request.set_mode(deadline::v1::FAN_OUT_MODE_PARTIAL);
  for (int i = 0; i < 16; ++i) {
    *request.add_panels() = Work(3, absl::Milliseconds(1));
  }
  FetchAllCall call(frontend.stub(), request, absl::Now() + absl::Seconds(5));
  const FetchAllOutcome& outcome = call.Wait();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  for (const deadline::v1::PanelResult& panel : outcome.reply.panels()) {
    EXPECT_EQ(panel.code(), grpc::StatusCode::INTERNAL);
    EXPECT_GE(panel.reply().steps_done(), 0);
    EXPECT_LE(panel.reply().steps_done(), 3);
  }
  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().in_flight == 0; }));
  EXPECT_EQ(frontend.stats().steps_done, 0);
}

TEST(HostileBackendTest, AnOversizedTrailerKeepsTheRealCode) {
  deadline::v1::BudgetTrace huge;
  deadline::v1::HopTrace& hop = *huge.add_hops();
  hop.set_hop("backend");
  hop.set_stop(std::string(16 * 1024, 's'));
  HostileBackend backend({grpc::StatusCode::DEADLINE_EXCEEDED,
                          std::string(100 * 1024, 'm'), "",
                          huge.SerializeAsString()});
  TestFrontend frontend(backend.address());
  const FetchOutcome outcome = Fetch(frontend, 5);
  // Not RESOURCE_EXHAUSTED: the trailer was received, trimmed and passed on.
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LE(outcome.status.error_message().size(), kMaxMessageBytes);
  EXPECT_THAT(outcome.status.error_message(), HasSubstr("[trimmed "));
  ASSERT_TRUE(outcome.trace.has_value());
  EXPECT_LE(outcome.trace->ByteSizeLong(), kMaxTraceBytes);
  ASSERT_EQ(outcome.trace->hops_size(), 2);
  EXPECT_LE(outcome.trace->hops(1).stop().size(), kMaxTraceTextBytes);
}

TEST(HostileBackendTest, ManyLongPanelTracesStillFitTheAnswer) {
  // 16 panels of ~510-byte traces: 8 KiB, gRPC's default limit on what a
  // client receives, used to turn the call into RESOURCE_EXHAUSTED.
  deadline::v1::BudgetTrace trace;
  deadline::v1::HopTrace& hop = *trace.add_hops();
  hop.set_hop("backend");
  hop.set_stop(std::string(500, 's'));
  HostileBackend backend(
      {grpc::StatusCode::UNAVAILABLE, "down", "", trace.SerializeAsString()});
  TestFrontend frontend(backend.address());
  FetchAllRequest request;
  request.set_mode(deadline::v1::FAN_OUT_MODE_PARTIAL);
  for (int i = 0; i < 16; ++i) {
    *request.add_panels() = Work(3, absl::Milliseconds(1));
  }
  FetchAllCall call(frontend.stub(), request, absl::Now() + absl::Seconds(5));
  const FetchAllOutcome& outcome = call.Wait();
  ASSERT_TRUE(outcome.status.ok()) << outcome.status.error_message();
  ASSERT_TRUE(outcome.trace.has_value());
  EXPECT_LE(outcome.trace->ByteSizeLong(), kMaxTraceBytes);
  EXPECT_EQ(outcome.trace->hops(outcome.trace->hops_size() - 1).hop(), "...");
  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().ok == 1; }));
}

// Sends `bytes` as the request of `method` and returns how it ended.
grpc::Status SendRaw(const std::shared_ptr<grpc::Channel>& channel,
                     const std::string& method, const std::string& bytes) {
  grpc::GenericStub generic(channel);
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      status = std::move(s);
                      done.Notify();
                    });
  done.WaitForNotification();
  return status;
}

TEST(MalformedRequestTest, BothServersAnswerInvalidArgumentAndCountIt) {
  TestBackend backend;
  TestFrontend frontend(backend.address());
  const std::string garbage = "\xff\xff\xff\xff\x0f not a protobuf";
  for (const auto& [channel, method] :
       std::vector<std::pair<std::shared_ptr<grpc::Channel>, std::string>>{
           {backend.channel(), "/deadline.v1.Backend/Work"},
           {frontend.channel(), "/deadline.v1.Frontend/Fetch"},
           {frontend.channel(), "/deadline.v1.Frontend/FetchAll"}}) {
    const grpc::Status status = SendRaw(channel, method, garbage);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method;
    EXPECT_THAT(status.error_message(), HasSubstr("did not parse as a "))
        << method;
  }
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.stats().invalid, 1);
  EXPECT_EQ(backend.ended()[0].stop(),
            "the request did not parse as a deadline.v1.WorkRequest");
  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().invalid == 2; }));
  // An empty message is a valid empty request, and both still serve.
  EXPECT_TRUE(
      SendRaw(frontend.channel(), "/deadline.v1.Frontend/Fetch", "").ok());
  EXPECT_TRUE(Fetch(frontend, 2).status.ok());
}

TEST(OverloadTest, TheFrontendRefusesBeyondItsBoundAtOnce) {
  TestBackend backend;
  FrontendOptions options;
  options.max_in_flight = 2;
  TestFrontend frontend(backend.address(), options);
  FetchRequest slow;
  *slow.mutable_work() = Work(100, absl::Milliseconds(100));  // 10 s.
  FetchCall first(frontend.stub(), slow, absl::InfiniteFuture());
  FetchCall second(frontend.stub(), slow, absl::InfiniteFuture());
  ASSERT_TRUE(WaitUntil([&] { return frontend.stats().in_flight == 2; }));
  FetchCall refused(frontend.stub(), slow, absl::Now() + absl::Seconds(10));
  const FetchOutcome& outcome = refused.Wait();
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(outcome.status.error_message(), HasSubstr("--max_in_flight"));
  EXPECT_LT(outcome.elapsed, absl::Seconds(2));
  EXPECT_EQ(frontend.stats().overloaded, 1);
  first.Cancel();
  second.Cancel();
}

// A deadline 2,500,000 hours away: past the year 2262, where gRPC's
// system_clock deadline() wraps into the past. gRPC C++ sends at most
// 27,000 hours of it (tests/raw_http2_test.py sends the whole of it, as a
// foreign client can).
gpr_timespec FarDeadline() {
  gpr_timespec far = gpr_now(GPR_CLOCK_REALTIME);
  far.tv_sec += int64_t{2'500'000} * 3600;
  return far;
}

TEST(AbsurdDeadlineTest, IsClampedAtBothHopsNotWrappedIntoThePast) {
  TestBackend backend;
  TestFrontend frontend(backend.address());
  grpc::ClientContext context;
  context.set_deadline(FarDeadline());
  FetchRequest request;
  *request.mutable_work() = Work(2, absl::Milliseconds(1));
  deadline::v1::FetchReply reply;
  const grpc::Status status = frontend.stub().Fetch(&context, request, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(ToDuration(reply.budget_at_arrival()), absl::Hours(26'000));
  // Clamped to --max_deadline (60 s) less the reserve.
  EXPECT_EQ(ToDuration(reply.budget_forwarded()),
            absl::Seconds(60) - absl::Milliseconds(10));
  EXPECT_LE(ToDuration(reply.backend().budget_at_arrival()), absl::Seconds(60));
  EXPECT_EQ(reply.backend().steps_done(), 2);

  // Directly at the backend, which clamps too.
  grpc::ClientContext direct;
  direct.set_deadline(FarDeadline());
  deadline::v1::WorkReply work_reply;
  ASSERT_TRUE(backend.stub()
                  .Work(&direct, Work(2, absl::Milliseconds(1)), &work_reply)
                  .ok());
  EXPECT_GT(ToDuration(work_reply.budget_at_arrival()), absl::Hours(26'000));
  EXPECT_EQ(work_reply.steps_done(), 2);
}

}  // namespace
}  // namespace deadline::testing
