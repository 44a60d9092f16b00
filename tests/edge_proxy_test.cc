// The edge proxy of deploy/edge/ (Debian's nginx, rendered by
// deploy/edge/render.sh from the frontend's flags) in front of the real
// frontend and backend binaries: deadlines and cancellations cross it
// unchanged, its timers never fire before a gRPC deadline, floods stop at
// it, and what it cannot carry (HTTP/2 PINGs, the client's TLS identity)
// is shown not to cross. One test configures it wrong on purpose, labelled
// as the pitfall. The client is this process (client/calls.h), so each
// call's trace is read as the client gets it.
//
// The 90 s calls are in edge_long_call_test.cc; docs/edge.md explains the
// configuration these tests hold to.
#include "tests/support/edge_proxy.h"

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/harness.h"
#include "bench/hostile_peer.h"
#include "client/calls.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "common/transport.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/network_fixture.h"
#include "tests/support/process_chain.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_certs.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::deadline::bench::HostilePeer;
using ::deadline::bench::HostilePeerCommand;
using ::deadline::bench::Prober;
using ::deadline::bench::ReportNumber;
using ::deadline::bench::ServerKind;
using ::testing::HasSubstr;

constexpr absl::Duration kStartTimeout = absl::Seconds(20);

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer's redzones and quarantine multiply what memory costs.
constexpr double kMemoryFactor = 4;
#else
constexpr double kMemoryFactor = 1;
#endif

// The frontend's flags that render.sh derives the proxy's timers from; the
// rest are the frontend's alone.
std::vector<std::string> EdgeFlagsOf(const std::vector<std::string>& flags) {
  std::vector<std::string> edge;
  for (const std::string& flag : flags) {
    for (const char* name : {"--max_deadline=", "--max_connection_age=",
                             "--keepalive_time=", "--keepalive_timeout="}) {
      if (absl::StartsWith(flag, name)) edge.push_back(flag);
    }
  }
  return edge;
}

std::shared_ptr<grpc::Channel> PlainChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

// An empty Frontend.Fetch to `address` over TLS as `tls` says, on a
// channel of its own.
grpc::Status FetchOverTls(const std::string& address, const TlsFiles& tls) {
  auto credentials = ChannelCredentialsFor(tls);
  EXPECT_TRUE(credentials.ok()) << credentials.status();
  if (!credentials.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "");
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = deadline::v1::Frontend::NewStub(
      grpc::CreateCustomChannel(address, *credentials, args));
  grpc::ClientContext context;
  context.set_deadline(ToGrpcDeadline(absl::Now() + absl::Seconds(5)));
  deadline::v1::FetchRequest request;
  deadline::v1::FetchReply reply;
  return stub->Fetch(&context, request, &reply);
}

// Finds `hop` ("frontend", "backend") in a trace.
const deadline::v1::HopTrace* HopOf(
    const absl::optional<deadline::v1::BudgetTrace>& trace,
    absl::string_view hop) {
  if (!trace.has_value()) return nullptr;
  for (const deadline::v1::HopTrace& h : trace->hops()) {
    if (h.hop() == hop) return &h;
  }
  return nullptr;
}

// The hostile HTTP/2 peer: bench/h2flood.py on Debian's python3-h2.
HostilePeerCommand PeerCommand() {
  return {"/usr/bin/python3", RunfilePath("bench/h2flood.py")};
}

// Runs the peer against `address` with `args` until it ends (up to
// `wait`): its report, or why there is none.
absl::StatusOr<google::protobuf::Struct> RunPeer(
    const std::string& address, const std::vector<std::string>& args,
    absl::Duration wait) {
  auto peer = HostilePeer::Start(PeerCommand(), address, args);
  if (peer == nullptr) return absl::InternalError("the peer did not start");
  if (!peer->WaitFor(wait)) {
    return absl::DeadlineExceededError("the peer did not end in time");
  }
  return peer->Report();
}

