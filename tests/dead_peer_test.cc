// Dead peers: a client whose host vanishes mid-call, a backend whose host
// vanishes or that stops answering, a backend killed with SIGKILL. Each
// test runs the real binaries and times how soon the living side notices.
//
// The network tests put each binary in a host of its own (tests/netns.h):
// a vanished host is a cut link, so no FIN or RST ever arrives and only
// keepalive can tell. They skip where network namespaces cannot be made.
// The others run on the test's loopback.
#include <signal.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/netns.h"
#include "tests/support/network_fixture.h"
#include "tests/support/process_chain.h"
#include "tests/support/subprocess.h"

namespace deadline::testing {
namespace {

using ::testing::HasSubstr;
using Host = TestNetwork::Host;

constexpr absl::Duration kStartTimeout = absl::Seconds(20);
constexpr absl::Duration kRunTimeout = absl::Seconds(30);

// The keepalive the tests give their servers: small, so that a dead peer
// is found in seconds. Production keeps the defaults (20 s and 10 s).
constexpr absl::Duration kKeepaliveTime = absl::Seconds(1);
constexpr absl::Duration kKeepaliveTimeout = absl::Seconds(1);
const std::vector<std::string>& KeepaliveFlags() {
  static const auto* const flags = new std::vector<std::string>{
      absl::StrCat("--keepalive_time=", absl::FormatDuration(kKeepaliveTime)),
      absl::StrCat("--keepalive_timeout=",
                   absl::FormatDuration(kKeepaliveTimeout))};
  return *flags;
}
// A server pinged every kKeepaliveTime by its callers must allow it: its
// default (5 s) answers such pings with GOAWAY too_many_pings.
const char kAllowFrequentPings[] = "--min_ping_interval=500ms";

// Keepalive finds a dead peer within about time + timeout; the slack is for
// a 2-core machine that is busy with other work.
const absl::Duration kNoticeBound =
    kKeepaliveTime + kKeepaliveTimeout + absl::Seconds(3);
// A call that fails fast: well below any deadline used here, well above
// the few milliseconds it takes on a quiet machine.
constexpr absl::Duration kFailFast = absl::Milliseconds(250);
// The frontend's --backend_connect_timeout (default 1 s): how long one
// connection attempt to a silent host may keep a call waiting.
constexpr absl::Duration kConnectTimeout = absl::Seconds(1);
// The frontend's reconnect backoff tops out at 2 s, and gRPC adds up to
// 20% of jitter.
constexpr absl::Duration kMaxReconnectDelay = absl::Milliseconds(2400);
const absl::Duration kBackWithin =
    kConnectTimeout + kMaxReconnectDelay + absl::Seconds(3);

// The client's exit status for a gRPC code (10 + the code).
constexpr int kExitOk = 0;
constexpr int kExitDeadlineExceeded = 14;
constexpr int kExitUnavailable = 24;

// The "elapsed: 4.2ms" the client prints after a unary call.
absl::optional<absl::Duration> ClientElapsed(const std::string& output) {
  const size_t at = output.find("\nelapsed: ");
  if (at == std::string::npos) return absl::nullopt;
  const size_t begin = at + 10;
  const size_t end = output.find_first_of(" \n", begin);
  absl::Duration elapsed;
  if (!absl::ParseDuration(output.substr(begin, end - begin), &elapsed)) {
    return absl::nullopt;
  }
  return elapsed;
}

struct ClientRun {
  int exit_status = -1;  // -1: it hung.
  std::string output;
  // As the client measured the call (from its "elapsed:" line), or, when it
  // printed none, the whole run as the test saw it.
  absl::Duration elapsed;
};

// Runs the real client with `argv` (as given by Host::Command, or bare) to
// completion.
ClientRun RunClient(std::vector<std::string> argv) {
  ClientRun run;
  const absl::Time start = absl::Now();
  auto client = Subprocess::Start(argv);
  if (client == nullptr) return run;
  run.exit_status = client->Wait(kRunTimeout).value_or(-1);
  run.elapsed = absl::Now() - start;
  run.output = client->output();
  if (const absl::optional<absl::Duration> elapsed =
          ClientElapsed(run.output)) {
    run.elapsed = *elapsed;
  }
  return run;
}

// A Fetch of one 1 ms step through `target`.
std::vector<std::string> FetchFlags(const std::string& target,
                                    absl::Duration deadline) {
  return {RunfilePath("client/client"), absl::StrCat("--target=", target),
          absl::StrCat("--deadline=", absl::FormatDuration(deadline)),
          "--steps=1", "--step=1ms"};
}

// The calls_in_flight of the server at `target`, asked by `client --stats`
// run in `host`; nullopt when the call failed.
absl::optional<int> CallsInFlight(const Host& host, const std::string& target) {
  const ClientRun run =
      RunClient(host.Command({RunfilePath("client/client"), "--stats",
                              absl::StrCat("--target=", target)}));
  const size_t at = run.output.find("in_flight ");
  int in_flight = 0;
  if (run.exit_status != 0 || at == std::string::npos ||
      !absl::SimpleAtoi(
          run.output.substr(at + 10, run.output.find(',', at) - at - 10),
          &in_flight)) {
    return absl::nullopt;
  }
  return in_flight;
}

// Waits until `condition` holds, checking every 20 ms; false after
// `timeout`.
template <typename Condition>
bool WaitUntil(Condition condition, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= end) return false;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return true;
}

class DeadHostTest : public NetworkFixture {
 protected:
  void SetUp() override { MakeNetwork(); }

