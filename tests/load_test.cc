// A bounded load test: a few hundred concurrent fan-out calls with mixed
// deadlines and modes against real backend and frontend processes. Checks
// that every call ends as it may, nothing is left in flight anywhere, and
// the callback frontend's thread count stays bounded.
#include <algorithm>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "client/calls.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

constexpr int kCalls = 300;

// The "Threads:" line of /proc/PID/status, or -1.
int ThreadCount(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    int threads = 0;
    if (absl::ConsumePrefix(&rest, "Threads:") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &threads)) {
      return threads;
    }
  }
  return -1;
}

deadline::v1::StatsReply Stats(const std::string& address) {
  auto stub = deadline::v1::Stats::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  deadline::v1::StatsReply reply;
  EXPECT_TRUE(stub->GetStats(&context, {}, &reply).ok());
  return reply;
}

TEST(LoadTest, HundredsOfConcurrentFanOutsEndCleanly) {
  std::vector<std::unique_ptr<Subprocess>> backends;
  std::vector<std::string> addresses;
  for (int i = 0; i < 3; ++i) {
    std::string address;
    backends.push_back(
        StartServerProcess({RunfilePath("server/backend/backend")}, &address));
    ASSERT_NE(backends.back(), nullptr);
    addresses.push_back(address);
  }
  std::string frontend_address;
  auto frontend = StartServerProcess(
      {RunfilePath("server/frontend/frontend"),
       absl::StrCat("--backend=", absl::StrJoin(addresses, ","))},
      &frontend_address);
  ASSERT_NE(frontend, nullptr);
  const int idle_threads = ThreadCount(frontend->pid());

  auto stub = deadline::v1::Frontend::NewStub(grpc::CreateChannel(
      frontend_address, grpc::InsecureChannelCredentials()));
  std::vector<std::unique_ptr<FetchAllCall>> calls;
  std::vector<deadline::v1::FanOutMode> modes;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kCalls; ++i) {
    deadline::v1::FetchAllRequest request;
    request.set_mode(i % 2 ? deadline::v1::FAN_OUT_MODE_PARTIAL
                           : deadline::v1::FAN_OUT_MODE_ALL_OR_NOTHING);
    *request.add_panels() = Work(5, absl::Milliseconds(10));
    *request.add_panels() = Work(20, absl::Milliseconds(10));
    *request.add_panels() = Work(60, absl::Milliseconds(10));
    // Deadlines from 30 ms (mostly too short) to 1 s (enough for all).
    const absl::Duration timeout = absl::Milliseconds(30 + (i * 37) % 970);
    modes.push_back(request.mode());
    calls.push_back(
        std::make_unique<FetchAllCall>(*stub, request, absl::Now() + timeout));
  }

  int max_threads = idle_threads;
  for (auto& call : calls) {
    while (!call->WaitFor(absl::Milliseconds(5))) {
      max_threads = std::max(max_threads, ThreadCount(frontend->pid()));
    }
  }
  const absl::Duration took = absl::Now() - start;

  int ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    const grpc::StatusCode code = calls[i]->Wait().status.error_code();
    ok += code == grpc::StatusCode::OK;
    // All-or-nothing fails with its first failure: a panel's deadline, or
    // too little budget to start. Partial answers OK, unless the frontend
    // cannot answer within its reserve: on two cores, 900 backend calls
    // starting at once can delay it past the caller's own deadline.
    EXPECT_TRUE(code == grpc::StatusCode::OK ||
                code == grpc::StatusCode::DEADLINE_EXCEEDED)
        << "call " << i << ": " << calls[i]->Wait().status.error_message();
  }
  EXPECT_GT(ok, 0);
  EXPECT_LT(took, absl::Seconds(20));

  // Every server ends with nothing in flight and every call it started
  // counted once. (A call whose deadline passed before it reached the
  // frontend was never started there.)
  std::vector<std::string> servers = addresses;
  servers.push_back(frontend_address);
  for (const std::string& address : servers) {
    EXPECT_TRUE(WaitUntil([&] { return Stats(address).calls_in_flight() == 0; },
                          absl::Seconds(5)))
        << address;
    const auto stats = Stats(address);
    EXPECT_GT(stats.calls_started(), 0) << address;
    EXPECT_EQ(stats.calls_started(),
              stats.calls_ok() + stats.calls_deadline_exceeded() +
                  stats.calls_cancelled() + stats.calls_rejected() +
                  stats.calls_invalid() + stats.calls_failed())
        << address;
    EXPECT_EQ(stats.calls_failed(), 0) << address;
    EXPECT_EQ(stats.calls_invalid(), 0) << address;
  }
  EXPECT_LE(Stats(frontend_address).calls_started(), kCalls);
  // And every server is still up.
  EXPECT_FALSE(frontend->Wait(absl::ZeroDuration()).has_value())
      << frontend->output();
  for (auto& backend : backends) {
    EXPECT_FALSE(backend->Wait(absl::ZeroDuration()).has_value())
        << backend->output();
  }
  // The callback API holds no thread per call or panel: 300 calls and 900
  // panels in flight must not show up as hundreds of threads.
  EXPECT_LT(max_threads, 64) << "idle: " << idle_threads;
  RecordProperty("frontend_threads_idle", idle_threads);
  RecordProperty("frontend_threads_max", max_threads);
  std::printf("frontend threads: %d idle, %d max under load; %d/%d OK in %s\n",
              idle_threads, max_threads, ok, kCalls,
              absl::FormatDuration(took).c_str());
}

}  // namespace
}  // namespace deadline::testing
