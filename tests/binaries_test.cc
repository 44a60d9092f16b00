// Drives the real binaries (backend, frontend, client) as separate processes
// on ports chosen at run time, as a user would.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "server/deadline/budget.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kRunTimeout = absl::Seconds(20);

std::unique_ptr<Subprocess> StartServer(const std::string& binary,
                                        std::vector<std::string> flags,
                                        std::string* address) {
  flags.insert(flags.begin(), RunfilePath(binary));
  return StartServerProcess(std::move(flags), address);
}

class BinariesTest : public ::testing::Test {
 protected:
  void StartChain(std::vector<std::string> frontend_flags = {}) {
    // Roomier margins than the defaults (2 ms and 10 ms): each hop's
    // explanation must beat its caller's own timer even on a busy machine.
    backend_ = StartServer("server/backend/backend",
                           {"--log=all", "--reserve=20ms"}, &backend_address_);
    ASSERT_NE(backend_, nullptr) << "backend did not start";
    frontend_flags.push_back(absl::StrCat("--backend=", backend_address_));
    frontend_flags.push_back("--reserve=50ms");
    frontend_flags.push_back("--log=all");
    frontend_ = StartServer("server/frontend/frontend", frontend_flags,
                            &frontend_address_);
    ASSERT_NE(frontend_, nullptr) << "frontend did not start";
  }

  std::unique_ptr<Subprocess> StartClient(std::vector<std::string> flags) {
    flags.insert(flags.begin(), {RunfilePath("client/client"),
                                 absl::StrCat("--target=", frontend_address_)});
    return Subprocess::Start(flags);
  }

  // Runs the client to completion; returns its exit status (-1: hung).
  int RunClient(std::vector<std::string> flags, std::string* output) {
    auto client = StartClient(std::move(flags));
    if (client == nullptr) return -1;
    const absl::optional<int> status = client->Wait(kRunTimeout);
    *output = client->output();
    return status.value_or(-1);
  }

