#include "tests/support/test_certs.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace deadline::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int status;
  std::string output;
};

// Runs /usr/bin/openssl (as the library under test does) with `args`.
Result Openssl(std::vector<std::string> args) {
  args.insert(args.begin(), "/usr/bin/openssl");
  auto process = Subprocess::Start(args);
  if (process == nullptr) return {-1, "cannot start openssl"};
  const absl::optional<int> status = process->Wait(absl::Seconds(60));
  return {status.value_or(-1), process->output()};
}

class TestCertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestCertificates> made =
        MakeTestCertificates({"10.200.0.2", "10.200.0.3"});
    ASSERT_TRUE(made.ok()) << made.status();
    certs_ = *std::move(made);
  }
  TestCertificates certs_;
};

TEST_F(TestCertsTest, LeavesVerifyAgainstTheirOwnCaForBothRoles) {
  for (const char* purpose : {"sslserver", "sslclient"}) {
    for (const auto& [ca, leaf] :
         std::vector<std::pair<std::string, std::string>>{
             {certs_.ca, certs_.server.cert},
             {certs_.ca, certs_.client.cert},
             {certs_.wrong_ca, certs_.wrong_server.cert},
             {certs_.wrong_ca, certs_.wrong_client.cert}}) {
      const Result run =
          Openssl({"verify", "-purpose", purpose, "-CAfile", ca, leaf});
      EXPECT_EQ(run.status, 0) << leaf << " " << purpose << ": " << run.output;
      EXPECT_THAT(run.output, HasSubstr(": OK")) << leaf;
    }
  }
}

TEST_F(TestCertsTest, LeavesDoNotVerifyAgainstTheOtherCa) {
  for (const auto& [ca, leaf] :
       std::vector<std::pair<std::string, std::string>>{
           {certs_.wrong_ca, certs_.server.cert},
           {certs_.wrong_ca, certs_.client.cert},
           {certs_.ca, certs_.wrong_server.cert},
           {certs_.ca, certs_.wrong_client.cert}}) {
    const Result run = Openssl({"verify", "-CAfile", ca, leaf});
    EXPECT_NE(run.status, 0) << leaf << ": " << run.output;
    EXPECT_THAT(run.output, Not(HasSubstr(": OK"))) << leaf;
  }
}

TEST_F(TestCertsTest, TheServerCertificateNamesLoopbackAndTheExtraIps) {
  const Result run = Openssl(
      {"x509", "-in", certs_.server.cert, "-noout", "-ext", "subjectAltName"});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("IP Address:127.0.0.1"));
  EXPECT_THAT(run.output, HasSubstr("IP Address:10.200.0.2"));
  EXPECT_THAT(run.output, HasSubstr("IP Address:10.200.0.3"));
  const Result subject =
      Openssl({"x509", "-in", certs_.server.cert, "-noout", "-subject"});
  EXPECT_THAT(subject.output, HasSubstr("CN = server"));
}

TEST_F(TestCertsTest, EachKeyMatchesItsCertificate) {
  for (const CertAndKey& leaf : {certs_.server, certs_.client,
                                 certs_.wrong_server, certs_.wrong_client}) {
    const Result from_cert =
        Openssl({"x509", "-in", leaf.cert, "-noout", "-pubkey"});
    const Result from_key = Openssl({"pkey", "-in", leaf.key, "-pubout"});
    ASSERT_EQ(from_cert.status, 0) << from_cert.output;
    ASSERT_EQ(from_key.status, 0) << from_key.output;
    EXPECT_THAT(from_cert.output, HasSubstr("BEGIN PUBLIC KEY"));
    EXPECT_EQ(from_cert.output, from_key.output) << leaf.cert;
  }
  // And the two CAs' server keys differ.
  EXPECT_NE(
      Openssl({"pkey", "-in", certs_.server.key, "-pubout"}).output,
      Openssl({"pkey", "-in", certs_.wrong_server.key, "-pubout"}).output);
}

TEST(TestCaTest, BadNamesAndBadIpsAreErrors) {
  EXPECT_EQ(TestCa::Create("has space").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<TestCa> ca = TestCa::Create("errors");
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(ca->Issue("../escape").status().code(),
            absl::StatusCode::kInvalidArgument);
  const absl::StatusOr<CertAndKey> bad_ip = ca->Issue("bad", {"not-an-ip"});
  EXPECT_EQ(bad_ip.status().code(), absl::StatusCode::kInternal);
}

TEST(TestCaTest, EveryCaGetsADirectoryOfItsOwn) {
  absl::StatusOr<TestCa> first = TestCa::Create("same");
  absl::StatusOr<TestCa> second = TestCa::Create("same");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->dir(), second->dir());
  EXPECT_NE(first->cert(), second->cert());
}

}  // namespace
}  // namespace deadline::testing
