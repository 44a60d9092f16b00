#ifndef DEADLINE_BENCH_CHILD_SERVER_H_
#define DEADLINE_BENCH_CHILD_SERVER_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "grpcpp/channel.h"
#include "proto/deadline.grpc.pb.h"
#include "tests/support/subprocess.h"

namespace deadline::bench {

// A server binary running as a child process on 127.0.0.1:0, with a
// channel to it. Its output (the call log) is drained into memory by a
// thread of its own, so the server never blocks writing its log, and read
// with TakeLog(). Destroying it kills the process. Stats(), Alive(),
// TakeLog() and AllOutput() may be called from any thread.
class ChildServer {
 public:
  // Starts `binary` (a path under `bin_dir`, e.g. "server/backend/backend")
  // with `args`; nullptr when it did not start (no "listening on" line
  // within 20 s).
  static std::unique_ptr<ChildServer> Start(const std::string& bin_dir,
                                            absl::string_view binary,
                                            std::vector<std::string> args);
  ~ChildServer();

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // Its Stats, or an empty reply when it does not answer within 5 s.
  deadline::v1::StatsReply Stats() const;
  // Whether the process is still running.
  bool Alive() const;
  // What it printed since the last TakeLog() (whole lines only), as far as
  // drained: the drainer copies what arrived every 20 ms or so, so wait
  // that long after a line is written to be sure to see it.
  std::string TakeLog();
  // Everything it printed since it started, as far as drained; from Start()
  // on, at least what it printed until it listened.
  std::string AllOutput();
  // Stops it gracefully (SIGTERM) and waits up to `timeout` for it to
  // exit; returns its exit status (128 + N if killed by signal N), or
  // nullopt if it did not exit in time. Once.
  absl::optional<int> Stop(absl::Duration timeout);

 private:
  ChildServer() = default;
  // Copies the process's output from `copied` on into output_ until
  // StopDraining().
  void Drain(size_t copied);
  void StopDraining();

  // Read by drainer_ alone once it runs, by Stop() after it has ended.
  std::unique_ptr<testing::Subprocess> process_;
  std::string address_;
  pid_t pid_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  absl::Mutex mu_;
  std::string output_ ABSL_GUARDED_BY(mu_);
  size_t taken_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> stop_{false};
  std::thread drainer_;
};

// Waits until `server`'s Stats count nothing in flight, up to `timeout`;
// returns the count it read last.
int64_t WaitIdle(ChildServer& server, absl::Duration timeout);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_CHILD_SERVER_H_