  deadline::v1::StatsReply BackendStats() {
    auto stub = deadline::v1::Stats::NewStub(grpc::CreateChannel(
        backend_address_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    deadline::v1::StatsReply reply;
    EXPECT_TRUE(stub->GetStats(&context, {}, &reply).ok());
    return reply;
  }

  std::unique_ptr<Subprocess> backend_;
  std::unique_ptr<Subprocess> frontend_;
  std::string backend_address_;
  std::string frontend_address_;
};

TEST_F(BinariesTest, GenerousDeadlineExitsZeroAndShowsEachHopsBudget) {
  StartChain();
  std::string output;
  EXPECT_EQ(RunClient({"--deadline=2s", "--steps=3", "--step=1ms"}, &output), 0)
      << output;
  EXPECT_THAT(output, HasSubstr("status:  OK"));
  EXPECT_THAT(output, HasSubstr("-> frontend "));
  EXPECT_THAT(output, HasSubstr("-> backend "));
  EXPECT_THAT(output, HasSubstr("3 steps done"));
}

// Both servers on Unix-domain sockets (a proxy beside the frontend on one
// host, as a sidecar is): each says its socket as given, with no plaintext
// warning, and the budget crosses the chain as over TCP.
TEST_F(BinariesTest, ServersListenOnUnixSockets) {
  char dir_template[] = "/tmp/binaries_test.XXXXXX";  // A short path: 108 max.
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string backend_socket = absl::StrCat("unix:", dir, "/backend");
  const std::string frontend_socket = absl::StrCat("unix:", dir, "/frontend");
  backend_ = StartServerProcess({RunfilePath("server/backend/backend")},
                                &backend_address_, backend_socket);
  ASSERT_NE(backend_, nullptr) << "backend did not start";
  frontend_ = StartServerProcess({RunfilePath("server/frontend/frontend"),
                                  absl::StrCat("--backend=", backend_socket)},
                                 &frontend_address_, frontend_socket);
  ASSERT_NE(frontend_, nullptr) << "frontend did not start";
  EXPECT_EQ(backend_address_, backend_socket);
  EXPECT_EQ(frontend_address_, frontend_socket);
  EXPECT_THAT(backend_->output() + frontend_->output(),
              Not(HasSubstr("warning")));

  std::string output;
  EXPECT_EQ(RunClient({"--deadline=2s", "--steps=3", "--step=1ms"}, &output), 0)
      << output;
  EXPECT_THAT(output, HasSubstr("-> backend "));
  EXPECT_THAT(output, HasSubstr("3 steps done"));
  frontend_.reset();
  backend_.reset();
  std::remove((dir + "/backend").c_str());
  std::remove((dir + "/frontend").c_str());
  rmdir(dir.c_str());
}

TEST_F(BinariesTest, TightDeadlineExitsWithDeadlineExceeded) {
  StartChain();
  std::string output;
  EXPECT_EQ(
      RunClient({"--deadline=150ms", "--steps=100", "--step=10ms"}, &output),
      14)
      << output;
  EXPECT_THAT(output, HasSubstr("DEADLINE_EXCEEDED"));
  EXPECT_THAT(output, HasSubstr("frontend: "));
}

TEST_F(BinariesTest, AbsoluteDeadlineWorksLikeARelativeOne) {
  StartChain();
  const std::string at = absl::FormatTime(absl::RFC3339_full,
                                          absl::Now() + absl::Milliseconds(300),
                                          absl::UTCTimeZone());
  std::string output;
  EXPECT_EQ(RunClient({absl::StrCat("--deadline_at=", at), "--steps=100",
                       "--step=10ms"},
                      &output),
            14)
      << output;
}

// The budgets the client prints after an OK Fetch: its own, the
// frontend's at arrival and forwarded, and the backend's at arrival.
struct Budgets {
  absl::Duration client, frontend, forwarded, backend;
};

absl::optional<Budgets> BudgetsIn(const std::string& output) {
  // "budgets: client 3s -> frontend 2.99s at arrival, forwarded 2.9s ->
  // backend 2.89s at arrival, 3 steps done"
  const size_t begin = output.find("budgets: client ");
  if (begin == std::string::npos) return absl::nullopt;
  const std::vector<std::string> words = absl::StrSplit(
      output.substr(begin, output.find('\n', begin) - begin), ' ');
  if (words.size() < 13 || words[4] != "frontend" || words[8] != "forwarded" ||
      words[11] != "backend") {
    return absl::nullopt;
  }
  Budgets budgets;
  if (!absl::ParseDuration(words[2], &budgets.client) ||
      !absl::ParseDuration(words[5], &budgets.frontend) ||
      !absl::ParseDuration(words[9], &budgets.forwarded) ||
      !absl::ParseDuration(words[12], &budgets.backend)) {
    return absl::nullopt;
  }
  return budgets;
}

// --deadline_at is turned into a timeout when the call starts; each hop
// then sees what is left of that one instant, less its caller's reserve.
TEST_F(BinariesTest, AnAbsoluteDeadlineReachesEachHopAsWhatIsLeftOfIt) {
  StartChain();
  const absl::Time at = absl::Now() + absl::Seconds(3);
  std::string output;
  ASSERT_EQ(RunClient({absl::StrCat("--deadline_at=",
                                    absl::FormatTime(absl::RFC3339_full, at,
                                                     absl::UTCTimeZone())),
                       "--steps=3", "--step=1ms"},
                      &output),
            0)
      << output;
  const absl::optional<Budgets> budgets = BudgetsIn(output);
  ASSERT_TRUE(budgets.has_value()) << output;
  SCOPED_TRACE(output);
  // The client's budget is `at` less the time it took to start.
  EXPECT_LE(budgets->client, absl::Seconds(3));
  EXPECT_GT(budgets->client, absl::Seconds(2));
  // A hop may be told more than its caller has by what the wire may add
  // (ArrivalSlack: the 10 ms units of timeouts from 1 to 10 s, rounded up,
  // and an earlier timeout reused from the HPACK table), never more.
  EXPECT_LE(budgets->frontend, budgets->client + ArrivalSlack(budgets->client));
  EXPECT_GT(budgets->frontend, budgets->client - absl::Milliseconds(500));
  // The frontend keeps back its reserve (50 ms here) and the arrival slack.
  EXPECT_LE(budgets->forwarded, budgets->frontend - absl::Milliseconds(50));
  EXPECT_LE(budgets->backend,
            budgets->forwarded + ArrivalSlack(budgets->forwarded));
  EXPECT_GT(budgets->backend, budgets->forwarded - absl::Milliseconds(500));
}

TEST_F(BinariesTest, CancelAfterExitsWithCancelledAndStopsTheBackend) {
  StartChain();
  std::string output;
  EXPECT_EQ(RunClient({"--cancel_after=100ms", "--steps=100", "--step=20ms"},
                      &output),
            11)
      << output;
  EXPECT_THAT(output, HasSubstr("CANCELLED"));
  EXPECT_TRUE(WaitUntil([&] { return BackendStats().calls_cancelled() == 1; }));
}

TEST_F(BinariesTest, CtrlCCancelsTheCallInsteadOfKillingTheClient) {
  StartChain();
  auto client = StartClient({"--steps=100", "--step=20ms"});
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return BackendStats().calls_in_flight() == 1; }));
  client->Signal(SIGINT);
  EXPECT_EQ(client->Wait(kRunTimeout), 11) << client->output();
  EXPECT_THAT(client->output(), HasSubstr("interrupted"));
  EXPECT_THAT(client->output(), HasSubstr("CANCELLED"));
  EXPECT_TRUE(WaitUntil([&] { return BackendStats().calls_cancelled() == 1; }));
  EXPECT_LT(BackendStats().steps_done(), 100);
}

