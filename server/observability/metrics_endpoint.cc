#include "server/observability/metrics_endpoint.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <utility>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace deadline {
namespace {

// Opens and closes a TCP connection to `address` (HOST:PORT; a wildcard
// host means this one), ignoring any error.
void Knock(const std::string& address) {
  const size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  if (host == "0.0.0.0") host = "127.0.0.1";
  addrinfo hints = {};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), address.c_str() + colon + 1, &hints, &found) !=
      0) {
    return;
  }
  const int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    connect(fd, found->ai_addr, found->ai_addrlen);
    close(fd);
  }
  freeaddrinfo(found);
}

}  // namespace

absl::Status ValidateMetricsListen(absl::string_view listen) {
  const size_t colon = listen.rfind(':');
  uint32_t port = 0;
  const bool valid =
      colon != absl::string_view::npos && colon > 0 &&
      listen.find_first_of("[]/ ") == absl::string_view::npos &&
      listen.substr(0, colon).find(':') == absl::string_view::npos &&
      absl::SimpleAtoi(listen.substr(colon + 1), &port) && port <= 65535 &&
      std::all_of(listen.begin() + colon + 1, listen.end(),
                  [](char c) { return absl::ascii_isdigit(c); });
  if (valid) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "--metrics_listen must be HOST:PORT, an IPv4 address or a name and a "
      "port (0 picks a free one), not \"",
      listen, "\""));
}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    absl::string_view listen,
    const std::shared_ptr<prometheus::Collectable>& metrics) {
  if (absl::Status valid = ValidateMetricsListen(listen); !valid.ok()) {
    return valid;
  }
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // civetweb: one listening thread, and one worker thread is plenty for
    // a scrape every few seconds.
    exposer = std::make_unique<prometheus::Exposer>(std::string(listen),
                                                    /*num_threads=*/1);
  } catch (const std::exception& e) {
    // prometheus-cpp reports a failed bind by throwing CivetException.
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": no port bound"));
  }
  exposer->RegisterCollectable(metrics);
  const absl::string_view host = listen.substr(0, listen.rfind(':'));
  return absl::WrapUnique(new MetricsEndpoint(
      std::move(exposer), absl::StrCat(host, ":", ports.front())));
}

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer,
                                 std::string address)
    : exposer_(std::move(exposer)), address_(std::move(address)) {}

MetricsEndpoint::~MetricsEndpoint() {
  // civetweb 1.15 waits for new connections in rounds of 2 s and sees that
  // it should stop only between rounds, so stopping it takes up to 2 s, and
  // a server's shutdown as long. A connection ends the round: while the
  // exposer stops on another thread, knock until it has.
  absl::Notification stopped;
  std::thread stopper([this, &stopped] {
    exposer_.reset();
    stopped.Notify();
  });
  while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
    Knock(address_);
  }
  stopper.join();
}

}  // namespace deadline
