#include "tests/support/netns.h"

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "tests/support/subprocess.h"

namespace deadline::testing {
namespace {

// Every namespace this library makes starts with this, then "<pid>-".
constexpr absl::string_view kPrefix = "dlt-";

// iproute2's `ip`. Subprocess runs a path, not a name looked up in PATH
// (and Bazel's test PATH has no sbin directory).
const std::string& IpPath() {
  static const std::string* const path = [] {
    for (const char* candidate :
         {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
      if (access(candidate, X_OK) == 0) return new std::string(candidate);
    }
    return new std::string();
  }();
  return *path;
}

// A fresh "dlt-<pid>-<n>-" for each network or probe of this process.
std::string NewPrefix() {
  static std::atomic<int> next{0};
  return absl::StrCat(kPrefix, getpid(), "-", next.fetch_add(1), "-");
}

// The pid in a name made by NewPrefix(), if it is one.
absl::optional<pid_t> OwnerPid(absl::string_view netns) {
  if (!absl::ConsumePrefix(&netns, kPrefix)) return absl::nullopt;
  const size_t dash = netns.find('-');
  int pid = 0;
  if (dash == absl::string_view::npos ||
      !absl::SimpleAtoi(netns.substr(0, dash), &pid) || pid <= 0) {
    return absl::nullopt;
  }
  return pid;
}

bool ProcessRuns(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

// Deletes the namespaces this library made in processes that have ended.
void DeleteStaleNamespaces() {
  absl::StatusOr<std::vector<std::string>> names = ListNetworkNamespaces();
  if (!names.ok()) return;  // Creating the network will say what is wrong.
  for (const std::string& name : *names) {
    const absl::optional<pid_t> pid = OwnerPid(name);
    if (!pid.has_value() || ProcessRuns(*pid)) continue;
    const absl::Status deleted = RunIp({"netns", "delete", name}).status();
    if (!deleted.ok()) {
      std::fprintf(stderr, "netns: cannot delete stale %s: %s\n", name.c_str(),
                   deleted.ToString().c_str());
    }
  }
}

bool ValidHostName(absl::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

absl::Status Probe() {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "network namespaces need root; this test runs as uid ", geteuid()));
  }
  if (IpPath().empty()) {
    return absl::FailedPreconditionError(
        "no `ip` command (iproute2) in /usr/sbin, /sbin, /usr/bin or /bin");
  }
  const std::string probe = absl::StrCat(NewPrefix(), "probe");
  absl::Status status = RunIp({"netns", "add", probe}).status();
  if (status.ok()) {
    status =
        RunIp({"-n", probe, "link", "add", "br0", "type", "bridge"}).status();
    if (status.ok()) {
      status = RunIp({"-n", probe, "link", "add", "v0", "type", "veth", "peer",
                      "name", "v1"})
                   .status();
    }
    RunIp({"netns", "delete", probe}).IgnoreError();
  }
  if (!status.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot make network namespaces, bridges and veth pairs here: ",
        status.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RunIp(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {IpPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string command = absl::StrJoin(argv, " ");
  std::unique_ptr<Subprocess> ip = Subprocess::Start(argv);
  if (ip == nullptr) {
    return absl::InternalError(absl::StrCat("cannot start `", command, "`"));
  }
  const absl::optional<int> exit_status = ip->Wait(absl::Seconds(30));
  if (!exit_status.has_value()) {
    return absl::DeadlineExceededError(
        absl::StrCat("`", command, "` still runs after 30s"));
  }
  if (*exit_status != 0) {
    return absl::InternalError(absl::StrCat("`", command, "` exited with ",
                                            *exit_status, ": ", ip->output()));
  }
  return ip->output();
}

absl::StatusOr<std::vector<std::string>> ListNetworkNamespaces() {
  absl::StatusOr<std::string> listing = RunIp({"netns", "list"});
  if (!listing.ok()) return listing.status();
  // One line per namespace: "NAME" or "NAME (id: N)".
  std::vector<std::string> names;
  for (absl::string_view line :
       absl::StrSplit(*listing, '\n', absl::SkipWhitespace())) {
    names.emplace_back(line.substr(0, line.find(' ')));
  }
  return names;
}

std::vector<std::string> TestNetwork::Host::Command(
    std::vector<std::string> argv) const {
  argv.insert(argv.begin(), {IpPath(), "netns", "exec", netns_});
  return argv;
}

absl::Status TestNetwork::Available() {
  static const absl::Status* const status = new absl::Status(Probe());
  return *status;
}

absl::StatusOr<std::unique_ptr<TestNetwork>> TestNetwork::Create() {
  DeleteStaleNamespaces();
  const std::string prefix = NewPrefix();
  // 10.A.B.0/24 from this process and network, so that the addresses in
  // two tests' logs differ.
  static std::atomic<int> networks{0};
  const std::string subnet = absl::StrCat("10.", 64 + getpid() % 128, ".",
                                          networks.fetch_add(1) % 256, ".");
  std::unique_ptr<TestNetwork> network(new TestNetwork(prefix, subnet));

  const std::string netns = absl::StrCat(prefix, "switch");
  absl::Status status = RunIp({"netns", "add", netns}).status();
  if (!status.ok()) return status;
  network->namespaces_.push_back(netns);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"-n", netns, "link", "set", "lo", "up"},
           {"-n", netns, "link", "add", "br0", "type", "bridge"},
           {"-n", netns, "link", "set", "br0", "up"}}) {
    status = RunIp(args).status();
    if (!status.ok()) return status;  // The destructor deletes netns.
  }
  return network;
}

TestNetwork::~TestNetwork() {
  for (const std::string& netns : namespaces_) {
    const absl::Status deleted = RunIp({"netns", "delete", netns}).status();
    if (!deleted.ok()) {
      std::fprintf(stderr, "netns: cannot delete %s: %s\n", netns.c_str(),
                   deleted.ToString().c_str());
    }
  }
}

absl::StatusOr<TestNetwork::Host> TestNetwork::AddHost(absl::string_view name) {
  if (!ValidHostName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad host name '", name,
                     "': use 1 to 32 letters, digits, '-' and '_'"));
  }
  if (hosts_ == 254) {
    return absl::ResourceExhaustedError("a TestNetwork has at most 254 hosts");
  }
  const int number = ++hosts_;
  const std::string bridge_netns = namespaces_.front();
  Host host(std::string(name), absl::StrCat(prefix_, "host-", name),
            absl::StrCat(subnet_, number), absl::StrCat("h", number));