// A frontend and a backend (the real binaries) and nginx in front of the
// frontend, all on the test's loopback.
class EdgeProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const absl::Status available = EdgeProxy::Available();
    if (!available.ok()) GTEST_SKIP() << available.message();
  }

  // Starts the chain with `frontend_flags` (both servers get --log=all and
  // the deadline flags), then the proxy rendered from the frontend's flags
  // plus `render_flags`.
  void Start(std::vector<std::string> frontend_flags,
             const std::vector<std::string>& render_flags = {}) {
    frontend_flags.push_back("--log=all");
    std::vector<std::string> backend_flags = {"--log=all"};
    for (const std::string& flag : frontend_flags) {
      if (absl::StartsWith(flag, "--max_deadline=") ||
          absl::StartsWith(flag, "--max_connection_age_grace=")) {
        backend_flags.push_back(flag);
      }
    }
    const absl::Status started =
        chain_.Start({RunfilePath("server/backend/backend"), backend_flags},
                     {RunfilePath("server/frontend/frontend"), frontend_flags});
    ASSERT_TRUE(started.ok()) << started;
    ASSERT_NO_FATAL_FAILURE(StartProxy(frontend_flags, render_flags, proxy_));
  }

  void StartProxy(const std::vector<std::string>& frontend_flags,
                  const std::vector<std::string>& render_flags,
                  std::unique_ptr<EdgeProxy>& proxy) {
    EdgeProxy::Options options;
    options.render_script = RunfilePath("deploy/edge/render.sh");
    options.frontend = chain_.frontend_address;
    options.render_flags = EdgeFlagsOf(frontend_flags);
    options.render_flags.insert(options.render_flags.end(),
                                render_flags.begin(), render_flags.end());
    absl::StatusOr<std::unique_ptr<EdgeProxy>> started =
        EdgeProxy::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    proxy = *std::move(started);
  }

  // A Fetch through `address` (the proxy or the frontend itself), waited for.
  FetchOutcome Fetch(const std::string& address, int steps, absl::Duration step,
                     absl::Duration deadline,
                     const std::string& request_id = "") {
    auto stub = deadline::v1::Frontend::NewStub(PlainChannel(address));
    deadline::v1::FetchRequest request;
    *request.mutable_work() = Work(steps, step);
    FetchCall call(*stub, request,
                   deadline == absl::InfiniteDuration()
                       ? absl::InfiniteFuture()
                       : absl::Now() + deadline,
                   request_id);
    return call.Wait();
  }

  // The backend's calls in flight, from its Stats.
  int64_t BackendInFlight() {
    return FetchStats(chain_.backend_address).calls_in_flight();
  }

  // A call of 10 s through `address`, cancelled by the client once the
  // backend works on it: how long the backend then took to stop. The
  // backend's log line for it must say CANCELLED.
  absl::Duration CancelAndTimeTheBackend(const std::string& address,
                                         const std::string& request_id) {
    auto stub = deadline::v1::Frontend::NewStub(PlainChannel(address));
    deadline::v1::FetchRequest request;
    *request.mutable_work() = Work(100, absl::Milliseconds(100));
    FetchCall call(*stub, request, absl::Now() + absl::Seconds(30), request_id);
    EXPECT_TRUE(
        WaitUntil([&] { return BackendInFlight() == 1; }, kStartTimeout))
        << "the call never reached the backend";
    const absl::Time cancelled = absl::Now();
    call.Cancel();
    EXPECT_TRUE(
        WaitUntil([&] { return BackendInFlight() == 0; }, absl::Seconds(10)));
    const absl::Duration stopped = absl::Now() - cancelled;
    EXPECT_EQ(call.Wait().status.error_code(), grpc::StatusCode::CANCELLED);
    const absl::optional<std::string> line = chain_.backend->WaitForLine(
        absl::StrCat("request_id=", request_id), absl::Seconds(10));
    EXPECT_TRUE(line.has_value());
    if (line.has_value()) {
      EXPECT_THAT(*line, HasSubstr("code=CANCELLED"));
    }
    return stopped;
  }

  ProcessChain chain_;
  std::unique_ptr<EdgeProxy> proxy_;
};

