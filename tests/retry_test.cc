// Retries inside the caller's budget, by gRPC's own retry policy (gRFC A6)
// on the frontend's backend channel, against a backend that refuses a share
// of its calls on purpose (--fail_rate, a test aid).
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/calls.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/server_callback.h"
#include "gtest/gtest.h"
#include "server/serving/server_runner.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::v1::FetchRequest;
using ::deadline::v1::WorkProgress;
using ::deadline::v1::WorkReply;
using ::deadline::v1::WorkRequest;

BackendOptions Failing(double rate) {
  BackendOptions options;
  options.fail_rate = rate;
  options.log = LogMode::kNone;
  return options;
}

// A fresh frontend per test: retry throttling keeps its tokens per process
// and target.
FrontendOptions Retrying(int attempts) {
  FrontendOptions options;
  options.channels.max_attempts = attempts;
  options.log = LogMode::kNone;
  return options;
}

// Runs `n` quick Fetch calls one after another; returns how many were OK.
int OkOf(TestFrontend& frontend, int n) {
  FetchRequest request;
  *request.mutable_work() = Work(1, absl::ZeroDuration());
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    FetchCall call(frontend.stub(), request, absl::Now() + absl::Seconds(5));
    ok += call.Wait().status.ok();
  }
  return ok;
}

TEST(RetryTest, WithRetriesNearlyEveryCallSucceedsAtAHalfFailureRate) {
  TestBackend backend(Failing(0.5));
  TestFrontend frontend(backend.address(), Retrying(4));
  const int ok = OkOf(frontend, 200);
  // One call in 16 fails four times in a row; throttling lets the retries
  // go on at this rate.
  EXPECT_GT(ok, 170) << ok << " of 200";
  // The backend saw the retries: more calls than the frontend made.
  EXPECT_GT(backend.stats().started, 250);
}

TEST(RetryTest, WithoutRetriesAboutHalfFail) {
  TestBackend backend(Failing(0.5));
  TestFrontend frontend(backend.address(), Retrying(1));
  const int ok = OkOf(frontend, 200);
  EXPECT_GT(ok, 60);
  EXPECT_LT(ok, 140);
  EXPECT_EQ(backend.stats().started, 200);
}

TEST(RetryTest, EveryAttemptLivesInsideTheOneDeadlineAndTheTraceCountsThem) {
  TestBackend backend(Failing(1));
  FrontendOptions options = Retrying(5);
  options.channels.initial_backoff = absl::Milliseconds(5);
  options.channels.max_backoff = absl::Milliseconds(20);
  TestFrontend frontend(backend.address(), options);
  FetchRequest request;
  *request.mutable_work() = Work(1, absl::ZeroDuration());
  FetchCall call(frontend.stub(), request,
                 absl::Now() + absl::Milliseconds(300));
  const FetchOutcome& outcome = call.Wait();
  // Every attempt was refused: the last refusal, or the deadline, ends it.
  EXPECT_TRUE(outcome.status.error_code() == grpc::StatusCode::UNAVAILABLE ||
              outcome.status.error_code() ==
                  grpc::StatusCode::DEADLINE_EXCEEDED)
      << outcome.status.error_message();
  EXPECT_LT(outcome.elapsed, absl::Milliseconds(400));
  ASSERT_TRUE(outcome.trace.has_value());
  ASSERT_EQ(outcome.trace->hops_size(), 2);
  // Only the last attempt's trailers reach the frontend: its number says
  // how many were made.
  const int attempts = outcome.trace->hops(1).attempt();
  EXPECT_GE(attempts, 2);
  EXPECT_LE(attempts, 5);
  EXPECT_TRUE(WaitUntil([&] { return backend.stats().started == attempts; }));
}

TEST(RetryTest, TheThrottleStopsRetryingInASustainedOutage) {
  TestBackend backend(Failing(1));
  TestFrontend frontend(backend.address(), Retrying(5));
  EXPECT_EQ(OkOf(frontend, 30), 0);
  const int64_t after_30 = backend.stats().started;
  // Without the throttle, 30 calls would have made 150 attempts. Its bucket
  // of 100 tokens lets retries go only while more than half are left: about
  // 10 calls of 5 attempts, then one attempt each.
  EXPECT_LT(after_30, 90);
  // From then on, each call is one attempt.
  EXPECT_EQ(OkOf(frontend, 10), 0);
  EXPECT_EQ(backend.stats().started - after_30, 10);
}

