// TLS and mutual TLS on every hop, with certificates made at run time: a
// backend in this process (who may connect, and who is refused), then the
// real binaries end to end (client -> frontend -> backend over mTLS), the
// plaintext warning, and the TLS flags' errors.
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_time.h"
#include "common/time_util.h"
#include "common/transport.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/auth_context.h"
#include "gtest/gtest.h"
#include "proto/deadline.grpc.pb.h"
#include "server/serving/server_runner.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_certs.h"
#include "tests/support/test_servers.h"

namespace deadline::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kCallDeadline = absl::Seconds(10);
constexpr absl::Duration kRunTimeout = absl::Seconds(20);
// A refused handshake must fail the call long before its deadline: the
// channel gives up on the connection, it does not wait for the deadline.
constexpr absl::Duration kRefusedWithin = absl::Seconds(5);

// One set of certificates for the whole test binary (openssl takes a few
// hundred milliseconds to make it).
const absl::StatusOr<TestCertificates>& Certs() {
  static const auto* const certs =
      new absl::StatusOr<TestCertificates>(MakeTestCertificates());
  return *certs;
}

struct CallResult {
  grpc::Status status;
  absl::Duration elapsed;
  // The peer's transport security as the client saw it ("ssl", "insecure"),
  // empty when the call did not connect.
  std::string security;
};

// One Backend.Work call to `address` on a new channel with `client_tls`
// (see ChannelCredentialsFor), with a subchannel of its own, so that no
// earlier call's connection (or its failure) is reused.
CallResult CallWork(const std::string& address, const TlsFiles& client_tls) {
  CallResult result;
  const absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      ChannelCredentialsFor(client_tls);
  if (!credentials.ok()) {
    ADD_FAILURE() << credentials.status();
    result.status = grpc::Status(grpc::StatusCode::INTERNAL, "no credentials");
    return result;
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = deadline::v1::Backend::NewStub(
      grpc::CreateCustomChannel(address, *credentials, args));
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  context.set_deadline(ToGrpcDeadline(start + kCallDeadline));
  deadline::v1::WorkReply reply;
  result.status = stub->Work(&context, Work(1, absl::Milliseconds(1)), &reply);
  result.elapsed = absl::Now() - start;
  if (const std::shared_ptr<const grpc::AuthContext> auth =
          context.auth_context()) {
    for (const grpc::string_ref& value :
         auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME)) {
      result.security.assign(value.data(), value.size());
    }
  }
  if (result.status.ok() && reply.steps_done() != 1) {
    result.status =
        grpc::Status(grpc::StatusCode::INTERNAL, "the work was not done");
  }
  return result;
}

// Expects `call` refused at the connection: UNAVAILABLE, well before its
// deadline.
void ExpectRefused(const CallResult& call, absl::string_view what) {
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << what << ": " << call.status.error_message();
  EXPECT_LT(call.elapsed, kRefusedWithin) << what;
  // What gRPC 1.51 says, for the report and for anyone debugging a refusal.
  std::printf("%s: %s: %s\n", std::string(what).c_str(),
              absl::StatusCodeToString(
                  static_cast<absl::StatusCode>(call.status.error_code()))
                  .c_str(),
              call.status.error_message().c_str());
}

ServingOptions TlsServing(const CertAndKey& identity,
                          const std::string& client_ca = "") {
  ServingOptions serving;
  serving.tls = {identity.cert, identity.key, client_ca};
  return serving;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Certs().ok()) << Certs().status();
    certs_ = &*Certs();
  }
  const TestCertificates* certs_ = nullptr;
};

TEST_F(TlsTest, ACallOverTlsSucceedsWhenTheClientTrustsTheServersCa) {
  TestBackend backend({}, BackendApi::kCallback, TlsServing(certs_->server));
  const CallResult call = CallWork(backend.address(), {"", "", certs_->ca});
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(call.security, "ssl");
  EXPECT_TRUE(backend.WaitForEnded(1));
}

TEST_F(TlsTest, AClientTrustingAnotherCaIsRefused) {
  TestBackend backend({}, BackendApi::kCallback, TlsServing(certs_->server));
  ExpectRefused(CallWork(backend.address(), {"", "", certs_->wrong_ca}),
                "client trusts the wrong CA");
  // The server is fine: a client with the right CA gets through.
  EXPECT_TRUE(CallWork(backend.address(), {"", "", certs_->ca}).status.ok());
}