TEST_F(EdgeProxyTest, TheBudgetIsAccountedAsWithoutTheProxy) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  constexpr absl::Duration kDeadline = absl::Milliseconds(800);
  // Warm both paths: connections, nginx's pool of frontend connections.
  Fetch(proxy_->address(), 1, absl::Milliseconds(1), kDeadline);
  Fetch(chain_.frontend_address, 1, absl::Milliseconds(1), kDeadline);

  const FetchOutcome direct =
      Fetch(chain_.frontend_address, 5, absl::Milliseconds(5), kDeadline);
  const FetchOutcome edged = Fetch(proxy_->address(), 5, absl::Milliseconds(5),
                                   kDeadline, "edge-budget");
  ASSERT_TRUE(direct.status.ok()) << direct.status.error_message();
  ASSERT_TRUE(edged.status.ok()) << edged.status.error_message();
  for (const FetchOutcome* outcome : {&direct, &edged}) {
    const deadline::v1::HopTrace* frontend = HopOf(outcome->trace, "frontend");
    const deadline::v1::HopTrace* backend = HopOf(outcome->trace, "backend");
    ASSERT_NE(frontend, nullptr);
    ASSERT_NE(backend, nullptr);
    const absl::Duration arrived = ToDuration(frontend->budget_at_arrival());
    const absl::Duration forwarded = ToDuration(frontend->forwarded());
    const absl::Duration at_backend = ToDuration(backend->budget_at_arrival());
    SCOPED_TRACE(
        absl::StrCat(outcome == &edged ? "through the proxy" : "direct",
                     ": frontend ", absl::FormatDuration(arrived),
                     ", forwarded ", absl::FormatDuration(forwarded),
                     ", backend ", absl::FormatDuration(at_backend)));
    // The client's budget reaches the frontend, less the way there (and
    // the proxy's share of it): nginx passes grpc-timeout, deadline-at and
    // deadline-sent-at on unchanged, so the frontend sees how long the
    // call took to reach it, proxy included.
    EXPECT_LE(arrived, kDeadline + absl::Milliseconds(3));
    EXPECT_GT(arrived, kDeadline - absl::Milliseconds(200));
    ASSERT_TRUE(frontend->has_arrival_delay());
    EXPECT_GE(ToDuration(frontend->arrival_delay()), -absl::Milliseconds(2));
    EXPECT_LT(ToDuration(frontend->arrival_delay()), absl::Milliseconds(200));
    // The frontend keeps its reserve (10 ms), and the wire's allowance
    // when it planned from grpc-timeout alone, the same accounting on both
    // paths; the rest of the bound is for a frontend slow to forward.
    EXPECT_LE(forwarded, arrived - absl::Milliseconds(10));
    EXPECT_GT(forwarded, arrived - absl::Milliseconds(100));
    EXPECT_LE(at_backend, forwarded + absl::Milliseconds(40));
    EXPECT_GT(at_backend, forwarded - absl::Milliseconds(50));
  }

  // The proxy's share, where it can be measured: on the client's clock,
  // from its start to the frontend's arrival and from the frontend's end
  // to its own; in nginx's log, request_time - upstream_time.
  const deadline::v1::HopTrace* frontend = HopOf(edged.trace, "frontend");
  const absl::Duration way_in =
      FromProtoTime(frontend->arrived_at()) - edged.start;
  const absl::Duration way_out =
      edged.start + edged.elapsed - FromProtoTime(frontend->finished_at());
  EXPECT_GE(way_in, absl::ZeroDuration());
  EXPECT_LT(way_in, absl::Milliseconds(200));
  EXPECT_GE(way_out, -absl::Milliseconds(1));
  EXPECT_LT(way_out, absl::Milliseconds(200));
  const absl::optional<std::string> line =
      proxy_->WaitForAccessLine("request_id=edge-budget", absl::Seconds(5));
  ASSERT_TRUE(line.has_value()) << proxy_->ErrorLog();
  EXPECT_EQ(LogField(*line, "grpc_status"), "0") << *line;
  // The grpc-timeout header nginx received and passed on, e.g. "799m".
  EXPECT_THAT(LogField(*line, "grpc_timeout").value_or(""), HasSubstr("m"));
  double request_time = -1, upstream_time = -1;
  ASSERT_TRUE(absl::SimpleAtod(LogField(*line, "request_time").value_or(""),
                               &request_time));
  ASSERT_TRUE(absl::SimpleAtod(LogField(*line, "upstream_time").value_or(""),
                               &upstream_time));
  // Both in whole milliseconds, each measured and rounded on its own:
  // nginx's share may read one millisecond below zero (seen: request_time
  // 0.026, upstream_time 0.027).
  EXPECT_GE(request_time, upstream_time - 0.0015);
  EXPECT_LT(request_time - upstream_time, 0.1);
  RecordProperty("way_in_us",
                 static_cast<int>(absl::ToInt64Microseconds(way_in)));
  RecordProperty("way_out_us",
                 static_cast<int>(absl::ToInt64Microseconds(way_out)));
  RecordProperty("nginx_share_ms",
                 static_cast<int>((request_time - upstream_time) * 1000));
}

