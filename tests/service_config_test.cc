// What gRPC C++ 1.51 does with a per-method "timeout" in a channel's service
// config (grpc/service_config/service_config.proto: the call's deadline
// should be the earlier of it and the one the application set), measured
// against a real backend. It does not do that: the timeout fires one to two
// seconds early, and it is never sent to the server. These tests assert what
// 1.51 does, so that a gRPC that fixes it fails them and this project's
// advice (set deadlines per call, never by service config) can be revisited.
// Similar reports, for Python: grpc/grpc#34547 (grpcio 1.54), #40633.

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "common/trace.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using deadline::v1::HopTrace;

// A channel to `address` whose service config gives every Backend method
// `timeout` (e.g. "3s").
std::shared_ptr<grpc::Channel> ChannelWithTimeout(const std::string& address,
                                                  const std::string& timeout) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(
      absl::StrCat(R"({"methodConfig": [{)",
                   R"("name": [{"service": "deadline.v1.Backend"}],)",
                   R"("timeout": ")", timeout, R"("}]})"));
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

struct Outcome {
  grpc::Status status;
  absl::Duration elapsed;
};

// Backend.Work on `channel` (4.5 s of it unless `steps` says otherwise),
// with a per-call deadline `per_call` from now (infinite: none).
Outcome CallWork(const std::shared_ptr<grpc::Channel>& channel,
                 absl::Duration per_call, const std::string& request_id,
                 int steps = 90) {
  auto stub = deadline::v1::Backend::NewStub(channel);
  grpc::ClientContext context;
  context.AddMetadata(kRequestIdKey, request_id);
  const absl::Time start = absl::Now();
  if (per_call != absl::InfiniteDuration()) {
    context.set_deadline(ToGrpcDeadline(start + per_call));
  }
  deadline::v1::WorkReply reply;
  Outcome outcome;
  outcome.status =
      stub->Work(&context, Work(steps, absl::Milliseconds(50)), &reply);
  outcome.elapsed = absl::Now() - start;
  std::printf("%s: %s after %s\n", request_id.c_str(),
              outcome.status.error_message().c_str(),
              absl::FormatDuration(outcome.elapsed).c_str());
  return outcome;
}

HopTrace BackendHop(TestBackend& backend, const std::string& request_id) {
  absl::optional<HopTrace> hop =
      backend.WaitForCall(request_id, absl::Seconds(10));
  EXPECT_TRUE(hop.has_value()) << "the call never reached the backend";
  return hop.value_or(HopTrace());
}

// A 3 s timeout ends the call after about 1 to 2 s (a correct gRPC: 3 s).
TEST(ServiceConfigTimeoutTest, FiresOneToTwoSecondsEarly) {
  TestBackend backend;
  auto channel = ChannelWithTimeout(backend.address(), "3s");
  const Outcome outcome = CallWork(channel, absl::InfiniteDuration(), "early");
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GT(outcome.elapsed, absl::Milliseconds(800));
  EXPECT_LT(outcome.elapsed, absl::Milliseconds(2300));
}

// The server is not told: it sees a call without a deadline (so it plans
// with its own default), cancelled when the client's timer fires.
TEST(ServiceConfigTimeoutTest, IsNotSentToTheServer) {
  TestBackend backend;
  auto channel = ChannelWithTimeout(backend.address(), "3s");
  CallWork(channel, absl::InfiniteDuration(), "not-sent");
  const HopTrace hop = BackendHop(backend, "not-sent");
  EXPECT_FALSE(hop.has_budget_at_arrival());
  EXPECT_EQ(hop.code(), "CANCELLED");
}

// A timeout of 1 s or less has run out before the call starts.
TEST(ServiceConfigTimeoutTest, OneSecondOrLessFailsAtOnceWithoutACall) {
  TestBackend backend;
  auto channel = ChannelWithTimeout(backend.address(), "1s");
  const Outcome outcome =
      CallWork(channel, absl::InfiniteDuration(), "at-once");
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(outcome.elapsed, absl::Milliseconds(300));

  // A call that reached the backend would have ended there by the time a
  // later one has: only the later one did.
  EXPECT_TRUE(CallWork(backend.channel(), absl::Seconds(5), "later",
                       /*steps=*/0)
                  .status.ok());
  BackendHop(backend, "later");
  EXPECT_EQ(backend.ended().size(), 1u);
}

// The earlier deadline wins when it is the call's own...
TEST(ServiceConfigTimeoutTest, AShorterPerCallDeadlineWinsAndIsSent) {
  TestBackend backend;
  auto channel = ChannelWithTimeout(backend.address(), "3s");
  const Outcome outcome = CallWork(channel, absl::Milliseconds(300), "shorter");
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GT(outcome.elapsed, absl::Milliseconds(250));
  EXPECT_LT(outcome.elapsed, absl::Milliseconds(900));
  const HopTrace hop = BackendHop(backend, "shorter");
  ASSERT_TRUE(hop.has_budget_at_arrival());
  EXPECT_LE(ToDuration(hop.budget_at_arrival()), absl::Milliseconds(302));
}

// ...while a longer per-call deadline is sent to the server, and the early
// timeout cuts the call anyway.
TEST(ServiceConfigTimeoutTest, ALongerPerCallDeadlineIsSentButCutEarly) {
  TestBackend backend;
  auto channel = ChannelWithTimeout(backend.address(), "3s");
  const Outcome outcome = CallWork(channel, absl::Seconds(4), "longer");
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GT(outcome.elapsed, absl::Milliseconds(800));
  EXPECT_LT(outcome.elapsed, absl::Milliseconds(2300));
  const HopTrace hop = BackendHop(backend, "longer");
  ASSERT_TRUE(hop.has_budget_at_arrival());
  EXPECT_GT(ToDuration(hop.budget_at_arrival()), absl::Milliseconds(3500));
  EXPECT_EQ(hop.code(), "CANCELLED");
}

}  // namespace
}  // namespace deadline::testing