TEST_F(TlsTest, AServerWithACertificateFromAnotherCaIsRefused) {
  TestBackend backend({}, BackendApi::kCallback,
                      TlsServing(certs_->wrong_server));
  ExpectRefused(CallWork(backend.address(), {"", "", certs_->ca}),
                "server's certificate from the wrong CA");
  EXPECT_EQ(backend.stats().started, 0);
}

TEST_F(TlsTest, AServerCertificateThatDoesNotNameTheAddressIsRefused) {
  // The client certificate names no IP: signed by the right CA, but not
  // for 127.0.0.1, so the client's host check refuses it.
  TestBackend backend({}, BackendApi::kCallback, TlsServing(certs_->client));
  ExpectRefused(CallWork(backend.address(), {"", "", certs_->ca}),
                "server's certificate does not name 127.0.0.1");
}

TEST_F(TlsTest, APlaintextClientIsRefusedByATlsServer) {
  TestBackend backend({}, BackendApi::kCallback, TlsServing(certs_->server));
  ExpectRefused(CallWork(backend.address(), {}), "plaintext client");
  EXPECT_EQ(backend.stats().started, 0);
}

TEST_F(TlsTest, ATlsClientIsRefusedByAPlaintextServer) {
  TestBackend backend;
  ExpectRefused(CallWork(backend.address(), {"", "", certs_->ca}),
                "TLS client to a plaintext server");
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutACertificateFromItsCa) {
  TestBackend backend({}, BackendApi::kCallback,
                      TlsServing(certs_->server, certs_->ca));
  ExpectRefused(CallWork(backend.address(), {"", "", certs_->ca}),
                "mTLS, client without a certificate");
  ExpectRefused(
      CallWork(backend.address(), {certs_->wrong_client.cert,
                                   certs_->wrong_client.key, certs_->ca}),
      "mTLS, client certificate from the wrong CA");
  ExpectRefused(CallWork(backend.address(), {}), "mTLS, plaintext client");
  EXPECT_EQ(backend.stats().started, 0);

  const CallResult call = CallWork(
      backend.address(), {certs_->client.cert, certs_->client.key, certs_->ca});
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(call.security, "ssl");
  EXPECT_TRUE(backend.WaitForEnded(1));
  EXPECT_TRUE(WaitUntil([&] { return backend.stats().ok == 1; }));
}

TEST_F(TlsTest, ServerCredentialsRejectHalfGivenOrUnreadableFiles) {
  const CertAndKey& server = certs_->server;
  const std::string missing = absl::StrCat(server.cert, ".missing");
  struct Case {
    TlsFiles tls;
    const char* names;
  };
  for (const Case& bad : std::vector<Case>{
           {{server.cert, "", ""}, "--tls_key"},
           {{"", server.key, ""}, "--tls_cert"},
           {{"", "", certs_->ca}, "--tls_client_ca"},
           {{missing, server.key, ""}, "--tls_cert"},
           {{server.cert, missing, ""}, "--tls_key"},
           {{server.cert, server.key, missing}, "--tls_client_ca"},
       }) {
    const auto credentials = ServerCredentialsFor(bad.tls);
    EXPECT_EQ(credentials.status().code(), absl::StatusCode::kInvalidArgument)
        << bad.names;
    EXPECT_THAT(credentials.status().message(), HasSubstr(bad.names));
  }
}

// The real binaries, as separate processes.

// A binary of this workspace with `flags`; nullptr when it cannot start.
std::unique_ptr<Subprocess> StartBinary(absl::string_view binary,
                                        std::vector<std::string> flags) {
  flags.insert(flags.begin(), RunfilePath(binary));
  return Subprocess::Start(flags);
}

// A server binary on `listen` (HOST:0); nullptr when it does not come up.
std::unique_ptr<Subprocess> StartServerBinary(
    absl::string_view binary, std::vector<std::string> flags,
    std::string* address, absl::string_view listen = "127.0.0.1:0") {
  flags.insert(flags.begin(), RunfilePath(binary));
  return StartServerProcess(std::move(flags), address, listen);
}

// Runs a binary to completion; its exit status (-1: hung) and output.
int RunBinary(absl::string_view binary, std::vector<std::string> flags,
              std::string* output) {
  auto process = StartBinary(binary, std::move(flags));
  if (process == nullptr) return -1;
  const absl::optional<int> status = process->Wait(kRunTimeout);
  *output = process->output();
  return status.value_or(-1);
}