TEST_F(BinariesTest, PropagationOffLetsTheBackendWorkOn) {
  StartChain({"--propagation=off"});
  std::string output;
  // 10 x 100 ms of work; the client gives up after 300 ms.
  EXPECT_EQ(
      RunClient({"--deadline=300ms", "--steps=10", "--step=100ms"}, &output),
      14)
      << output;
  EXPECT_EQ(BackendStats().calls_in_flight(), 1);
  EXPECT_TRUE(WaitUntil([&] { return BackendStats().calls_ok() == 1; }));
  EXPECT_EQ(BackendStats().steps_done(), 10);
}

TEST_F(BinariesTest, TheRequestIdIsInEveryHopsLogLineAndTheTimeline) {
  StartChain();
  std::string output;
  EXPECT_EQ(RunClient({"--deadline=300ms", "--steps=100", "--step=10ms",
                       "--request_id=req-from-test-7"},
                      &output),
            14)
      << output;
  EXPECT_THAT(output, HasSubstr("timeline of request req-from-test-7"));
  EXPECT_THAT(output, HasSubstr("at its deadline"));
  const auto frontend_line =
      frontend_->WaitForLine("request_id=req-from-test-7", kRunTimeout);
  ASSERT_TRUE(frontend_line.has_value()) << frontend_->output();
  EXPECT_THAT(*frontend_line, HasSubstr("hop=frontend method=Fetch"));
  EXPECT_THAT(*frontend_line, HasSubstr("code=DEADLINE_EXCEEDED"));
  const auto backend_line =
      backend_->WaitForLine("request_id=req-from-test-7", kRunTimeout);
  ASSERT_TRUE(backend_line.has_value()) << backend_->output();
  EXPECT_THAT(*backend_line, HasSubstr("hop=backend method=Work"));
  EXPECT_THAT(*backend_line, HasSubstr("steps="));
}