TEST_F(EdgeProxyTest, DeadlineExceededComesFromTheFrontendWithItsStory) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  const FetchOutcome outcome =
      Fetch(proxy_->address(), 100, absl::Milliseconds(10),
            absl::Milliseconds(300), "edge-late");
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The frontend's answer (with the hops' story), not a proxy's.
  EXPECT_THAT(outcome.status.error_message(), HasSubstr("frontend:"));
  const deadline::v1::HopTrace* backend = HopOf(outcome.trace, "backend");
  ASSERT_NE(backend, nullptr);
  EXPECT_EQ(backend->code(), "DEADLINE_EXCEEDED");
  EXPECT_LT(backend->steps_done(), 100);
  const absl::optional<std::string> line =
      proxy_->WaitForAccessLine("request_id=edge-late", absl::Seconds(5));
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(LogField(*line, "grpc_status"), "4") << *line;
}

TEST_F(EdgeProxyTest, ACancelStopsTheBackendWithinTheBoundOfADirectOne) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  const absl::Duration direct =
      CancelAndTimeTheBackend(chain_.frontend_address, "direct-cancel");
  const absl::Duration edged =
      CancelAndTimeTheBackend(proxy_->address(), "edge-cancel");
  RecordProperty("direct_stop_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(direct)));
  RecordProperty("edge_stop_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(edged)));
  // A sleep-like backend stops within a millisecond or two of the cancel
  // (bench/stop_latency.cc); the bound is for a loaded 2-core machine.
  EXPECT_LT(direct, absl::Milliseconds(500));
  EXPECT_LT(edged, absl::Milliseconds(500));
}

TEST_F(EdgeProxyTest, ACallWithoutADeadlineGetsTheFrontendsDefault) {
  ASSERT_NO_FATAL_FAILURE(Start({"--default_deadline=2s"}));
  const FetchOutcome outcome =
      Fetch(proxy_->address(), 100, absl::Milliseconds(100),
            absl::InfiniteDuration());
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << outcome.status.error_message();
  EXPECT_THAT(outcome.status.error_message(), HasSubstr("frontend:"));
  const deadline::v1::HopTrace* frontend = HopOf(outcome.trace, "frontend");
  ASSERT_NE(frontend, nullptr);
  // It forwarded the default, less its reserve.
  EXPECT_GT(ToDuration(frontend->forwarded()), absl::Milliseconds(1900));
  EXPECT_LE(ToDuration(frontend->forwarded()), absl::Seconds(2));
  // The frontend's 2 s, not the proxy's 65 s (the frontend's default
  // --max_deadline, 1 m, plus 5 s).
  EXPECT_GE(outcome.elapsed, absl::Milliseconds(1900));
  EXPECT_LT(outcome.elapsed, absl::Seconds(5));
}

TEST_F(EdgeProxyTest, AStreamWithATwoSecondDeadlineEndsAtItsDeadline) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  const auto read = [](const std::string& address) {
    auto stub = deadline::v1::Frontend::NewStub(PlainChannel(address));
    deadline::v1::FetchRequest request;
    *request.mutable_work() = Work(100, absl::Milliseconds(100));
    FetchStreamCall stream(*stub, request, absl::Now() + absl::Seconds(2));
    return stream.Read(0, [](const deadline::v1::WorkProgress&) {});
  };
  const ProgressStream::Outcome direct = read(chain_.frontend_address);
  const ProgressStream::Outcome edged = read(proxy_->address());
  for (const ProgressStream::Outcome* outcome : {&direct, &edged}) {
    EXPECT_EQ(outcome->status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << outcome->status.error_message();
    EXPECT_GT(outcome->messages, 5);
    EXPECT_LT(outcome->messages, 100);
  }
  // The hops answer a little before 2 s (their reserves and the wire's
  // allowance), through the proxy as directly.
  EXPECT_GE(edged.elapsed, absl::Milliseconds(1700));
  EXPECT_LT(edged.elapsed, absl::Milliseconds(2500));
  EXPECT_LT(absl::AbsDuration(edged.elapsed - direct.elapsed),
            absl::Milliseconds(300));
}

// THE PITFALL, configured wrong on purpose: a proxy timer shorter than the
// call's deadline (nginx's own default is 60 s, whatever grpc-timeout
// says). The call is cut by the proxy: the client sees UNAVAILABLE (nginx
// answers 504, which gRPC maps to UNAVAILABLE), not DEADLINE_EXCEEDED, and
// no trace; the frontend and the backend see their caller cancel.
TEST_F(EdgeProxyTest,
       PitfallAProxyTimerShorterThanTheDeadlineMakesUnavailable) {
  ASSERT_NO_FATAL_FAILURE(Start({}, {"--call_timeout=1s"}));
  const FetchOutcome outcome =
      Fetch(proxy_->address(), 30, absl::Milliseconds(100), absl::Seconds(10),
            "edge-pitfall");
  EXPECT_EQ(outcome.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(outcome.status.error_message(),
            "Received http2 header with status: 504");
  EXPECT_FALSE(outcome.trace.has_value());
  EXPECT_GE(outcome.elapsed, absl::Milliseconds(950));
  EXPECT_LT(outcome.elapsed, absl::Seconds(3));
  const absl::optional<std::string> line =
      chain_.backend->WaitForLine("request_id=edge-pitfall", absl::Seconds(10));
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, HasSubstr("code=CANCELLED"));
  EXPECT_THAT(proxy_->ErrorLog(), HasSubstr("upstream timed out"));

  // The timer runs between two reads, not over the call: a stream that
  // sends every 0.5 s outlives it.
  auto stub = deadline::v1::Frontend::NewStub(PlainChannel(proxy_->address()));
  deadline::v1::FetchRequest request;
  *request.mutable_work() = Work(6, absl::Milliseconds(500));
  FetchStreamCall stream(*stub, request, absl::Now() + absl::Seconds(10));
  const ProgressStream::Outcome streamed =
      stream.Read(0, [](const deadline::v1::WorkProgress&) {});
  EXPECT_TRUE(streamed.status.ok()) << streamed.status.error_message();
  EXPECT_EQ(streamed.messages, 6);
}

// HTTP/2 PINGs belong to a connection: the frontend's keepalive pings nginx,
// which answers, and a client that answers no PING is never asked one.
// Direct, the frontend drops such a peer within keepalive time + timeout
// (flood_test, PeerThatStopsAnsweringPingsIsDroppedByKeepalive); through
// the proxy it is not dropped.
TEST_F(EdgeProxyTest, PingsEndAtTheProxy) {
  ASSERT_NO_FATAL_FAILURE(
      Start({"--keepalive_time=1s", "--keepalive_timeout=1s"}));
  if (!bench::CanRunHostilePeer(PeerCommand())) {
    GTEST_SKIP() << "python3-h2 missing";
  }
  absl::StatusOr<google::protobuf::Struct> report =
      RunPeer(proxy_->address(),
              {"--mode=halfopen", "--streams=10", "--hold=5", "--no_ping_ack",
               "--path=/deadline.v1.Frontend/Fetch"},
              absl::Seconds(30));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(ReportNumber(*report, "pings_ignored"), 0)
      << "nginx sent the client a PING";
  // Held for the whole 5 s: no keepalive reached it.
  EXPECT_TRUE(std::isnan(ReportNumber(*report, "connection_closed_at_s")));
  EXPECT_EQ(ReportNumber(*report, "streams_open_at_end"), 10);
}

// Floods at the edge, each against fresh servers, with ordinary clients
// calling through the proxy meanwhile (a new connection each, 1 s deadline).
// The flooder comes from 127.0.0.2, the others from 127.0.0.1: the proxy's
// call rate limit is per client address, as it would be per host.
class EdgeFloodTest : public EdgeProxyTest {
 protected:
  struct Measured {
    double rest_mb = 0;
    double max_mb = 0;
    Prober::Result probes;
    google::protobuf::Struct report;
  };

  Measured Flood(std::vector<std::string> args) {
    Measured m;
    if (!bench::CanRunHostilePeer(PeerCommand())) {
      ADD_FAILURE() << "python3-h2 missing";
      return m;
    }
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE(
          Fetch(proxy_->address(), 0, absl::ZeroDuration(), absl::Seconds(5))
              .status.ok());
    }
    absl::SleepFor(absl::Milliseconds(200));
    const pid_t frontend = chain_.frontend->pid();
    m.rest_mb = m.max_mb = RssMegabytesOf(frontend);
    Prober prober(proxy_->address(), ServerKind::kFrontend);
    args.insert(args.end(),
                {"--source=127.0.0.2", "--path=/deadline.v1.Frontend/Fetch"});
    auto peer = HostilePeer::Start(PeerCommand(), proxy_->address(), args);
    EXPECT_NE(peer, nullptr);
    if (peer == nullptr) return m;
    const absl::Time give_up = absl::Now() + absl::Seconds(120);
    while (!peer->WaitFor(absl::Milliseconds(20)) && absl::Now() < give_up) {
      m.max_mb = std::max(m.max_mb, RssMegabytesOf(frontend));
      chain_.frontend->output();
      chain_.backend->output();
    }
    for (int i = 0; i < 50; ++i) {  // The teardown.
      m.max_mb = std::max(m.max_mb, RssMegabytesOf(frontend));
      absl::SleepFor(absl::Milliseconds(20));
    }
    m.probes = prober.Stop();
    absl::StatusOr<google::protobuf::Struct> report = peer->Report();
    EXPECT_TRUE(report.ok()) << report.status();
    if (report.ok()) m.report = *std::move(report);
    RecordProperty("rss_rest_mb", static_cast<int>(m.rest_mb));
    RecordProperty("rss_max_mb", static_cast<int>(m.max_mb));
    RecordProperty("probes_ok", m.probes.ok);
    RecordProperty("probes_failed", m.probes.failed);
    return m;
  }
};