// The Duration after "budget=" in a call log line; InfiniteDuration when
// there is none that parses.
absl::Duration BudgetIn(absl::string_view line) {
  const size_t at = line.find(" budget=");
  if (at == absl::string_view::npos) return absl::InfiniteDuration();
  absl::string_view value = line.substr(at + 8);
  value = value.substr(0, value.find(' '));
  absl::Duration budget;
  return absl::ParseDuration(value, &budget) ? budget
                                             : absl::InfiniteDuration();
}

// A server's TLS flags: `identity`, and mutual TLS when `client_ca` is set.
std::vector<std::string> Flags(const CertAndKey& identity,
                               const std::string& client_ca = "") {
  std::vector<std::string> flags = {absl::StrCat("--tls_cert=", identity.cert),
                                    absl::StrCat("--tls_key=", identity.key)};
  if (!client_ca.empty()) {
    flags.push_back(absl::StrCat("--tls_client_ca=", client_ca));
  }
  return flags;
}

// The flags of `a`, then `b`, then `c`.
std::vector<std::string> Join(std::vector<std::string> a,
                              const std::vector<std::string>& b,
                              const std::vector<std::string>& c = {}) {
  a.insert(a.end(), b.begin(), b.end());
  a.insert(a.end(), c.begin(), c.end());
  return a;
}

// One identity per hop, all signed by one CA made for the test.
class TlsBinariesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCa> ca = TestCa::Create("chain-ca");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = ca->cert();
    for (const auto& [name, identity] :
         {std::pair<const char*, CertAndKey*>{"backend", &backend_id_},
          {"frontend", &frontend_id_},
          {"client", &client_id_}}) {
      absl::StatusOr<CertAndKey> issued = ca->Issue(name);
      ASSERT_TRUE(issued.ok()) << issued.status();
      *identity = *std::move(issued);
    }
  }

  // Starts the backend with `backend_flags` and a frontend calling it with
  // `frontend_flags` (both --log=all).
  void StartChain(const std::vector<std::string>& backend_flags,
                  const std::vector<std::string>& frontend_flags) {
    backend_ =
        StartServerBinary("server/backend/backend",
                          Join({"--log=all", "--reserve=20ms"}, backend_flags),
                          &backend_address_);
    ASSERT_NE(backend_, nullptr) << "backend did not start";
    frontend_ =
        StartServerBinary("server/frontend/frontend",
                          Join({"--log=all", "--reserve=50ms",
                                absl::StrCat("--backend=", backend_address_)},
                               frontend_flags),
                          &frontend_address_);
    ASSERT_NE(frontend_, nullptr) << "frontend did not start";
  }

  int RunClient(const std::vector<std::string>& flags, std::string* output) {
    return RunBinary(
        "client/client",
        Join({absl::StrCat("--target=", frontend_address_)}, flags), output);
  }

  std::string ca_;
  CertAndKey backend_id_;
  CertAndKey frontend_id_;
  CertAndKey client_id_;
  std::unique_ptr<Subprocess> backend_;
  std::unique_ptr<Subprocess> frontend_;
  std::string backend_address_;
  std::string frontend_address_;
};

TEST_F(TlsBinariesTest, MutualTlsOnEveryHopStillPropagatesTheDeadline) {
  StartChain(Flags(backend_id_, ca_),
             Join(Flags(frontend_id_, ca_), {absl::StrCat("--tls_ca=", ca_)}));
  std::string output;
  // Under 1 s, grpc-timeout travels in exact milliseconds.
  ASSERT_EQ(RunClient(Join({"--deadline=900ms", "--steps=3", "--step=1ms",
                            "--request_id=over-mtls"},
                           Flags(client_id_), {absl::StrCat("--tls_ca=", ca_)}),
                      &output),
            0)
      << output;
  EXPECT_THAT(output, HasSubstr("status:  OK"));
  EXPECT_THAT(output, HasSubstr("3 steps done"));

  const absl::optional<std::string> frontend_line =
      frontend_->WaitForLine("request_id=over-mtls", kRunTimeout);
  ASSERT_TRUE(frontend_line.has_value()) << frontend_->output();
  const absl::optional<std::string> backend_line =
      backend_->WaitForLine("request_id=over-mtls", kRunTimeout);
  ASSERT_TRUE(backend_line.has_value()) << backend_->output();
  EXPECT_THAT(*backend_line, HasSubstr("code=OK"));
  // The deadline crossed both TLS hops: each hop saw less than the client's
  // 900 ms, the backend less than the frontend (its 50 ms reserve was kept
  // back).
  const absl::Duration at_frontend = BudgetIn(*frontend_line);
  const absl::Duration at_backend = BudgetIn(*backend_line);
  EXPECT_LT(at_frontend, absl::Milliseconds(900)) << *frontend_line;
  EXPECT_GT(at_frontend, absl::Milliseconds(400)) << *frontend_line;
  EXPECT_LT(at_backend, at_frontend - absl::Milliseconds(40)) << *backend_line;
  EXPECT_GT(at_backend, absl::Milliseconds(300)) << *backend_line;
}