  absl::optional<Host> AddHost(absl::string_view name) {
    std::vector<Host> hosts = AddHosts({std::string(name)});
    if (hosts.empty()) return absl::nullopt;
    return std::move(hosts[0]);
  }

  // Starts a server in `host` (StartServerIn), for a ProcessChain.
  static ServerLauncher In(const Host& host) {
    return [&host](absl::string_view binary, std::vector<std::string> flags,
                   std::string* address) {
      return StartServerIn(host, binary, std::move(flags), address);
    };
  }
};

// The client's host vanishes mid-call (a cut link: no FIN, no RST). The
// frontend's keepalive finds it out, its call ends, and the cancellation
// reaches the backend, which stops working for nobody.
class DeadClientHostTest : public DeadHostTest {
 protected:
  struct Chain {
    absl::optional<Host> client_host, frontend_host, backend_host;
    ProcessChain servers;
    std::unique_ptr<Subprocess> client;
    absl::Time cut_at;
  };

  // Starts backend and frontend in hosts of their own and a client in a
  // third with a 10 s call that has no deadline; once the backend works on
  // it, cuts the client's link.
  void StartCallAndCutTheClient(const std::vector<std::string>& keepalive,
                                Chain& chain) {
    chain.client_host = AddHost("client");
    chain.frontend_host = AddHost("frontend");
    chain.backend_host = AddHost("backend");
    ASSERT_TRUE(chain.client_host && chain.frontend_host && chain.backend_host);
    std::vector<std::string> frontend_flags = {
        "--log=all",
        // A call without a deadline gets this long: far more than the work.
        "--default_deadline=60s"};
    frontend_flags.insert(frontend_flags.end(), keepalive.begin(),
                          keepalive.end());
    // The launchers report a server that did not start; the assertions
    // below stop the test.
    chain.servers
        .Start({"server/backend/backend",
                {"--log=all", kAllowFrequentPings},
                In(*chain.backend_host)},
               {"server/frontend/frontend", frontend_flags,
                In(*chain.frontend_host)})
        .IgnoreError();
    ASSERT_NE(chain.servers.backend, nullptr) << "backend did not start";
    ASSERT_NE(chain.servers.frontend, nullptr) << "frontend did not start";
    const std::string& frontend_address = chain.servers.frontend_address;

    // 100 steps of 100 ms: 10 s of work, and no deadline.
    chain.client = Subprocess::Start(chain.client_host->Command(
        {RunfilePath("client/client"),
         absl::StrCat("--target=", frontend_address), "--steps=100",
         "--step=100ms", "--request_id=dead-client-host"}));
    ASSERT_NE(chain.client, nullptr);
    ASSERT_TRUE(WaitUntil(
        [&] {
          return CallsInFlight(*chain.backend_host,
                               chain.servers.backend_address) == 1;
        },
        kStartTimeout))
        << "the call never reached the backend; client: "
        << chain.client->output();

    ASSERT_TRUE(network_->CutLink(*chain.client_host).ok());
    chain.cut_at = absl::Now();
  }
};

TEST_F(DeadClientHostTest, KeepaliveFindsItAndTheBackendStopsTheWork) {
  Chain chain;
  ASSERT_NO_FATAL_FAILURE(StartCallAndCutTheClient(KeepaliveFlags(), chain));

  const absl::optional<std::string> backend_line =
      chain.servers.backend->WaitForLine("request_id=dead-client-host",
                                         kRunTimeout);
  const absl::Duration noticed = absl::Now() - chain.cut_at;
  ASSERT_TRUE(backend_line.has_value()) << chain.servers.backend->output();
  RecordProperty("dead_client_noticed_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(noticed)));
  SCOPED_TRACE(absl::StrCat("backend: ", *backend_line, "\nnoticed after ",
                            absl::FormatDuration(noticed)));
  EXPECT_THAT(*backend_line, HasSubstr("code=CANCELLED"));
  // Found out by keepalive, not by the end of the 10 s of work.
  EXPECT_LT(noticed, kNoticeBound);
  const absl::optional<std::string> frontend_line =
      chain.servers.frontend->WaitForLine("request_id=dead-client-host",
                                          kRunTimeout);
  ASSERT_TRUE(frontend_line.has_value()) << chain.servers.frontend->output();
  EXPECT_THAT(*frontend_line, HasSubstr("code=CANCELLED"));
}

// The counterfactual: without keepalive nothing tells the frontend that its
// caller is gone, and the backend works on for nobody.
TEST_F(DeadClientHostTest, WithoutKeepaliveTheBackendWorksOnForNobody) {
  Chain chain;
  ASSERT_NO_FATAL_FAILURE(StartCallAndCutTheClient(
      {"--keepalive_time=24h", "--keepalive_timeout=1s"}, chain));

  EXPECT_FALSE(chain.servers.backend
                   ->WaitForLine("request_id=dead-client-host", kNoticeBound)
                   .has_value())
      << chain.servers.backend->output();
  EXPECT_EQ(CallsInFlight(*chain.backend_host, chain.servers.backend_address),
            1);
}

// The backend's host vanishes (a cut link). A call in flight ends by its
// deadline; once the frontend's keepalive notices, the frontend marks the
// backend down and later calls fail fast with UNAVAILABLE; when the link
// comes back, so does the service.
TEST_F(DeadHostTest, ADeadBackendHostFailsCallsFastOnceKeepaliveNotices) {
  const absl::optional<Host> frontend_host = AddHost("frontend");
  const absl::optional<Host> backend_host = AddHost("backend");
  ASSERT_TRUE(frontend_host && backend_host);
  std::vector<std::string> frontend_flags = {"--log=none"};
  frontend_flags.insert(frontend_flags.end(), KeepaliveFlags().begin(),
                        KeepaliveFlags().end());
  ProcessChain chain;
  // The launchers report a server that did not start; the assertions below
  // stop the test.
  chain
      .Start({"server/backend/backend",
              {"--log=none", kAllowFrequentPings},
              In(*backend_host)},
             {"server/frontend/frontend", frontend_flags, In(*frontend_host)})
      .IgnoreError();
  ASSERT_NE(chain.backend, nullptr) << "backend did not start";
  ASSERT_NE(chain.frontend, nullptr) << "frontend did not start";
  const std::string& frontend_address = chain.frontend_address;
  // The client runs in the frontend's host: only the backend's link is cut.
  const auto fetch = [&](absl::Duration deadline) {
    return RunClient(
        frontend_host->Command(FetchFlags(frontend_address, deadline)));
  };
  ClientRun run = fetch(absl::Seconds(2));
  ASSERT_EQ(run.exit_status, kExitOk) << run.output;

  ASSERT_TRUE(network_->CutLink(*backend_host).ok());
  const absl::Time cut_at = absl::Now();
  // Sooner than keepalive can notice (at least its timeout after the cut):
  // the call goes out on the old connection and only its deadline ends it.
  run = fetch(absl::Milliseconds(300));
  EXPECT_EQ(run.exit_status, kExitDeadlineExceeded) << run.output;
  EXPECT_THAT(run.output, HasSubstr("DEADLINE_EXCEEDED"));

  // This call also goes out on the old connection, and ends when keepalive
  // drops it: UNAVAILABLE, long before its deadline.
  run = fetch(absl::Seconds(20));
  const absl::Duration noticed = absl::Now() - cut_at;
  EXPECT_EQ(run.exit_status, kExitUnavailable) << run.output;
  EXPECT_LT(noticed, kNoticeBound) << run.output;
  RecordProperty("dead_backend_noticed_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(noticed)));

  // The next call starts a connection attempt and waits through it
  // (CONNECTING): at most the connect timeout.
  run = fetch(absl::Seconds(20));
  EXPECT_EQ(run.exit_status, kExitUnavailable) << run.output;
  EXPECT_LT(run.elapsed, kConnectTimeout + absl::Seconds(1)) << run.output;
  RecordProperty("first_call_after_notice_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(run.elapsed)));

  // From then on the backend is down (TRANSIENT_FAILURE, while gRPC keeps
  // trying to reconnect in the background) and calls fail at once.
  absl::Duration slowest;
  for (int i = 0; i < 5; ++i) {
    run = fetch(absl::Seconds(20));
    EXPECT_EQ(run.exit_status, kExitUnavailable) << run.output;
    EXPECT_LT(run.elapsed, kFailFast) << run.output;
    slowest = std::max(slowest, run.elapsed);
  }
  RecordProperty("fail_fast_slowest_us",
                 static_cast<int>(absl::ToInt64Microseconds(slowest)));

  ASSERT_TRUE(network_->RestoreLink(*backend_host).ok());
  const absl::Time restored_at = absl::Now();
  // A reconnection attempt under way, then the next one at most the
  // backoff later, and the TCP handshake.
  EXPECT_TRUE(
      WaitUntil([&] { return fetch(absl::Seconds(2)).exit_status == kExitOk; },
                kBackWithin))
      << "no call succeeded after the link came back";
  RecordProperty(
      "back_after_restore_ms",
      static_cast<int>(absl::ToInt64Milliseconds(absl::Now() - restored_at)));
}

// The budget the frontend saw at arrival, from the client's "budgets:"
// line ("-> frontend 4.12s at arrival"); nullopt if it printed none.
absl::optional<absl::Duration> FrontendBudget(const std::string& output) {
  const size_t at = output.find(" -> frontend ");
  if (at == std::string::npos) return absl::nullopt;
  const size_t begin = at + 13;
  absl::Duration budget;
  if (!absl::ParseDuration(
          output.substr(begin, output.find(' ', begin) - begin), &budget)) {
    return absl::nullopt;
  }
  return budget;
}

// grpc's doc/wait-for-ready.md: a call without wait-for-ready fails fast
// only while its channel is in TRANSIENT_FAILURE; through IDLE and
// CONNECTING it waits. A host that refuses the connection (its kernel
// answers RST) puts the channel there at once. A host that drops the
// packets (a cut link) keeps its first connection attempt CONNECTING, and
// gRPC's own connect timeout is 20 s: the call waits out its whole
// deadline, with wait-for-ready or without.
TEST_F(DeadHostTest, ABlackHoledFirstConnectUsesTheWholeDeadline) {
  const absl::optional<Host> client_host = AddHost("client");
  const absl::optional<Host> silent_host = AddHost("silent");
  ASSERT_TRUE(client_host && silent_host);
  // Nothing listens there.
  const std::string target = absl::StrCat(silent_host->address(), ":50051");
  const auto fetch = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv =
        FetchFlags(target, absl::Milliseconds(1500));
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunClient(client_host->Command(argv));
  };

  ClientRun run = fetch({});
  EXPECT_EQ(run.exit_status, kExitUnavailable) << run.output;
  EXPECT_LT(run.elapsed, absl::Seconds(1)) << run.output;

  ASSERT_TRUE(network_->CutLink(*silent_host).ok());
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{},
        std::vector<std::string>{"--wait_for_ready"}}) {
    SCOPED_TRACE(extra.empty() ? "fail fast" : "wait for ready");
    run = fetch(extra);
    EXPECT_EQ(run.exit_status, kExitDeadlineExceeded) << run.output;
    EXPECT_GE(run.elapsed, absl::Milliseconds(1450)) << run.output;
  }
}

// The first call on a channel pays for its connection: name resolution,
// the TCP handshake (and TLS) come out of that call's deadline. Here the
// frontend's host is unreachable when the client starts and comes back
// 300 ms later: the lost SYN is sent again after Linux's initial
// retransmission timeout (1 s), and the call, OK in the end, reaches the
// frontend with a second less than a call that found the host up.
TEST_F(DeadHostTest, TheFirstCallPaysForItsConnection) {
  const absl::optional<Host> client_host = AddHost("client");
  const absl::optional<Host> server_host = AddHost("server");
  ASSERT_TRUE(client_host && server_host);
  std::string backend_address;
  auto backend = StartServerIn(*server_host, "server/backend/backend",
                               {"--log=none"}, &backend_address);
  ASSERT_NE(backend, nullptr) << "backend did not start";
  std::string frontend_address;
  auto frontend =
      StartServerIn(*server_host, "server/frontend/frontend",
                    {absl::StrCat("--backend=", backend_address), "--log=none"},
                    &frontend_address);
  ASSERT_NE(frontend, nullptr) << "frontend did not start";
  const std::vector<std::string> flags =
      FetchFlags(frontend_address, absl::Seconds(5));

  ClientRun run = RunClient(client_host->Command(flags));
  ASSERT_EQ(run.exit_status, kExitOk) << run.output;
  const absl::optional<absl::Duration> up = FrontendBudget(run.output);
  ASSERT_TRUE(up.has_value()) << run.output;
  EXPECT_GT(*up, absl::Milliseconds(4500)) << run.output;

  ASSERT_TRUE(network_->CutLink(*server_host).ok());
  auto client = Subprocess::Start(client_host->Command(flags));
  ASSERT_NE(client, nullptr);
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_TRUE(network_->RestoreLink(*server_host).ok());
  ASSERT_EQ(client->Wait(kRunTimeout).value_or(-1), kExitOk)
      << client->output();
  const absl::optional<absl::Duration> after_a_lost_syn =
      FrontendBudget(client->output());
  ASSERT_TRUE(after_a_lost_syn.has_value()) << client->output();
  RecordProperty(
      "budget_after_a_lost_syn_ms",
      static_cast<int>(absl::ToInt64Milliseconds(*after_a_lost_syn)));
  EXPECT_LT(*after_a_lost_syn, *up - absl::Milliseconds(700))
      << client->output();
  EXPECT_GT(*after_a_lost_syn, absl::Seconds(2)) << client->output();
}

// The same on loopback, where any test can run: a backend stopped with
// SIGSTOP keeps its sockets (the kernel still completes TCP handshakes) but
// answers nothing, neither calls nor pings.
TEST(StoppedBackendTest, KeepaliveMarksItDownAndCallsFailFast) {
  std::vector<std::string> frontend_flags = {"--log=none"};
  frontend_flags.insert(frontend_flags.end(), KeepaliveFlags().begin(),
                        KeepaliveFlags().end());
  ProcessChain chain;
  // The assertions below say which server did not start.
  chain
      .Start({RunfilePath("server/backend/backend"),
              {"--log=none", kAllowFrequentPings}},
             {RunfilePath("server/frontend/frontend"), frontend_flags})
      .IgnoreError();
  ASSERT_NE(chain.backend, nullptr) << "backend did not start";
  ASSERT_NE(chain.frontend, nullptr) << "frontend did not start";
  Subprocess& backend = *chain.backend;
  const std::string& frontend_address = chain.frontend_address;
  ClientRun run = RunClient(FetchFlags(frontend_address, absl::Seconds(2)));
  ASSERT_EQ(run.exit_status, kExitOk) << run.output;

  backend.Signal(SIGSTOP);
  const absl::Time stopped_at = absl::Now();
  run = RunClient(FetchFlags(frontend_address, absl::Milliseconds(300)));
  EXPECT_EQ(run.exit_status, kExitDeadlineExceeded) << run.output;
  run = RunClient(FetchFlags(frontend_address, absl::Seconds(20)));
  EXPECT_EQ(run.exit_status, kExitUnavailable) << run.output;
  EXPECT_LT(absl::Now() - stopped_at, kNoticeBound) << run.output;
  // One connection attempt: TCP connects, the HTTP/2 handshake never
  // completes, and the attempt gives up at the connect timeout.
  run = RunClient(FetchFlags(frontend_address, absl::Seconds(20)));
  EXPECT_EQ(run.exit_status, kExitUnavailable) << run.output;
  EXPECT_LT(run.elapsed, kConnectTimeout + absl::Seconds(1)) << run.output;
  // Then calls fail at once while the channel backs off; one that lands on
  // the next connection attempt waits for it (at most the connect
  // timeout), which a loaded machine makes more likely.
  absl::Duration fastest = absl::InfiniteDuration();
  for (int i = 0; i < 5; ++i) {
    run = RunClient(FetchFlags(frontend_address, absl::Seconds(20)));
    EXPECT_EQ(run.exit_status, kExitUnavailable) << run.output;
    EXPECT_LT(run.elapsed, kConnectTimeout + absl::Seconds(1)) << run.output;
    fastest = std::min(fastest, run.elapsed);
  }
  EXPECT_LT(fastest, kFailFast);

  backend.Signal(SIGCONT);
  EXPECT_TRUE(WaitUntil(
      [&] {
        return RunClient(FetchFlags(frontend_address, absl::Seconds(2)))
                   .exit_status == kExitOk;
      },
      kBackWithin))
      << "no call succeeded after SIGCONT";
}

struct Timed {
  grpc::Status status;
  absl::Duration elapsed;
};

Timed Fetch(deadline::v1::Frontend::Stub& stub, absl::Duration deadline) {
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + deadline));
  deadline::v1::FetchRequest request;
  request.mutable_work()->set_steps(1);
  deadline::v1::FetchReply reply;
  const absl::Time start = absl::Now();
  grpc::Status status = stub.Fetch(&context, request, &reply);
  return {std::move(status), absl::Now() - start};
}