  absl::Status status = RunIp({"netns", "add", host.netns_}).status();
  if (!status.ok()) return status;
  namespaces_.push_back(host.netns_);
  // The pair is made in the switch namespace with its far end placed
  // straight into the host's, so neither end ever exists in the root one.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"-n", host.netns_, "link", "set", "lo", "up"},
           {"-n", bridge_netns, "link", "add", host.port_, "type", "veth",
            "peer", "name", "eth0", "netns", host.netns_},
           {"-n", bridge_netns, "link", "set", host.port_, "master", "br0",
            "up"},
           {"-n", host.netns_, "addr", "add",
            absl::StrCat(host.address_, "/24"), "dev", "eth0"},
           {"-n", host.netns_, "link", "set", "eth0", "up"}}) {
    status = RunIp(args).status();
    if (!status.ok()) return status;
  }
  return host;
}

absl::Status TestNetwork::SetLink(const Host& host, absl::string_view state) {
  if (!absl::StartsWith(host.netns_, prefix_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("host ", host.name_, " is not on this network"));
  }
  return RunIp({"-n", namespaces_.front(), "link", "set", host.port_,
                std::string(state)})
      .status();
}

absl::Status TestNetwork::CutLink(const Host& host) {
  return SetLink(host, "down");
}

absl::Status TestNetwork::RestoreLink(const Host& host) {
  return SetLink(host, "up");
}

}  // namespace deadline::testing
