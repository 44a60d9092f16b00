#include "tests/support/test_certs.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "tests/support/subprocess.h"

namespace deadline::testing {
namespace {

// The openssl binary on $PATH (posix_spawn does not search it).
std::string OpensslPath() {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path ? path : "/usr/bin:/bin", ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/openssl");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "/usr/bin/openssl";
}

// Runs openssl with `args`; INTERNAL with its output unless it exits 0.
absl::Status RunOpenssl(std::vector<std::string> args) {
  args.insert(args.begin(), OpensslPath());
  auto process = Subprocess::Start(args);
  if (process == nullptr) {
    return absl::InternalError(absl::StrCat("cannot start ", args[0]));
  }
  const absl::optional<int> status = process->Wait(absl::Seconds(60));
  if (status != 0) {
    return absl::InternalError(absl::StrCat(
        absl::StrJoin(args, " "), ": ",
        status.has_value() ? absl::StrCat("exit ", *status) : "hung", "\n",
        process->output()));
  }
  return absl::OkStatus();
}

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// An openssl config whose [req] section needs no prompt, for subject `cn`,
// followed by `extensions` (a section of its own).
std::string RequestConfig(absl::string_view cn, absl::string_view extensions) {
  return absl::StrCat(
      "[req]\n"
      "distinguished_name = dn\n"
      "prompt = no\n"
      "[dn]\n"
      "CN = ",
      cn, "\n", extensions);
}

bool IsPlainName(absl::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<TestCa> TestCa::Create(const std::string& name,
                                      const std::string& parent) {
  if (!IsPlainName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA name must be [A-Za-z0-9_.-]+, got '", name, "'"));
  }
  std::string base = parent;
  if (base.empty()) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    base = tmp != nullptr ? tmp : "/tmp";
  }
  std::string pattern = absl::StrCat(base, "/ca-", name, "-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot make a directory like ",
                                            pattern, " under ", base));
  }
  TestCa ca(name, pattern);
  ca.ca_ = {absl::StrCat(ca.dir_, "/ca.pem"),
            absl::StrCat(ca.dir_, "/ca-key.pem")};
  const std::string config = absl::StrCat(ca.dir_, "/ca.cnf");
  if (absl::Status written = WriteFile(
          config, RequestConfig(name,
                                "[ca_ext]\n"
                                "basicConstraints = critical, CA:TRUE\n"
                                "keyUsage = critical, keyCertSign, "
                                "cRLSign\n"
                                "subjectKeyIdentifier = hash\n"));
      !written.ok()) {
    return written;
  }
  if (absl::Status made =
          RunOpenssl({"req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                      ca.ca_.key, "-out", ca.ca_.cert, "-days", "2", "-config",
                      config, "-extensions", "ca_ext"});
      !made.ok()) {
    return made;
  }
  return ca;
}

absl::StatusOr<CertAndKey> TestCa::Issue(const std::string& cn,
                                         const std::vector<std::string>& ips) {
  if (!IsPlainName(cn)) {
    return absl::InvalidArgumentError(
        absl::StrCat("CN must be [A-Za-z0-9_.-]+, got '", cn, "'"));
  }
  const std::string stem = absl::StrCat(dir_, "/", cn);
  const CertAndKey leaf = {absl::StrCat(stem, ".pem"),
                           absl::StrCat(stem, "-key.pem")};
  const std::string config = absl::StrCat(stem, ".cnf");
  const std::string request = absl::StrCat(stem, ".csr");
  std::string extensions =
      "[leaf_ext]\n"
      "basicConstraints = critical, CA:FALSE\n"
      "keyUsage = critical, digitalSignature\n"
      "extendedKeyUsage = serverAuth, clientAuth\n"
      "subjectKeyIdentifier = hash\n"
      "authorityKeyIdentifier = keyid\n";
  if (!ips.empty()) {
    absl::StrAppend(&extensions, "subjectAltName = ",
                    absl::StrJoin(ips, ", ",
                                  [](std::string* out, const std::string& ip) {
                                    absl::StrAppend(out, "IP:", ip);
                                  }),
                    "\n");
  }
  if (absl::Status written = WriteFile(config, RequestConfig(cn, extensions));
      !written.ok()) {
    return written;
  }
  if (absl::Status requested =
          RunOpenssl({"req", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                      leaf.key, "-out", request, "-config", config});
      !requested.ok()) {
    return requested;
  }
  if (absl::Status signed_by_ca = RunOpenssl(
          {"x509", "-req", "-in", request, "-CA", ca_.cert, "-CAkey", ca_.key,
           "-set_serial", absl::StrCat(serial_++), "-days", "2", "-out",
           leaf.cert, "-extfile", config, "-extensions", "leaf_ext"});
      !signed_by_ca.ok()) {
    return signed_by_ca;
  }
  return leaf;
}

absl::StatusOr<TestCertificates> MakeTestCertificates(
    const std::vector<std::string>& extra_ips, const std::string& parent) {
  std::vector<std::string> ips = {"127.0.0.1"};
  ips.insert(ips.end(), extra_ips.begin(), extra_ips.end());
  TestCertificates made;
  for (bool wrong : {false, true}) {
    absl::StatusOr<TestCa> ca =
        TestCa::Create(wrong ? "wrong-ca" : "test-ca", parent);
    if (!ca.ok()) return ca.status();
    absl::StatusOr<CertAndKey> server = ca->Issue("server", ips);
    if (!server.ok()) return server.status();
    absl::StatusOr<CertAndKey> client = ca->Issue("client", {});
    if (!client.ok()) return client.status();
    (wrong ? made.wrong_ca : made.ca) = ca->cert();
    (wrong ? made.wrong_server : made.server) = *std::move(server);
    (wrong ? made.wrong_client : made.client) = *std::move(client);
  }
  return made;
}

}  // namespace deadline::testing