TEST_F(EdgeFloodTest, RapidResetStopsAtTheEdge) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  // Reconnecting whenever the proxy closes its connection.
  const Measured m = Flood(
      {"--mode=rapidreset", "--streams=1000000", "--hold=3", "--reconnect"});
  EXPECT_LT(m.max_mb, 2 * kMemoryFactor * m.rest_mb)
      << "frontend RSS at rest " << m.rest_mb << " MB";
  EXPECT_EQ(m.probes.failed, 0) << m.probes.first_failure;
  EXPECT_GE(m.probes.ok, 10);
  EXPECT_GT(ReportNumber(m.report, "streams_reset"), 10000);
  EXPECT_GT(ReportNumber(m.report, "connections"), 1)
      << "the proxy never closed a flooding connection";
}

TEST_F(EdgeFloodTest, HalfOpenStreamsStopAtTheEdge) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  const Measured m = Flood(
      {"--mode=halfopen", "--streams=20000", "--hold=5", "--respect_limit"});
  EXPECT_LT(m.max_mb, 2 * kMemoryFactor * m.rest_mb)
      << "frontend RSS at rest " << m.rest_mb << " MB";
  EXPECT_EQ(m.probes.failed, 0) << m.probes.first_failure;
  EXPECT_GE(m.probes.ok, 10);
  // nginx's stream limit, not the frontend's 5100.
  EXPECT_EQ(ReportNumber(m.report, "server_max_concurrent_streams"), 128);
  EXPECT_EQ(ReportNumber(m.report, "streams_open_at_peak"), 128);
}

