#ifndef DEADLINE_TESTS_SUPPORT_NETWORK_FIXTURE_H_
#define DEADLINE_TESTS_SUPPORT_NETWORK_FIXTURE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tests/support/netns.h"
#include "tests/support/subprocess.h"

namespace deadline::testing {

// A test with hosts of its own: network namespaces joined by a bridge (see
// TestNetwork), and the project's binaries started inside them.
class NetworkFixture : public ::testing::Test {
 protected:
  using Host = TestNetwork::Host;

  // Makes the network, or skips the test with the reason where namespaces
  // cannot be made (network_ stays null then; a fatal failure if making it
  // failed otherwise). Call it from SetUp() or the test body.
  void MakeNetwork();

  // The hosts, in order; none (and a test failure) if one could not be
  // added.
  std::vector<Host> AddHosts(const std::vector<std::string>& names);

  // Starts `binary` (a runfile path, e.g. "server/backend/backend") in `host`,
  // listening on the host's address, port 0; sets `address` to where it
  // listens. Null (and a test failure) if it did not start.
  static std::unique_ptr<Subprocess> StartServerIn(
      const Host& host, absl::string_view binary,
      std::vector<std::string> flags, std::string* address);

  // Starts client/client in `host` with `flags`.
  static std::unique_ptr<Subprocess> StartClientIn(
      const Host& host, std::vector<std::string> flags);

  // Runs the client in `host` to completion: its exit status (-1: it hung),
  // with its output in `output`.
  static int RunClientIn(const Host& host, std::vector<std::string> flags,
                         std::string* output);

  // Declared before any process a test starts, so that it outlives them.
  std::unique_ptr<TestNetwork> network_;
};

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_NETWORK_FIXTURE_H_
