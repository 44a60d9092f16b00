// Calls longer than nginx's default timers (60 s) through the edge proxy of
// deploy/edge/: with the timers render.sh derives from the frontend's
// --max_deadline, a 90 s stream and a 90 s unary call with 120 s deadlines
// complete; with nginx's defaults left in place, the same unary call is cut
// at 60 s and the client sees UNAVAILABLE. The three run at once, against
// one frontend and backend, so the test takes about 90 s. The short cases
// are in edge_proxy_test.cc.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/calls.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/edge_proxy.h"
#include "tests/support/process_chain.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::testing::HasSubstr;

// Both servers accept deadlines up to 2 minutes (a connection's calls get
// as long to finish when it closes).
const std::vector<std::string>& LongDeadlineFlags() {
  static const auto* const flags = new std::vector<std::string>{
      "--max_deadline=2m", "--max_connection_age_grace=2m", "--log=errors"};
  return *flags;
}

std::unique_ptr<deadline::v1::Frontend::Stub> StubTo(
    const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return deadline::v1::Frontend::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
}

TEST(EdgeLongCallTest,
     CallsLongerThanNginxsDefaultsCompleteWithinTheirDeadline) {
  const absl::Status available = EdgeProxy::Available();
  if (!available.ok()) GTEST_SKIP() << available.message();
  ProcessChain chain;
  const absl::Status started = chain.Start(
      {RunfilePath("server/backend/backend"), LongDeadlineFlags()},
      {RunfilePath("server/frontend/frontend"), LongDeadlineFlags()});
  ASSERT_TRUE(started.ok()) << started;

  const auto proxy = [&](std::vector<std::string> render_flags) {
    EdgeProxy::Options options;
    options.render_script = RunfilePath("deploy/edge/render.sh");
    options.frontend = chain.frontend_address;
    options.render_flags = std::move(render_flags);
    absl::StatusOr<std::unique_ptr<EdgeProxy>> edge = EdgeProxy::Start(options);
    EXPECT_TRUE(edge.ok()) << edge.status();
    return edge.ok() ? *std::move(edge) : nullptr;
  };
  // As deployed: derived from the frontend's --max_deadline (2m + 5 s).
  const std::unique_ptr<EdgeProxy> derived = proxy({"--max_deadline=2m"});
  // THE PITFALL: nginx's own defaults (60 s) left in place.
  const std::unique_ptr<EdgeProxy> defaults = proxy({"--call_timeout=60s"});
  ASSERT_NE(derived, nullptr);
  ASSERT_NE(defaults, nullptr);
  EXPECT_THAT(derived->config(), HasSubstr("grpc_read_timeout 125s;"));
  EXPECT_THAT(defaults->config(), HasSubstr("grpc_read_timeout 60s;"));

  const absl::Duration deadline = absl::Seconds(120);
  // 90 steps of 1 s: a message a second, for 90 s.
  ProgressStream::Outcome streamed;
  std::thread stream_thread([&] {
    auto stub = StubTo(derived->address());
    deadline::v1::FetchRequest request;
    *request.mutable_work() = Work(90, absl::Seconds(1));
    FetchStreamCall stream(*stub, request, absl::Now() + deadline,
                           "edge-long-stream");
    streamed = stream.Read(0, [](const deadline::v1::WorkProgress&) {});
  });
  // 9 steps of 10 s: nothing on the wire for 90 s but PINGs.
  const auto unary = [&](const std::string& address,
                         const std::string& request_id) {
    auto stub = StubTo(address);
    deadline::v1::FetchRequest request;
    *request.mutable_work() = Work(9, absl::Seconds(10));
    FetchCall call(*stub, request, absl::Now() + deadline, request_id);
    return call.Wait();
  };
  FetchOutcome cut;
  std::thread cut_thread(
      [&] { cut = unary(defaults->address(), "edge-long-cut"); });
  const FetchOutcome completed = unary(derived->address(), "edge-long-unary");
  stream_thread.join();
  cut_thread.join();

  EXPECT_TRUE(streamed.status.ok()) << streamed.status.error_message();
  EXPECT_EQ(streamed.messages, 90);
  EXPECT_GE(streamed.elapsed, absl::Seconds(90));
  EXPECT_TRUE(completed.status.ok()) << completed.status.error_message();
  EXPECT_EQ(completed.reply.backend().steps_done(), 9);
  EXPECT_GE(completed.elapsed, absl::Seconds(90));

  // nginx's 60 s fired first: 504, UNAVAILABLE, no story; the backend's
  // work was cancelled (nginx closed the frontend's connection).
  EXPECT_EQ(cut.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(cut.status.error_message(),
            "Received http2 header with status: 504");
  EXPECT_GE(cut.elapsed, absl::Seconds(59));
  EXPECT_LT(cut.elapsed, absl::Seconds(65));
  EXPECT_FALSE(cut.trace.has_value());
  const absl::optional<std::string> line =
      chain.backend->WaitForLine("request_id=edge-long-cut", absl::Seconds(5));
  ASSERT_TRUE(line.has_value()) << chain.backend->output();
  EXPECT_THAT(*line, HasSubstr("code=CANCELLED"));
  RecordProperty("stream_s",
                 static_cast<int>(absl::ToInt64Seconds(streamed.elapsed)));
  RecordProperty("unary_s",
                 static_cast<int>(absl::ToInt64Seconds(completed.elapsed)));
  RecordProperty("cut_at_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(cut.elapsed)));
}

}  // namespace
}  // namespace deadline::testing