// A backend whose every Work call fails at once with `code`, and whose
// every WorkStream call fails with `code` after `messages` messages; it
// counts the calls (attempts) it sees.
class AnswersWith final : public deadline::v1::Backend::CallbackService {
 public:
  explicit AnswersWith(grpc::StatusCode code, int messages = 0)
      : code_(code), messages_(messages) {
    absl::StatusOr<RunningServer> running = StartServer("127.0.0.1:0", {this});
    EXPECT_TRUE(running.ok()) << running.status();
    running_ = *std::move(running);
  }
  ~AnswersWith() override {
    StopServer(*running_.server, absl::ZeroDuration(), absl::ZeroDuration());
  }

  grpc::ServerUnaryReactor* Work(grpc::CallbackServerContext* context,
                                 const WorkRequest*, WorkReply*) override {
    calls_.fetch_add(1);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(code_, "as told"));
    return reactor;
  }
  grpc::ServerWriteReactor<WorkProgress>* WorkStream(
      grpc::CallbackServerContext*, const WorkRequest*) override {
    calls_.fetch_add(1);
    return new Writer(code_, messages_);
  }

  const std::string& address() const { return running_.address; }
  int calls() const { return calls_.load(); }

 private:
  class Writer final : public grpc::ServerWriteReactor<WorkProgress> {
   public:
    Writer(grpc::StatusCode code, int messages) : code_(code), left_(messages) {
      Next();
    }
    void OnWriteDone(bool ok) override {
      if (!ok) {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
        return;
      }
      Next();
    }
    void OnDone() override { delete this; }

   private:
    void Next() {
      if (left_-- > 0) {
        StartWrite(&progress_);
      } else {
        Finish(grpc::Status(code_, "as told"));
      }
    }
    const grpc::StatusCode code_;
    int left_;
    WorkProgress progress_;
  };

  const grpc::StatusCode code_;
  const int messages_;
  RunningServer running_;
  std::atomic<int> calls_{0};
};

// Go's errors.Is(err, context.DeadlineExceeded): the error decides whether
// to retry. Through the frontend's retry policy (five attempts): a backend
// that refuses (UNAVAILABLE) is tried five times; a DEADLINE_EXCEEDED or a
// CANCELLED answer is passed up after one attempt, with its code.
TEST(RetryPolicyTest, RetriesUnavailableButNeverDeadlineExceededOrCancelled) {
  const struct {
    grpc::StatusCode code;
    int attempts;
  } cases[] = {{grpc::StatusCode::UNAVAILABLE, 5},
               {grpc::StatusCode::DEADLINE_EXCEEDED, 1},
               {grpc::StatusCode::CANCELLED, 1}};
  for (const auto& each : cases) {
    SCOPED_TRACE(absl::StrCat("backend answers ", each.code));
    AnswersWith backend(each.code);
    TestFrontend frontend(backend.address(), Retrying(5));
    FetchRequest request;
    *request.mutable_work() = Work(1, absl::ZeroDuration());
    FetchCall call(frontend.stub(), request, absl::Now() + absl::Seconds(10));
    EXPECT_EQ(call.Wait().status.error_code(), each.code)
        << call.Wait().status.error_message();
    EXPECT_TRUE(WaitUntil([&] { return backend.calls() == each.attempts; }));
    absl::SleepFor(absl::Milliseconds(100));  // Time for a stray attempt.
    EXPECT_EQ(backend.calls(), each.attempts);
  }
}

// A channel straight to `address` with this methodConfig for the Backend
// service (and `args`).
std::shared_ptr<grpc::Channel> ChannelWithConfig(
    const std::string& address, const std::string& method_config,
    grpc::ChannelArguments args = {}) {
  args.SetServiceConfigJSON(absl::StrCat(
      R"({"methodConfig": [{"name": [{"service": "deadline.v1.Backend"}], )",
      method_config, "}]}"));
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

constexpr char kRetryUnavailable[] =
    R"("retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.01s",
        "maxBackoff": "0.05s", "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"]})";