TEST_F(TlsBinariesTest, ClientsWithoutTheRightCertificateAreRefused) {
  StartChain(Flags(backend_id_, ca_),
             Join(Flags(frontend_id_, ca_), {absl::StrCat("--tls_ca=", ca_)}));
  absl::StatusOr<TestCa> other = TestCa::Create("other-ca");
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<CertAndKey> stranger = other->Issue("stranger");
  ASSERT_TRUE(stranger.ok()) << stranger.status();

  const std::vector<std::pair<const char*, std::vector<std::string>>> cases = {
      {"plaintext", {}},
      {"no client certificate", {absl::StrCat("--tls_ca=", ca_)}},
      {"client certificate from another CA",
       Join(Flags(*stranger), {absl::StrCat("--tls_ca=", ca_)})},
      {"trusts another CA",
       Join(Flags(client_id_), {absl::StrCat("--tls_ca=", other->cert())})},
  };
  for (const auto& [what, tls_flags] : cases) {
    std::string output;
    EXPECT_EQ(RunClient(Join({"--deadline=10s", "--steps=1", "--step=1ms"},
                             tls_flags),
                        &output),
              24)
        << what << ": " << output;
    EXPECT_THAT(output, HasSubstr("UNAVAILABLE")) << what;
  }
  // None of them reached the frontend's handler, so none was logged.
  EXPECT_THAT(frontend_->output(), Not(HasSubstr("method=Fetch")));
}

TEST_F(TlsBinariesTest, AFrontendWithoutAClientCertificateGetsUnavailable) {
  // The backend requires client certificates; the frontend verifies the
  // backend (--tls_ca) but has none to present. The client -> frontend hop
  // is plaintext on loopback.
  StartChain(Flags(backend_id_, ca_), {absl::StrCat("--tls_ca=", ca_)});
  std::string output;
  EXPECT_EQ(RunClient({"--deadline=10s", "--steps=1", "--step=1ms",
                       "--request_id=no-client-cert"},
                      &output),
            24)
      << output;
  EXPECT_THAT(output, HasSubstr("UNAVAILABLE"));
  // Named as the frontend's call to its backend, not the client's own call.
  EXPECT_THAT(output, HasSubstr("backend call: "));
  const absl::optional<std::string> frontend_line =
      frontend_->WaitForLine("request_id=no-client-cert", kRunTimeout);
  ASSERT_TRUE(frontend_line.has_value()) << frontend_->output();
  EXPECT_THAT(*frontend_line, HasSubstr("code=UNAVAILABLE"));
  EXPECT_THAT(backend_->output(), Not(HasSubstr("method=Work")));
}

constexpr char kPlaintextWarning[] = "warning: serving plaintext";

TEST_F(TlsBinariesTest, PlaintextBeyondLoopbackWarns) {
  std::string address;
  auto backend =
      StartServerBinary("server/backend/backend", {}, &address, "0.0.0.0:0");
  ASSERT_NE(backend, nullptr);
  const std::string& output = backend->output();
  const size_t at = output.find(kPlaintextWarning);
  ASSERT_NE(at, std::string::npos) << output;
  const std::string warning = output.substr(at, output.find('\n', at) - at);
  EXPECT_THAT(warning, HasSubstr(absl::StrCat("plaintext on ", address)));
  EXPECT_THAT(warning, HasSubstr("--tls_cert"));
}