TEST_F(BinariesTest, BothStreamModesSendTheRequestIdAndStopTheBackend) {
  StartChain();
  std::string output;
  // Through the frontend: 3 messages read, then the stream is cancelled.
  EXPECT_EQ(RunClient({"--mode=fetch_stream", "--steps=100", "--step=10ms",
                       "--max_messages=3", "--request_id=fetch-stream-7"},
                      &output),
            0)
      << output;
  EXPECT_THAT(output, HasSubstr("step 3: "));
  EXPECT_THAT(output, HasSubstr("stopped reading after 3 messages"));
  const auto frontend_line =
      frontend_->WaitForLine("request_id=fetch-stream-7", kRunTimeout);
  ASSERT_TRUE(frontend_line.has_value()) << frontend_->output();
  EXPECT_THAT(*frontend_line, HasSubstr("method=FetchStream"));
  EXPECT_THAT(*frontend_line, HasSubstr("code=CANCELLED"));
  auto backend_line =
      backend_->WaitForLine("request_id=fetch-stream-7", kRunTimeout);
  ASSERT_TRUE(backend_line.has_value()) << backend_->output();
  EXPECT_THAT(*backend_line, HasSubstr("method=WorkStream"));
  EXPECT_THAT(*backend_line, HasSubstr("code=CANCELLED"));

  // Straight to the backend, read to the end.
  frontend_address_ = backend_address_;
  EXPECT_EQ(RunClient({"--mode=stream", "--steps=2", "--step=1ms",
                       "--deadline=5s", "--request_id=work-stream-7"},
                      &output),
            0)
      << output;
  EXPECT_THAT(output, HasSubstr("status:  OK"));
  backend_line = backend_->WaitForLine("request_id=work-stream-7", kRunTimeout);
  ASSERT_TRUE(backend_line.has_value()) << backend_->output();
  EXPECT_THAT(*backend_line, HasSubstr("code=OK"));
}

TEST_F(BinariesTest, ACancelledCallIsLoggedAsSuchAtEveryHop) {
  StartChain();
  std::string output;
  EXPECT_EQ(RunClient({"--cancel_after=100ms", "--steps=100", "--step=10ms",
                       "--request_id=cancel-me"},
                      &output),
            11)
      << output;
  EXPECT_THAT(output, HasSubstr("the client cancelled"));
  const auto frontend_line =
      frontend_->WaitForLine("request_id=cancel-me", kRunTimeout);
  ASSERT_TRUE(frontend_line.has_value()) << frontend_->output();
  EXPECT_THAT(*frontend_line, HasSubstr("code=CANCELLED"));
  const auto backend_line =
      backend_->WaitForLine("request_id=cancel-me", kRunTimeout);
  ASSERT_TRUE(backend_line.has_value()) << backend_->output();
  EXPECT_THAT(*backend_line, HasSubstr("code=CANCELLED"));
  EXPECT_THAT(*backend_line, HasSubstr("stop=\"the caller cancelled\""));
}

TEST_F(BinariesTest, TimelineSvgIsWritten) {
  StartChain();
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string svg = absl::StrCat(tmp ? tmp : "/tmp", "/call.svg");
  std::string output;
  EXPECT_EQ(RunClient({"--deadline=1s", "--steps=2", "--step=1ms",
                       absl::StrCat("--timeline_svg=", svg)},
                      &output),
            0)
      << output;
  std::ifstream file(svg);
  const std::string text((std::istreambuf_iterator<char>(file)),
                         std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("<svg"));
  EXPECT_THAT(text, HasSubstr("data-hop=\"frontend\""));
  EXPECT_THAT(text, HasSubstr("client-deadline"));
}

TEST_F(BinariesTest, UnreachableFrontendExitsWithUnavailable) {
  frontend_address_ = "127.0.0.1:1";
  std::string output;
  EXPECT_EQ(RunClient({"--deadline=5s"}, &output), 24) << output;
}

// Go's DialContext(ctx, ..., WithBlock()): the call's deadline also bounds
// the wait for a connection, but in C++ only for a call marked
// wait-for-ready.
TEST_F(BinariesTest, WaitForReadyWaitsUpToTheDeadlineInsteadOfFailingFast) {
  frontend_address_ = "127.0.0.1:1";
  std::string output;
  const absl::Time start = absl::Now();
  EXPECT_EQ(RunClient({"--deadline=500ms", "--wait_for_ready"}, &output), 14)
      << output;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(500));
  EXPECT_THAT(output, HasSubstr("DEADLINE_EXCEEDED"));
}

