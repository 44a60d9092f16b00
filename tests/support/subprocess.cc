#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace deadline::testing {

std::unique_ptr<Subprocess> Subprocess::Start(
    const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return nullptr;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  // The child starts with no signals blocked, whatever the test blocked.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);

  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int error =
      posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(pipe_fds[1]);
  if (error != 0) {
    close(pipe_fds[0]);
    return nullptr;
  }
  return std::unique_ptr<Subprocess>(new Subprocess(pid, pipe_fds[0]));
}

Subprocess::~Subprocess() {
  if (!exit_status_.has_value()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  close(fd_);
}

Subprocess::Read Subprocess::ReadSome(absl::Duration timeout) {
  pollfd pfd{fd_, POLLIN, 0};
  const int ready =
      poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  if (ready <= 0) return Read::kNothing;
  char buffer[4096];
  const ssize_t n = read(fd_, buffer, sizeof(buffer));
  if (n <= 0) return Read::kEnd;
  output_.append(buffer, static_cast<size_t>(n));
  return Read::kData;
}

absl::optional<std::string> Subprocess::WaitForLine(absl::string_view needle,
                                                    absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  for (;;) {
    size_t line_end;
    while ((line_end = output_.find('\n', scanned_)) != std::string::npos) {
      std::string line = output_.substr(scanned_, line_end - scanned_);
      scanned_ = line_end + 1;
      if (absl::StrContains(line, needle)) return line;
    }
    const absl::Duration left = end - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::nullopt;
    if (ReadSome(std::min(left, absl::Milliseconds(50))) == Read::kEnd) {
      return absl::nullopt;
    }
  }
}

void Subprocess::Signal(int signal) {
  if (!exit_status_.has_value()) kill(pid_, signal);
}

absl::optional<int> Subprocess::Wait(absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (!exit_status_.has_value()) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ =
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (absl::Now() >= end) return absl::nullopt;
    ReadSome(absl::Milliseconds(5));
  }
  // The rest of the output, unless a grandchild keeps the pipe open.
  while (ReadSome(absl::Milliseconds(100)) == Read::kData) {
  }
  return exit_status_;
}

const std::string& Subprocess::output() {
  while (ReadSome(absl::ZeroDuration()) == Read::kData) {
  }
  return output_;
}

std::unique_ptr<Subprocess> StartServerProcess(std::vector<std::string> argv,
                                               std::string* address,
                                               absl::string_view listen) {
  argv.push_back(absl::StrCat("--listen=", listen));
  auto server = Subprocess::Start(argv);
  if (server == nullptr) return nullptr;
  const absl::optional<std::string> line =
      server->WaitForLine("listening on ", absl::Seconds(20));
  if (!line.has_value()) return nullptr;
  const size_t at = line->find("listening on ") + 13;
  *address = line->substr(at, line->find(' ', at) - at);
  return server;
}

std::string RunfilePath(absl::string_view path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/",
                      workspace ? workspace : "deadline_propagation", "/",
                      path);
}

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace deadline::testing