TEST_F(TlsBinariesTest, TlsBeyondLoopbackAndPlaintextOnLoopbackDoNotWarn) {
  std::string address;
  auto tls = StartServerBinary("server/backend/backend", Flags(backend_id_),
                               &address, "0.0.0.0:0");
  ASSERT_NE(tls, nullptr);
  EXPECT_THAT(tls->output(), HasSubstr("listening on"));
  EXPECT_THAT(tls->output(), Not(HasSubstr("warning")));
  auto loopback = StartServerBinary("server/frontend/frontend", {}, &address);
  ASSERT_NE(loopback, nullptr);
  EXPECT_THAT(loopback->output(), HasSubstr("listening on 127.0.0.1:"));
  EXPECT_THAT(loopback->output(), Not(HasSubstr("warning")));
}

TEST_F(TlsBinariesTest, BadTlsFlagsExitTwoNamingTheFlag) {
  const std::string missing = absl::StrCat(ca_, ".missing");
  const std::string cert = absl::StrCat("--tls_cert=", backend_id_.cert);
  const std::string key = absl::StrCat("--tls_key=", backend_id_.key);
  struct Case {
    const char* binary;
    std::vector<std::string> flags;
    const char* names;
  };
  const std::vector<Case> cases = {
      {"server/backend/backend", {cert}, "--tls_key"},
      {"server/backend/backend", {key}, "--tls_cert"},
      {"server/backend/backend",
       {absl::StrCat("--tls_cert=", missing), key},
       "--tls_cert"},
      {"server/backend/backend",
       {cert, key, absl::StrCat("--tls_client_ca=", missing)},
       "--tls_client_ca"},
      {"server/backend/backend",
       {absl::StrCat("--tls_client_ca=", ca_)},
       "--tls_client_ca"},
      {"server/frontend/frontend", {cert}, "--tls_key"},
      {"server/frontend/frontend",
       {absl::StrCat("--tls_ca=", missing)},
       "--tls_ca"},
      {"client/client", {cert, key}, "--tls_ca"},
      {"client/client", {absl::StrCat("--tls_ca=", missing)}, "--tls_ca"},
      {"client/client", {absl::StrCat("--tls_ca=", ca_), cert}, "--tls_key"},
  };
  for (const Case& bad : cases) {
    std::string output;
    std::vector<std::string> flags = bad.flags;
    // Servers would otherwise start on their fixed default ports.
    if (absl::string_view(bad.binary) != "client/client") {
      flags.push_back("--listen=127.0.0.1:0");
    }
    EXPECT_EQ(RunBinary(bad.binary, flags, &output), 2)
        << bad.binary << " " << bad.names << ": " << output;
    EXPECT_THAT(output, HasSubstr("error: ")) << bad.binary << " " << bad.names;
    EXPECT_THAT(output, HasSubstr(bad.names)) << bad.binary << " " << bad.names;
  }
}

TEST_F(TlsBinariesTest, FilesThatAreNotValidPemStopTheServerNamingTheFlags) {
  // gRPC 1.51 reads PEM only when it binds the port, so these pass the flag
  // checks and fail at start (exit 1), with gRPC's own reason in its log.
  const std::string garbage = absl::StrCat(backend_id_.cert, ".garbage");
  {
    std::ofstream out(garbage);
    out << "not a PEM file\n";
  }
  const std::string cert = absl::StrCat("--tls_cert=", backend_id_.cert);
  const std::string key = absl::StrCat("--tls_key=", backend_id_.key);
  const std::vector<std::vector<std::string>> cases = {
      {absl::StrCat("--tls_cert=", garbage), key},
      {cert, absl::StrCat("--tls_key=", garbage)},
      {cert, absl::StrCat("--tls_key=", client_id_.key)},  // Not its key.
      {cert, key, absl::StrCat("--tls_client_ca=", garbage)},
  };
  for (std::vector<std::string> flags : cases) {
    flags.push_back("--listen=127.0.0.1:0");
    std::string output;
    EXPECT_EQ(RunBinary("server/backend/backend", flags, &output), 1) << output;
    EXPECT_THAT(output, HasSubstr("backend: cannot listen on 127.0.0.1:0"));
    EXPECT_THAT(output, HasSubstr("--tls_cert, --tls_key or --tls_client_ca"));
    EXPECT_THAT(output, Not(HasSubstr("listening on")));
  }
}

}  // namespace
}  // namespace deadline::testing