// TLS ends at the proxy. The frontend requires client certificates
// (--tls_client_ca): through the proxy, the certificate it checks is the
// proxy's own (render.sh --upstream_cert), and the client's certificate is
// checked by the proxy (--client_ca). The frontend never sees the client's
// identity.
TEST_F(EdgeProxyTest, TlsEndsAtTheProxyWhichShowsTheFrontendItsOwnIdentity) {
  const absl::StatusOr<TestCertificates> certs = MakeTestCertificates();
  ASSERT_TRUE(certs.ok()) << certs.status();
  const std::vector<std::string> frontend_tls = {
      absl::StrCat("--tls_cert=", certs->server.cert),
      absl::StrCat("--tls_key=", certs->server.key),
      absl::StrCat("--tls_client_ca=", certs->ca)};
  ASSERT_NO_FATAL_FAILURE(Start(
      frontend_tls, {absl::StrCat("--tls_cert=", certs->server.cert),
                     absl::StrCat("--tls_key=", certs->server.key),
                     absl::StrCat("--client_ca=", certs->ca),
                     absl::StrCat("--upstream_ca=", certs->ca),
                     // nginx checks a name (X509_check_host), not an IP
                     // address: the test certificate's CN.
                     "--upstream_name=server",
                     absl::StrCat("--upstream_cert=", certs->client.cert),
                     absl::StrCat("--upstream_key=", certs->client.key)}));

  const auto call = FetchOverTls;
  const TlsFiles client = {certs->client.cert, certs->client.key, certs->ca};
  const TlsFiles stranger = {certs->wrong_client.cert, certs->wrong_client.key,
                             certs->ca};
  const TlsFiles anonymous = {"", "", certs->ca};
  const grpc::Status edged = call(proxy_->address(), client);
  EXPECT_TRUE(edged.ok()) << edged.error_message();
  // The proxy checks the client's certificate now ...
  // (nginx completes the handshake and answers HTTP 400, which gRPC reads
  // as INTERNAL; the frontend itself would refuse the handshake:
  // UNAVAILABLE.)
  const grpc::Status refused = call(proxy_->address(), stranger);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(refused.error_message(), "Received http2 header with status: 400");
  // ... and the frontend still refuses a client without one of its own.
  const grpc::Status direct = call(chain_.frontend_address, anonymous);
  EXPECT_EQ(direct.error_code(), grpc::StatusCode::UNAVAILABLE)
      << direct.error_message();
}

