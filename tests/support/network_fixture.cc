#include "tests/support/network_fixture.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace deadline::testing {

void NetworkFixture::MakeNetwork() {
  const absl::Status available = TestNetwork::Available();
  if (!available.ok()) {
    GTEST_SKIP() << "no network namespaces here, so no test hosts: "
                 << available.message();
  }
  absl::StatusOr<std::unique_ptr<TestNetwork>> network = TestNetwork::Create();
  ASSERT_TRUE(network.ok()) << network.status();
  network_ = std::move(*network);
}

std::vector<NetworkFixture::Host> NetworkFixture::AddHosts(
    const std::vector<std::string>& names) {
  std::vector<Host> hosts;
  for (const std::string& name : names) {
    absl::StatusOr<Host> host = network_->AddHost(name);
    if (!host.ok()) {
      ADD_FAILURE() << host.status();
      return {};
    }
    hosts.push_back(*std::move(host));
  }
  return hosts;
}

std::unique_ptr<Subprocess> NetworkFixture::StartServerIn(
    const Host& host, absl::string_view binary, std::vector<std::string> flags,
    std::string* address) {
  flags.insert(flags.begin(), RunfilePath(binary));
  auto server = StartServerProcess(host.Command(std::move(flags)), address,
                                   absl::StrCat(host.address(), ":0"));
  if (server == nullptr) ADD_FAILURE() << binary << " did not start";
  return server;
}

std::unique_ptr<Subprocess> NetworkFixture::StartClientIn(
    const Host& host, std::vector<std::string> flags) {
  flags.insert(flags.begin(), RunfilePath("client/client"));
  return Subprocess::Start(host.Command(std::move(flags)));
}

int NetworkFixture::RunClientIn(const Host& host,
                                std::vector<std::string> flags,
                                std::string* output) {
  auto client = StartClientIn(host, std::move(flags));
  if (client == nullptr) return -1;
  const absl::optional<int> status = client->Wait(absl::Seconds(30));
  *output = client->output();
  return status.value_or(-1);
}

}  // namespace deadline::testing
