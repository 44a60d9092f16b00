#ifndef DEADLINE_TESTS_SUPPORT_NETNS_H_
#define DEADLINE_TESTS_SUPPORT_NETNS_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace deadline::testing {

// A network of test hosts, each a Linux network namespace with an address of
// its own, joined by a bridge: traffic between two hosts crosses real
// interfaces (veth pairs) instead of loopback, and a link can be cut.
//
//   switch namespace:  br0 --+-- h1 ==veth== eth0 (host "a", 10.A.B.1/24)
//                            +-- h2 ==veth== eth0 (host "b", 10.A.B.2/24)
//
// Everything lives in namespaces of its own: nothing is added to the root
// namespace (the one the test runs in), and no host has a route out of its
// /24, so traffic reaches only this network's hosts. Each network gets its
// own 10.A.B.0/24; networks never share a bridge, so this only keeps logs
// unambiguous.
//
// Namespaces are named "dlt-<pid>-<n>-switch" and "dlt-<pid>-<n>-host-<name>"
// (<n> counts the networks of the process). Creating a network first
// deletes the "dlt-" namespaces of processes that no longer run (left by a
// test that was killed); the destructor deletes every namespace it made,
// which also removes their interfaces. A process still running in a host
// keeps that host's namespace alive (without a name) until it exits, so
// stop the host's processes first: declare the network before them.
//
// Needs root and iproute2's `ip`; see Available(). Not thread-safe.
class TestNetwork {
 public:
  // One host of the network. A value; valid while its network lives.
  class Host {
   public:
    // The name given to AddHost().
    const std::string& name() const { return name_; }
    // The network namespace, for `ip netns exec` and `ip -n`.
    const std::string& netns() const { return netns_; }
    // The host's IPv4 address, e.g. "10.131.4.2" (on its interface eth0).
    const std::string& address() const { return address_; }

    // The argv that runs `argv` inside this host: `ip netns exec NETNS
    // argv...`. `ip` execs argv[0] in place (no extra process), which
    // should be an absolute path. For Subprocess::Start and
    // StartServerProcess.
    std::vector<std::string> Command(std::vector<std::string> argv) const;

   private:
    friend class TestNetwork;
    Host(std::string name, std::string netns, std::string address,
         std::string port)
        : name_(std::move(name)),
          netns_(std::move(netns)),
          address_(std::move(address)),
          port_(std::move(port)) {}

    std::string name_;
    std::string netns_;
    std::string address_;
    std::string port_;  // Its link's end on the bridge, in the switch netns.
  };

  // OK when this process can make network namespaces, veth pairs and
  // bridges (it is root, `ip` exists, and a probe namespace was made and
  // deleted); otherwise FAILED_PRECONDITION saying why, meant for
  // GTEST_SKIP(). Probes once per process.
  static absl::Status Available();

  // Makes the switch namespace and its bridge, after deleting stale
  // namespaces. An error says which `ip` command failed and what it printed.
  static absl::StatusOr<std::unique_ptr<TestNetwork>> Create();

  TestNetwork(const TestNetwork&) = delete;
  TestNetwork& operator=(const TestNetwork&) = delete;
  ~TestNetwork();

  // Adds a host named `name` (letters, digits, '-' and '_', at most 32
  // characters) with the next free address of the network, its loopback and
  // its link up. At most 254 hosts.
  absl::StatusOr<Host> AddHost(absl::string_view name);

  // Takes `host`'s link down at the bridge: from then on its packets are
  // dropped both ways, but no connection is closed or reset, as when a
  // machine vanishes from the network. The host's own interface stays up.
  absl::Status CutLink(const Host& host);
  // Brings the link back up; connections that did not time out meanwhile
  // carry on.
  absl::Status RestoreLink(const Host& host);

  // The namespaces this network made (the switch first), for checks.
  const std::vector<std::string>& namespaces() const { return namespaces_; }

 private:
  TestNetwork(std::string prefix, std::string subnet)
      : prefix_(std::move(prefix)), subnet_(std::move(subnet)) {}
  // Sets `host`'s port on the bridge "up" or "down".
  absl::Status SetLink(const Host& host, absl::string_view state);

  const std::string prefix_;  // "dlt-<pid>-<n>-"
  const std::string subnet_;  // "10.A.B."
  std::vector<std::string> namespaces_;
  int hosts_ = 0;
};

// Runs `ip` with `args` (no shell) and returns what it printed, or an error
// naming the command, its exit status and output. Times out after 30 s.
absl::StatusOr<std::string> RunIp(const std::vector<std::string>& args);

// The names of all network namespaces (`ip netns list`), any owner.
absl::StatusOr<std::vector<std::string>> ListNetworkNamespaces();

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_NETNS_H_