// Passthrough (render.sh --passthrough: nginx's stream module, a TCP
// relay): TLS runs end to end, so the frontend checks the client's own
// certificate, as it does directly.
TEST_F(EdgeProxyTest, PassthroughCarriesMutualTlsEndToEnd) {
  const absl::StatusOr<TestCertificates> certs = MakeTestCertificates();
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_NO_FATAL_FAILURE(
      Start({absl::StrCat("--tls_cert=", certs->server.cert),
             absl::StrCat("--tls_key=", certs->server.key),
             absl::StrCat("--tls_client_ca=", certs->ca)},
            {"--passthrough"}));
  const grpc::Status client = FetchOverTls(
      proxy_->address(), {certs->client.cert, certs->client.key, certs->ca});
  EXPECT_TRUE(client.ok()) << client.error_message();
  // Refused by the frontend's own handshake, as directly: UNAVAILABLE.
  const grpc::Status stranger = FetchOverTls(
      proxy_->address(),
      {certs->wrong_client.cert, certs->wrong_client.key, certs->ca});
  EXPECT_EQ(stranger.error_code(), grpc::StatusCode::UNAVAILABLE);
  const grpc::Status anonymous =
      FetchOverTls(proxy_->address(), {"", "", certs->ca});
  EXPECT_EQ(anonymous.error_code(), grpc::StatusCode::UNAVAILABLE);
}

// ... and the frontend's PINGs cross a passthrough proxy: a peer that
// answers none is dropped by the frontend's keepalive, as directly (compare
// PingsEndAtTheProxy).
TEST_F(EdgeProxyTest, PingsCrossAPassthroughProxy) {
  ASSERT_NO_FATAL_FAILURE(Start(
      {"--keepalive_time=1s", "--keepalive_timeout=1s"}, {"--passthrough"}));
  if (!bench::CanRunHostilePeer(PeerCommand())) {
    GTEST_SKIP() << "python3-h2 missing";
  }
  absl::StatusOr<google::protobuf::Struct> report =
      RunPeer(proxy_->address(),
              {"--mode=halfopen", "--streams=10", "--hold=30", "--no_ping_ack",
               "--path=/deadline.v1.Frontend/Fetch"},
              absl::Seconds(40));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GE(ReportNumber(*report, "pings_ignored"), 1);
  const double closed = ReportNumber(*report, "connection_closed_at_s");
  EXPECT_GE(closed, 1.5);  // A ping after 1 s silent, 1 s for its answer.
  EXPECT_LT(closed, 10.0);
  EXPECT_EQ(ReportNumber(*report, "answers_by_grpc_status.14"), 10);
}

// The same chain with each part on a host of its own (network namespaces):
// client -> edge -> frontend -> backend across real interfaces.
class EdgeAcrossHostsTest : public NetworkFixture {
 protected:
  void SetUp() override {
    const absl::Status available = EdgeProxy::Available();
    if (!available.ok()) GTEST_SKIP() << available.message();
    MakeNetwork();
  }

  void Start(const std::vector<std::string>& frontend_flags) {
    std::vector<Host> hosts = AddHosts({"client", "edge", "frontend"});
    ASSERT_EQ(hosts.size(), 3u);
    client_.emplace(hosts[0]);
    edge_.emplace(hosts[1]);
    frontend_host_.emplace(hosts[2]);
    const Host& frontend = *frontend_host_;
    const auto in_frontend_host = [&frontend](absl::string_view binary,
                                              std::vector<std::string> flags,
                                              std::string* address) {
      return StartServerIn(frontend, binary, std::move(flags), address);
    };
    std::vector<std::string> flags = {"--log=all"};
    flags.insert(flags.end(), frontend_flags.begin(), frontend_flags.end());
    chain_
        .Start({"server/backend/backend", {"--log=all"}, in_frontend_host},
               {"server/frontend/frontend", flags, in_frontend_host})
        .IgnoreError();
    ASSERT_NE(chain_.frontend, nullptr);
    EdgeProxy::Options options;
    options.render_script = RunfilePath("deploy/edge/render.sh");
    options.frontend = chain_.frontend_address;
    options.render_flags = EdgeFlagsOf(frontend_flags);
    options.listen_host = edge_->address();
    const Host edge = *edge_;
    options.wrap = [edge](std::vector<std::string> argv) {
      return edge.Command(std::move(argv));
    };
    absl::StatusOr<std::unique_ptr<EdgeProxy>> proxy =
        EdgeProxy::Start(options);
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = *std::move(proxy);
  }