Timed Work(deadline::v1::Backend::Stub& stub, absl::Duration deadline) {
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + deadline));
  deadline::v1::WorkRequest request;
  request.set_steps(1);
  deadline::v1::WorkReply reply;
  const absl::Time start = absl::Now();
  grpc::Status status = stub.Work(&context, request, &reply);
  return {std::move(status), absl::Now() - start};
}

// A killed backend's kernel refuses connections at once, so UNAVAILABLE
// should come as fast through the frontend as to a direct caller. The
// frontend here names the backend twice, so its calls alternate between two
// channels to one address: with gRPC's shared subchannel pool the second
// channel waited out the reconnect backoff the first one had started
// (~100 ms, the frontend's initial backoff).
TEST(KilledBackendTest, UnavailableComesAtOnceAndServiceReturnsWithin2s) {
  std::string backend_address;
  auto backend = StartServerProcess(
      {RunfilePath("server/backend/backend"), "--log=none"}, &backend_address);
  ASSERT_NE(backend, nullptr) << "backend did not start";
  std::string frontend_address;
  auto frontend = StartServerProcess(
      {RunfilePath("server/frontend/frontend"),
       absl::StrCat("--backend=", backend_address, ",", backend_address),
       "--log=none"},
      &frontend_address);
  ASSERT_NE(frontend, nullptr) << "frontend did not start";
  auto via_frontend = deadline::v1::Frontend::NewStub(grpc::CreateChannel(
      frontend_address, grpc::InsecureChannelCredentials()));
  auto direct = deadline::v1::Backend::NewStub(
      grpc::CreateChannel(backend_address, grpc::InsecureChannelCredentials()));
  // Every channel connected: both of the frontend's, and the direct one.
  for (int i = 0; i < 2; ++i) {
    const Timed warm = Fetch(*via_frontend, absl::Seconds(5));
    ASSERT_TRUE(warm.status.ok()) << warm.status.error_message();
  }
  ASSERT_TRUE(Work(*direct, absl::Seconds(5)).status.ok());

  backend->Signal(SIGKILL);
  ASSERT_TRUE(backend->Wait(kStartTimeout).has_value());
  const Timed first = Fetch(*via_frontend, absl::Seconds(5));
  const Timed second = Fetch(*via_frontend, absl::Seconds(5));
  const Timed direct_call = Work(*direct, absl::Seconds(5));
  SCOPED_TRACE(absl::StrCat(
      "through the frontend: ", absl::FormatDuration(first.elapsed), ", ",
      absl::FormatDuration(second.elapsed),
      "; direct: ", absl::FormatDuration(direct_call.elapsed)));
  RecordProperty("frontend_first_us",
                 static_cast<int>(absl::ToInt64Microseconds(first.elapsed)));
  RecordProperty("frontend_second_us",
                 static_cast<int>(absl::ToInt64Microseconds(second.elapsed)));
  RecordProperty(
      "direct_us",
      static_cast<int>(absl::ToInt64Microseconds(direct_call.elapsed)));
  for (const Timed* call : {&first, &second, &direct_call}) {
    EXPECT_EQ(call->status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << call->status.error_message();
    // A few ms on a quiet machine; 100 ms when a channel waits out a
    // backoff it did not start.
    EXPECT_LT(call->elapsed, absl::Milliseconds(75));
  }

  // Down for long enough that the reconnect backoff reaches its 2 s cap;
  // meanwhile every call fails at once.
  const absl::Time down_until = absl::Now() + absl::Seconds(5);
  absl::Duration slowest;
  while (absl::Now() < down_until) {
    const Timed call = Fetch(*via_frontend, absl::Seconds(5));
    EXPECT_EQ(call.status.error_code(), grpc::StatusCode::UNAVAILABLE);
    slowest = std::max(slowest, call.elapsed);
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_LT(slowest, kFailFast);

  // Back on the same port: both channels must find it within a backoff.
  std::string restarted_address;
  backend =
      StartServerProcess({RunfilePath("server/backend/backend"), "--log=none"},
                         &restarted_address, backend_address);
  ASSERT_NE(backend, nullptr)
      << "backend did not restart on " << backend_address;
  const absl::Time restarted_at = absl::Now();
  int ok_in_a_row = 0;
  EXPECT_TRUE(WaitUntil(
      [&] {
        ok_in_a_row = Fetch(*via_frontend, absl::Seconds(1)).status.ok()
                          ? ok_in_a_row + 1
                          : 0;
        return ok_in_a_row == 2;
      },
      kMaxReconnectDelay + absl::Seconds(1)));
  RecordProperty(
      "back_after_restart_ms",
      static_cast<int>(absl::ToInt64Milliseconds(absl::Now() - restarted_at)));
}

// gRPC's server default refuses pings more often than every 5 minutes
// (this project's servers: every 5 s): a frontend pinging every second is
// told off with GOAWAY too_many_pings and loses its connection, unless the
// backend allows it (--min_ping_interval).
TEST(KeepalivePolicyTest, ABackendMustAllowItsCallersPings) {
  std::string strict_address;
  auto strict_backend = StartServerProcess(
      {RunfilePath("server/backend/backend"), "--log=none"}, &strict_address);
  ASSERT_NE(strict_backend, nullptr);
  std::string lenient_address;
  auto lenient_backend =
      StartServerProcess({RunfilePath("server/backend/backend"), "--log=none",
                          kAllowFrequentPings},
                         &lenient_address);
  ASSERT_NE(lenient_backend, nullptr);
  std::unique_ptr<Subprocess> frontends[2];
  const std::string* backends[2] = {&strict_address, &lenient_address};
  for (int i = 0; i < 2; ++i) {
    std::vector<std::string> flags = {RunfilePath("server/frontend/frontend"),
                                      absl::StrCat("--backend=", *backends[i]),
                                      "--log=none"};
    flags.insert(flags.end(), KeepaliveFlags().begin(), KeepaliveFlags().end());
    std::string address;
    frontends[i] = StartServerProcess(flags, &address);
    ASSERT_NE(frontends[i], nullptr);
    // A call connects the frontend to its backend; then pings begin.
    const ClientRun run = RunClient(FetchFlags(address, absl::Seconds(2)));
    ASSERT_EQ(run.exit_status, kExitOk) << run.output;
  }
  // The third ping too early (two strikes allowed) closes the connection.
  EXPECT_TRUE(frontends[0]
                  ->WaitForLine("too_many_pings", absl::Seconds(10))
                  .has_value())
      << frontends[0]->output();
  EXPECT_FALSE(frontends[1]
                   ->WaitForLine("too_many_pings", absl::Milliseconds(100))
                   .has_value())
      << frontends[1]->output();
}

}  // namespace
}  // namespace deadline::testing
