// A hostile HTTP/2 peer (bench/h2flood.py) against the real server
// binaries: half-open streams do not stop the frontend from answering other
// clients nor grow its memory without bound, and the serving limits end
// them: the stream limit, keepalive, and the maximum connection age.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/harness.h"
#include "bench/hostile_peer.h"
#include "gtest/gtest.h"
#include "tests/support/process_chain.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::bench::CallOnNewConnection;
using ::deadline::bench::HostilePeer;
using ::deadline::bench::HostilePeerCommand;
using ::deadline::bench::ReportNumber;
using ::deadline::bench::ServerKind;

constexpr char kFetchPath[] = "--path=/deadline.v1.Frontend/Fetch";

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer's redzones and quarantine multiply what memory costs.
constexpr double kMemoryFactor = 8;
#else
constexpr double kMemoryFactor = 1;
#endif

class FloodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    command_ = {"/usr/bin/python3", RunfilePath("bench/h2flood.py")};
    if (!bench::CanRunHostilePeer(command_)) {
      GTEST_SKIP() << "cannot run " << command_.script << " with "
                   << command_.python << " (python3-h2 missing?)";
    }
  }

  // A backend and a frontend over it, both with `flags`, in chain_.
  void StartChain(const std::vector<std::string>& flags) {
    std::vector<std::string> with_flags = {"--log=none"};
    with_flags.insert(with_flags.end(), flags.begin(), flags.end());
    const absl::Status started =
        chain_.Start({RunfilePath("server/backend/backend"), with_flags},
                     {RunfilePath("server/frontend/frontend"), with_flags});
    ASSERT_TRUE(started.ok()) << started;
  }

  // An ordinary client's call to the frontend, on a connection of its own.
  void ExpectFrontendAnswers(absl::Duration within) {
    absl::Duration elapsed;
    const grpc::Status status = CallOnNewConnection(
        chain_.frontend_address, ServerKind::kFrontend, within, &elapsed);
    EXPECT_TRUE(status.ok())
        << status.error_code() << ": " << status.error_message();
    EXPECT_LT(elapsed, within);
  }

  // Runs the peer against the frontend to its end (it ends early when the
  // server closes its connection) and returns its report.
  google::protobuf::Struct FloodUntilClosed(std::vector<std::string> args,
                                            absl::Duration timeout) {
    args.push_back(kFetchPath);
    auto peer = HostilePeer::Start(command_, chain_.frontend_address, args);
    EXPECT_NE(peer, nullptr);
    if (peer == nullptr) return {};
    EXPECT_TRUE(peer->WaitFor(timeout)) << "the server never closed it";
    absl::StatusOr<google::protobuf::Struct> report = peer->Report();
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : google::protobuf::Struct();
  }

  HostilePeerCommand command_;
  ProcessChain chain_;
};

TEST_F(FloodTest, HalfOpenFloodNeitherStopsTheFrontendNorGrowsItUnbounded) {
  constexpr int kStreams = 2000;
  ASSERT_NO_FATAL_FAILURE(StartChain({}));
  for (int i = 0; i < 5; ++i) ExpectFrontendAnswers(absl::Seconds(5));
  const double at_rest = RssMegabytesOf(chain_.frontend->pid());

  auto peer = HostilePeer::Start(
      command_, chain_.frontend_address,
      {"--mode=halfopen", absl::StrCat("--streams=", kStreams), "--hold=60",
       "--respect_limit", kFetchPath});
  ASSERT_NE(peer, nullptr);
  // The frontend has read every stream and holds them all.
  ASSERT_TRUE(peer->WaitUntilHolding(absl::Seconds(30)));

  // Other clients are still answered, promptly (a bare call takes a few ms).
  for (int i = 0; i < 5; ++i) ExpectFrontendAnswers(absl::Seconds(2));
  // About 12 KB a held stream on this build; allow four times that.
  const double grown = RssMegabytesOf(chain_.frontend->pid()) - at_rest;
  EXPECT_LT(grown, kStreams * 0.05 * kMemoryFactor)
      << "MB for " << kStreams << " half-open streams";

  // The peer still holds them: nothing but the limits the tests below
  // exercise ends a half-open stream.
  EXPECT_FALSE(peer->WaitFor(absl::ZeroDuration()));
  peer.reset();  // Closes the connection.
  ExpectFrontendAnswers(absl::Seconds(2));
}

TEST_F(FloodTest, HalfOpenStreamsEndAtTheMaxConnectionAgePlusGrace) {
  ASSERT_NO_FATAL_FAILURE(
      StartChain({"--max_connection_age=1s", "--max_connection_age_grace=1s",
                  "--max_deadline=1s", "--default_deadline=1s"}));
  const google::protobuf::Struct report = FloodUntilClosed(
      {"--mode=halfopen", "--streams=10", "--hold=60"}, absl::Seconds(30));

  // GOAWAY once the connection is 1 s old (gRPC adds up to 10% jitter),
  // then the streams get their 1 s of grace and are cancelled.
  EXPECT_GE(ReportNumber(report, "goaway.at_s"), 0.85);
  EXPECT_EQ(report.fields()
                .at("goaway")
                .struct_value()
                .fields()
                .at("error")
                .string_value(),
            "NO_ERROR");
  const double closed = ReportNumber(report, "connection_closed_at_s");
  EXPECT_GE(closed, 1.85);  // Age and grace, at least.
  EXPECT_LT(closed, 10.0);  // Generous: a loaded machine.
  EXPECT_EQ(ReportNumber(report, "streams_ended_by_server"), 10);
  EXPECT_EQ(ReportNumber(report, "answers_by_grpc_status.14"), 10)
      << "each half-open stream is answered UNAVAILABLE";
  ExpectFrontendAnswers(absl::Seconds(2));
}

TEST_F(FloodTest, PeerThatStopsAnsweringPingsIsDroppedByKeepalive) {
  ASSERT_NO_FATAL_FAILURE(
      StartChain({"--keepalive_time=1s", "--keepalive_timeout=1s"}));
  const google::protobuf::Struct report = FloodUntilClosed(
      {"--mode=halfopen", "--streams=10", "--hold=60", "--no_ping_ack"},
      absl::Seconds(30));

  EXPECT_GE(ReportNumber(report, "pings_ignored"), 1);
  const double closed = ReportNumber(report, "connection_closed_at_s");
  EXPECT_GE(closed, 1.5);  // A ping after 1 s silent, 1 s for its answer.
  EXPECT_LT(closed, 10.0);
  EXPECT_EQ(ReportNumber(report, "answers_by_grpc_status.14"), 10);
}

TEST_F(FloodTest, PeerExceedingTheStreamLimitLosesItsConnection) {
  ASSERT_NO_FATAL_FAILURE(StartChain({"--max_streams=100"}));
  const google::protobuf::Struct report = FloodUntilClosed(
      {"--mode=halfopen", "--streams=300", "--hold=60"}, absl::Seconds(30));

  EXPECT_EQ(ReportNumber(report, "server_max_concurrent_streams"), 100);
  EXPECT_FALSE(std::isnan(ReportNumber(report, "connection_closed_at_s")));
  // The streams it had accepted end with the connection; the rest were
  // never accepted.
  EXPECT_EQ(ReportNumber(report, "streams_ended_by_server"), 100);
  EXPECT_EQ(ReportNumber(report, "answers_by_grpc_status.14"), 100);
  ExpectFrontendAnswers(absl::Seconds(2));
}

}  // namespace
}  // namespace deadline::testing