  // The backend's calls in flight, asked by `client --stats` from the
  // frontend's host (this process is on none of the hosts); -1 unknown.
  int BackendInFlight() {
    std::string output;
    if (RunClientIn(
            *frontend_host_,
            {"--stats", absl::StrCat("--target=", chain_.backend_address)},
            &output) != 0) {
      return -1;
    }
    const size_t at = output.find("in_flight ");
    int in_flight = -1;
    if (at == std::string::npos ||
        !absl::SimpleAtoi(
            output.substr(at + 10, output.find(',', at) - at - 10),
            &in_flight)) {
      return -1;
    }
    return in_flight;
  }

  ProcessChain chain_;
  std::unique_ptr<EdgeProxy> proxy_;
  absl::optional<Host> client_, edge_, frontend_host_;
};

TEST_F(EdgeAcrossHostsTest, TheDeadlineCrossesTheProxyBetweenHosts) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  std::string output;
  const int status = RunClientIn(
      *client_,
      {absl::StrCat("--target=", proxy_->address()), "--deadline=500ms",
       "--steps=5", "--step=10ms", "--request_id=edge-hosts"},
      &output);
  EXPECT_EQ(status, 0) << output;
  // "budgets: client 500ms -> frontend 498.6ms at arrival, ..."
  EXPECT_THAT(output, HasSubstr("budgets: client 500ms -> frontend 4"));
  const absl::optional<std::string> line =
      proxy_->WaitForAccessLine("request_id=edge-hosts", absl::Seconds(5));
  ASSERT_TRUE(line.has_value()) << proxy_->ErrorLog();
  EXPECT_EQ(LogField(*line, "client"), client_->address());
  EXPECT_EQ(LogField(*line, "grpc_status"), "0");

  // And a tight one ends DEADLINE_EXCEEDED, explained by the frontend.
  const int late =
      RunClientIn(*client_,
                  {absl::StrCat("--target=", proxy_->address()),
                   "--deadline=200ms", "--steps=100", "--step=10ms"},
                  &output);
  EXPECT_EQ(late, 14) << output;
  EXPECT_THAT(output, HasSubstr("DEADLINE_EXCEEDED: frontend:"));
}

// A client host that vanishes mid-call (a cut link: no FIN, no RST). nginx
// sends no PINGs, so the frontend's keepalive cannot see past it; TCP
// keepalive on nginx's listening socket (so_keepalive, from the frontend's
// --keepalive_time and --keepalive_timeout) finds the dead client, nginx
// closes the frontend's connection, and the backend stops.
TEST_F(EdgeAcrossHostsTest, TcpKeepaliveAtTheEdgeFindsADeadClientHost) {
  ASSERT_NO_FATAL_FAILURE(
      Start({"--keepalive_time=1s", "--keepalive_timeout=1s",
             "--min_ping_interval=500ms", "--default_deadline=60s"}));
  // 30 s of work and no deadline.
  auto client = StartClientIn(
      *client_, {absl::StrCat("--target=", proxy_->address()), "--steps=300",
                 "--step=100ms", "--request_id=edge-dead-client"});
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(WaitUntil([&] { return BackendInFlight() == 1; }, kStartTimeout))
      << "the call never reached the backend; client: " << client->output();
  ASSERT_TRUE(network_->CutLink(*client_).ok());
  const absl::Time cut = absl::Now();
  const absl::optional<std::string> line = chain_.backend->WaitForLine(
      "request_id=edge-dead-client", absl::Seconds(25));
  const absl::Duration noticed = absl::Now() - cut;
  ASSERT_TRUE(line.has_value()) << chain_.backend->output();
  EXPECT_THAT(*line, HasSubstr("code=CANCELLED"));
  RecordProperty("dead_client_noticed_ms",
                 static_cast<int>(absl::ToInt64Milliseconds(noticed)));
  // so_keepalive=1s:1s:3: silent 1 s, then 3 probes 1 s apart; slack for
  // a loaded machine. The work would have run 30 s.
  EXPECT_LT(noticed, absl::Seconds(10));
}

}  // namespace
}  // namespace deadline::testing
