#ifndef DEADLINE_BENCH_HOSTILE_PEER_H_
#define DEADLINE_BENCH_HOSTILE_PEER_H_

// Hostile HTTP/2 peers against the real servers, as the flood benchmark
// (bench/flood.cc) and tests/flood_test run them: bench/h2flood.py, its
// report, and ordinary clients calling meanwhile.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "bench/distribution.h"
#include "bench/harness.h"
#include "google/protobuf/struct.pb.h"
#include "grpcpp/support/status.h"
#include "tests/support/subprocess.h"

namespace deadline::bench {

// How to run bench/h2flood.py: Debian's python3 (with python3-h2) and the
// script.
struct HostilePeerCommand {
  std::string python;
  std::string script;
};

// Whether `command` can run: the interpreter starts and imports h2.
bool CanRunHostilePeer(const HostilePeerCommand& command);

// One run of bench/h2flood.py against `target` ("HOST:PORT") with `args`
// (e.g. {"--mode=halfopen", "--streams=2000", "--hold=5"}). Not
// thread-safe. The destructor kills the peer if it still runs, which
// closes its connection.
class HostilePeer {
 public:
  // nullptr if the interpreter cannot start.
  static std::unique_ptr<HostilePeer> Start(
      const HostilePeerCommand& command, const std::string& target,
      const std::vector<std::string>& args);

  // Half-open mode: waits until the peer holds its streams, which it says
  // once the server has read every one of them (a PING sent after the last
  // stream came back). False if the server closed the connection first, the
  // peer ended, or `timeout` passed.
  bool WaitUntilHolding(absl::Duration timeout);

  // Waits up to `timeout` for the peer to end; true once it has.
  bool WaitFor(absl::Duration timeout);

  // Once ended: its one-line JSON report. INTERNAL, with what it printed,
  // when it failed or printed no report.
  absl::StatusOr<google::protobuf::Struct> Report();

 private:
  explicit HostilePeer(std::unique_ptr<testing::Subprocess> process)
      : process_(std::move(process)) {}
  std::unique_ptr<testing::Subprocess> process_;
  bool ended_ = false;
  int exit_status_ = -1;
};

// A number in `report`, `path` naming nested fields with dots
// ("goaway.at_s"); NaN when absent or null.
double ReportNumber(const google::protobuf::Struct& report,
                    absl::string_view path);
// What the server did with the peer's streams, in words: how many it held,
// reset (by error code), answered (by grpc-status), GOAWAY, when it closed
// the connection.
std::string DescribeServerReaction(const google::protobuf::Struct& report);

// Ordinary clients calling meanwhile: from a thread of its own, one call
// every `interval` (CallOnNewConnection, bench/harness.h), until Stop().
// Thread-safe.
class Prober {
 public:
  struct Result {
    Distribution latency{"normal calls during the flood"};  // Every call.
    int ok = 0;
    int failed = 0;
    std::string first_failure;  // "CODE: message" of the first failed call.
  };

  Prober(std::string address, ServerKind kind,
         absl::Duration interval = absl::Milliseconds(100),
         absl::Duration deadline = absl::Seconds(1));
  ~Prober() { Stop(); }

  // Stops calling (waits for the call in flight) and returns the calls made.
  Result Stop();

 private:
  void Run();

  const std::string address_;
  const ServerKind kind_;
  const absl::Duration interval_;
  const absl::Duration deadline_;
  absl::Notification stop_;
  absl::Mutex mu_;
  Result result_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_HOSTILE_PEER_H_