TEST_F(BinariesTest, WaitForReadyRidesOutAFrontendThatStartsLate) {
  backend_ = StartServer("server/backend/backend", {}, &backend_address_);
  ASSERT_NE(backend_, nullptr) << "backend did not start";
  const int port = FreePort();
  ASSERT_NE(port, 0);
  frontend_address_ = absl::StrCat("127.0.0.1:", port);
  auto client = StartClient(
      {"--deadline=20s", "--wait_for_ready", "--steps=1", "--step=1ms"});
  ASSERT_NE(client, nullptr);
  // Without --wait_for_ready the client would have failed by now.
  EXPECT_FALSE(client->Wait(absl::Milliseconds(500)).has_value())
      << client->output();
  std::string listening;
  frontend_ = StartServerProcess({RunfilePath("server/frontend/frontend"),
                                  absl::StrCat("--backend=", backend_address_)},
                                 &listening, frontend_address_);
  ASSERT_NE(frontend_, nullptr) << "frontend did not start on " << port;
  EXPECT_EQ(client->Wait(kRunTimeout).value_or(-1), 0) << client->output();
  EXPECT_THAT(client->output(), HasSubstr("status:  OK"));
}

TEST_F(BinariesTest, BadFlagsPrintUsageAndExitTwo) {
  const std::vector<std::vector<std::string>> bad = {
      {"server/backend/backend", "--no_such_flag"},
      {"server/backend/backend", "--check_interval=0s"},
      {"server/frontend/frontend", "--reserve=-1ms"},
      {"server/frontend/frontend", "--propagation=maybe"},
      {"server/frontend/frontend", "--audit=sometimes"},
      {"server/frontend/frontend", "--audit_deadline=0s"},
      {"server/backend/backend", "--ignore_cancel=maybe"},
      {"server/frontend/frontend", "--min_budget=soon"},
      {"server/frontend/frontend", "--max_stream_duration=10ms"},
      {"server/frontend/frontend", "--max_stream_duration=-1s"},
      {"server/frontend/frontend", "--backend_stream_window=100"},
      {"client/client", "--deadline=abc"},
      {"client/client", "--kind=nap"},
      {"client/client", "--wait_for_ready=sometimes"},
      {"client/client", "--mode=fetch_stream", "--max_messages=-1"},
      {"client/client", "--deadline=1s", "--deadline_at=2030-01-01T00:00:00Z"},
      {"client/client", "positional"},
  };
  for (std::vector<std::string> argv : bad) {
    argv[0] = RunfilePath(argv[0]);
    auto process = Subprocess::Start(argv);
    ASSERT_NE(process, nullptr);
    EXPECT_EQ(process->Wait(kRunTimeout), 2) << argv[1];
    EXPECT_THAT(process->output(), HasSubstr("error: ")) << argv[1];
    EXPECT_THAT(process->output(), HasSubstr("Usage: ")) << argv[1];
  }
}

TEST_F(BinariesTest, SigtermStopsBothServersPromptlyWithCallsInFlight) {
  StartChain({"--shutdown_grace=100ms"});
  auto client = StartClient({"--steps=100", "--step=100ms"});  // 10 s
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return BackendStats().calls_in_flight() == 1; }));

  frontend_->Signal(SIGTERM);
  backend_->Signal(SIGTERM);
  EXPECT_EQ(frontend_->Wait(absl::Seconds(5)), 0) << frontend_->output();
  EXPECT_EQ(backend_->Wait(absl::Seconds(5)), 0) << backend_->output();
  const absl::optional<int> client_status = client->Wait(kRunTimeout);
  ASSERT_TRUE(client_status.has_value());
  EXPECT_NE(*client_status, 0) << client->output();
}

}  // namespace
}  // namespace deadline::testing
