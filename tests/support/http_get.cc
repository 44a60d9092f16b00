#include "tests/support/http_get.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace deadline::testing {
namespace {

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits until `fd` is ready for `events` or `deadline` passes.
absl::Status WaitFor(int fd, short events, absl::Time deadline) {
  while (true) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("HTTP exchange timed out");
    }
    pollfd p = {fd, events, 0};
    const int ready =
        poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready > 0) return absl::OkStatus();
    if (ready < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", strerror(errno)));
    }
  }
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(absl::string_view address,
                                     absl::string_view target,
                                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("not HOST:PORT: ", address));
  }
  const std::string host(address.substr(0, colon));
  const std::string port(address.substr(colon + 1));
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int error = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
      error != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", address, ": ", gai_strerror(error)));
  }
  Fd fd(
      socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int connected =
      fd.get() < 0 ? -1 : connect(fd.get(), found->ai_addr, found->ai_addrlen);
  const int connect_errno = errno;
  freeaddrinfo(found);
  if (fd.get() < 0) {
    return absl::InternalError(
        absl::StrCat("socket: ", strerror(connect_errno)));
  }
  errno = connect_errno;
  if (connected != 0 && errno == EINPROGRESS) {
    if (absl::Status ready = WaitFor(fd.get(), POLLOUT, deadline);
        !ready.ok()) {
      return ready;
    }
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    connected = error == 0 ? 0 : -1;
    errno = error;
  }
  if (connected != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to ", address, ": ", strerror(errno)));
  }

  const std::string request =
      absl::StrCat("GET ", target, " HTTP/1.0\r\nHost: ", address,
                   "\r\nAccept: text/plain\r\nConnection: close\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    if (absl::Status ready = WaitFor(fd.get(), POLLOUT, deadline);
        !ready.ok()) {
      return ready;
    }
    const ssize_t n = send(fd.get(), request.data() + sent,
                           request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return absl::UnavailableError(
          absl::StrCat("send to ", address, ": ", strerror(errno)));
    }
    if (n > 0) sent += static_cast<size_t>(n);
  }
  std::string answer;
  while (true) {
    if (absl::Status ready = WaitFor(fd.get(), POLLIN, deadline); !ready.ok()) {
      return ready;
    }
    char buffer[16384];
    const ssize_t n = recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("recv from ", address, ": ", strerror(errno)));
    }
    answer.append(buffer, static_cast<size_t>(n));
  }

  // "HTTP/1.x 200 OK\r\n...headers...\r\n\r\nbody"
  const size_t end_of_headers = answer.find("\r\n\r\n");
  HttpResponse response;
  if (answer.rfind("HTTP/1.", 0) != 0 || end_of_headers == std::string::npos ||
      answer.size() < 12 ||
      !absl::SimpleAtoi(absl::string_view(answer).substr(9, 3),
                        &response.status)) {
    return absl::InternalError(
        absl::StrCat("not an HTTP answer from ", address, ": ",
                     absl::string_view(answer).substr(0, 80)));
  }
  response.body = answer.substr(end_of_headers + 4);
  return response;
}

std::string UrlEncode(absl::string_view text) {
  std::string encoded;
  for (const char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      encoded.push_back(c);
    } else {
      absl::StrAppendFormat(&encoded, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return encoded;
}

}  // namespace deadline::testing