// gRFC A6's perAttemptRecvTimeout, in gRPC 1.51, is read only when the
// channel has the experimental hedging switch on
// (grpc.experimental.enable_hedging; retry_service_config.cc). Without it
// the field is silently ignored: one attempt that hangs uses the call's
// whole deadline, and no retry is made.
TEST(PerAttemptTimeoutTest, IsIgnoredWithoutTheHedgingSwitch) {
  TestBackend backend;  // 100 steps of 20 ms: the attempt "hangs" for 2 s.
  const std::string config = R"("retryPolicy": {"maxAttempts": 3,
      "initialBackoff": "0.01s", "maxBackoff": "0.05s",
      "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"],
      "perAttemptRecvTimeout": "0.1s"})";
  const auto call = [&](const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = deadline::v1::Backend::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Milliseconds(600)));
    WorkReply reply;
    return stub->Work(&context, Work(100, absl::Milliseconds(20)), &reply);
  };

  const absl::Time start = absl::Now();
  EXPECT_EQ(call(ChannelWithConfig(backend.address(), config)).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  // The backend answers a little before the deadline (its reserve), far
  // beyond the 100 ms the config asked for.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(500));
  ASSERT_TRUE(backend.WaitForEnded(1));
  EXPECT_EQ(backend.stats().started, 1) << "an attempt was retried";

  // With the switch, the same config cuts each attempt at 100 ms and retries.
  grpc::ChannelArguments hedging;
  hedging.SetInt("grpc.experimental.enable_hedging", 1);
  call(ChannelWithConfig(backend.address(), config, hedging));
  EXPECT_TRUE(WaitUntil([&] { return backend.stats().started >= 3; }));
}

// A6 retries a call only until it is committed: once the server has sent
// response headers (a stream's first message), or once more than the retry
// buffer (256 KiB per call, retry_filter.cc) has been sent. A stream that
// fails after its first message is not retried; the same failure before
// any message is.
TEST(RetryCommitTest, AStreamIsRetriedOnlyUntilItsFirstMessage) {
  for (const int messages : {0, 1}) {
    SCOPED_TRACE(absl::StrCat(messages, " message(s) before UNAVAILABLE"));
    AnswersWith backend(grpc::StatusCode::UNAVAILABLE, messages);
    auto stub = deadline::v1::Backend::NewStub(
        ChannelWithConfig(backend.address(), kRetryUnavailable));
    grpc::ClientContext context;
    context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(10)));
    auto reader = stub->WorkStream(&context, Work(1, absl::ZeroDuration()));
    WorkProgress progress;
    int read = 0;
    while (reader->Read(&progress)) ++read;
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(read, messages);
    EXPECT_EQ(backend.calls(), messages == 0 ? 5 : 1);
  }
}

void AppendVarint(uint64_t value, std::string& wire) {
  do {
    char byte = static_cast<char>(value & 0x7f);
    value >>= 7;
    if (value != 0) byte = static_cast<char>(byte | 0x80);
    wire.push_back(byte);
  } while (value != 0);
}

// A WorkRequest carrying `bytes` of an unknown field (proto3 keeps unknown
// fields and sends them on).
WorkRequest PaddedRequest(size_t bytes) {
  std::string wire = Work(1, absl::ZeroDuration()).SerializeAsString();
  AppendVarint((99 << 3) | 2, wire);  // Field 99, length-delimited.
  AppendVarint(bytes, wire);
  wire.append(bytes, 'x');
  WorkRequest request;
  EXPECT_TRUE(request.ParseFromString(wire));
  EXPECT_GT(request.ByteSizeLong(), bytes);
  return request;
}

TEST(RetryCommitTest, ARequestLargerThanTheRetryBufferIsNeverRetried) {
  for (const size_t padding : {size_t{1000}, size_t{300 * 1024}}) {
    SCOPED_TRACE(absl::StrCat(padding, " bytes of padding"));
    AnswersWith backend(grpc::StatusCode::UNAVAILABLE);
    auto stub = deadline::v1::Backend::NewStub(
        ChannelWithConfig(backend.address(), kRetryUnavailable));
    grpc::ClientContext context;
    context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(10)));
    WorkReply reply;
    EXPECT_EQ(stub->Work(&context, PaddedRequest(padding), &reply).error_code(),
              grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(backend.calls(), padding < 256 * 1024 ? 5 : 1);
  }
}

}  // namespace
}  // namespace deadline::testing
