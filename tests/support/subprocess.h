#ifndef DEADLINE_TESTS_SUPPORT_SUBPROCESS_H_
#define DEADLINE_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"

namespace deadline::testing {

// A child process whose stdout and stderr (merged) the test reads.
// Not thread-safe. The destructor kills (SIGKILL) and reaps the child if it
// is still running, so no test leaves a process behind.
class Subprocess {
 public:
  // Starts argv[0] with arguments argv[1..]; nullptr if it cannot start.
  static std::unique_ptr<Subprocess> Start(
      const std::vector<std::string>& argv);
  ~Subprocess();

  // Reads output until a line containing `needle` arrives (returns it) or
  // `timeout` passes or the output ends (returns nullopt).
  absl::optional<std::string> WaitForLine(absl::string_view needle,
                                          absl::Duration timeout);

  pid_t pid() const { return pid_; }

  // Sends `signal` to the child.
  void Signal(int signal);

  // Waits up to `timeout` for the child to exit; returns its exit status
  // (128 + N if killed by signal N), or nullopt if it is still running.
  absl::optional<int> Wait(absl::Duration timeout);

  // Everything the child printed so far (after Wait(): everything).
  const std::string& output();

 private:
  Subprocess(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  enum class Read { kData, kNothing, kEnd };
  // Reads what arrives within `timeout`.
  Read ReadSome(absl::Duration timeout);

  pid_t pid_;
  int fd_;
  std::string output_;
  size_t scanned_ = 0;  // output_ before this was searched by WaitForLine.
  absl::optional<int> exit_status_;
};

// Starts a server binary with `argv` plus --listen=`listen` (a HOST:0, so
// the server picks its port), waits for its "listening on HOST:PORT" line
// and stores the address; nullptr if it did not start.
std::unique_ptr<Subprocess> StartServerProcess(
    std::vector<std::string> argv, std::string* address,
    absl::string_view listen = "127.0.0.1:0");

// The path of a binary of this workspace in the test's runfiles, e.g.
// RunfilePath("server/backend/backend").
std::string RunfilePath(absl::string_view path);

// A port of 127.0.0.1 that was free a moment ago (bound to port 0 and
// released); 0 if none could be had. For a server that must start later
// on an address known in advance.
int FreePort();

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_SUBPROCESS_H_
