#ifndef DEADLINE_TESTS_SUPPORT_TEST_CERTS_H_
#define DEADLINE_TESTS_SUPPORT_TEST_CERTS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

// Certificates made at run time for TLS tests, by the `openssl` command
// (started without a shell): no key or certificate is ever checked in, and
// none outlives the test's temporary directory. Keys are EC P-256, so a
// whole set takes well under a second.
namespace deadline::testing {

// A certificate and its private key, as paths to PEM files.
struct CertAndKey {
  std::string cert;
  std::string key;
};

// A certificate authority: a key and a self-signed certificate, kept in a
// directory of its own. Not thread-safe.
class TestCa {
 public:
  // Makes a CA named `name` (its CN) in a new directory under `parent`
  // (default: $TEST_TMPDIR, else /tmp). INTERNAL with openssl's output when
  // openssl fails or cannot be found.
  static absl::StatusOr<TestCa> Create(const std::string& name,
                                       const std::string& parent = "");

  // The CA's certificate: what a peer trusts (--tls_ca, --tls_client_ca).
  const std::string& cert() const { return ca_.cert; }
  const std::string& key() const { return ca_.key; }
  const std::string& dir() const { return dir_; }

  // Issues a leaf certificate signed by this CA, with subject CN `cn` and a
  // subjectAltName of the IP addresses `ips`, usable both to serve TLS and
  // as a client certificate (extendedKeyUsage serverAuth and clientAuth),
  // valid from now for two days. Files are named after `cn`, which must be
  // unique per CA and a plain name ([A-Za-z0-9_.-]). INVALID_ARGUMENT for a
  // bad `cn`; INTERNAL with openssl's output when it fails (e.g. a bad IP).
  absl::StatusOr<CertAndKey> Issue(const std::string& cn,
                                   const std::vector<std::string>& ips = {
                                       "127.0.0.1"});

 private:
  TestCa(std::string name, std::string dir)
      : name_(std::move(name)), dir_(std::move(dir)) {}

  std::string name_;
  std::string dir_;
  CertAndKey ca_;
  int serial_ = 1;
};

// What most TLS tests need: a CA with a server and a client certificate,
// and an unrelated CA with a client certificate of its own, for the
// "signed by a CA the peer does not trust" cases.
struct TestCertificates {
  std::string ca;           // The trusted CA's certificate.
  CertAndKey server;        // CN "server", IP SANs 127.0.0.1 + extra.
  CertAndKey client;        // CN "client", signed by `ca`.
  std::string wrong_ca;     // An unrelated CA's certificate.
  CertAndKey wrong_server;  // CN "server", signed by `wrong_ca`.
  CertAndKey wrong_client;  // CN "client", signed by `wrong_ca`.
};

// Makes a TestCertificates whose server certificates also name
// `extra_ips` (e.g. addresses in network namespaces), under `parent` as
// TestCa::Create. INTERNAL when openssl fails.
absl::StatusOr<TestCertificates> MakeTestCertificates(
    const std::vector<std::string>& extra_ips = {},
    const std::string& parent = "");

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_TEST_CERTS_H_
