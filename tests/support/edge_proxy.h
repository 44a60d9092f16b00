#ifndef DEADLINE_TESTS_SUPPORT_EDGE_PROXY_H_
#define DEADLINE_TESTS_SUPPORT_EDGE_PROXY_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "tests/support/subprocess.h"

namespace deadline::testing {

// The edge proxy as deploy/edge/ ships it: Debian's nginx, configured by
// deploy/edge/render.sh from the frontend's flags, run by a test or a
// benchmark as a child process in a directory of its own (configuration,
// logs, pid file): never the packaged system service. Not thread-safe.
// Destroying it stops nginx (SIGTERM to the master, which stops its
// workers; SIGKILL if it has not exited within 10 s).
class EdgeProxy {
 public:
  struct Options {
    // deploy/edge/render.sh (a runfile path in tests).
    std::string render_script;
    // The frontend, HOST:PORT.
    std::string frontend;
    // More arguments for render.sh: the frontend's flags (--max_deadline,
    // --keepalive_time, ...), TLS, --call_timeout. --listen and --frontend
    // are set from `listen_host` and `frontend`.
    std::vector<std::string> render_flags;
    // Where nginx listens: this address and a port that was free a moment
    // ago (nginx cannot bind port 0 and say which port it got).
    std::string listen_host = "127.0.0.1";
    // Turns nginx's argv into the one to run, e.g. Host::Command to run it
    // in a network namespace; unset: as it is.
    std::function<std::vector<std::string>(std::vector<std::string>)> wrap;
    // Where the directory goes: $TEST_TMPDIR (or /tmp) when empty.
    std::string parent_dir;
    std::string nginx = "/usr/sbin/nginx";
  };

  // OK when `nginx` can run here; FAILED_PRECONDITION saying why otherwise
  // (for GTEST_SKIP: scripts/deps.sh installs it).
  static absl::Status Available(const std::string& nginx = "/usr/sbin/nginx");

  // Renders the configuration, starts nginx and waits until it listens (its
  // master logs "start worker processes" once its sockets are bound), 20 s
  // at most. An error says which step failed, with what nginx or render.sh
  // printed. Tries another port if the one chosen was taken meanwhile.
  static absl::StatusOr<std::unique_ptr<EdgeProxy>> Start(
      const Options& options);
  ~EdgeProxy();

  // HOST:PORT where it listens.
  const std::string& address() const { return address_; }
  pid_t pid() const { return process_->pid(); }
  // The rendered configuration, and the directory nginx runs in.
  const std::string& config() const { return config_; }
  const std::string& dir() const { return dir_; }

  // The access log's line containing `needle` (e.g. "request_id=abc"),
  // waiting up to `timeout` for nginx to write it (it flushes every
  // 100 ms); nullopt if none came.
  absl::optional<std::string> WaitForAccessLine(absl::string_view needle,
                                                absl::Duration timeout);
  // The error log so far.
  std::string ErrorLog() const;

 private:
  EdgeProxy() = default;
  std::string dir_;
  std::string address_;
  std::string config_;
  std::unique_ptr<Subprocess> process_;
};

// A field "name=value" of a log line (the access log's, or a server's);
// nullopt if the line has no such field.
absl::optional<std::string> LogField(absl::string_view line,
                                     absl::string_view name);

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_EDGE_PROXY_H_
