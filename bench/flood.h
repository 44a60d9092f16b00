#ifndef DEADLINE_BENCH_FLOOD_H_
#define DEADLINE_BENCH_FLOOD_H_

// Hostile HTTP/2 peers against the real servers: the flood benchmark, and
// the pieces tests/flood_test shares with it (running bench/h2flood.py,
// reading its report, and ordinary clients calling meanwhile).

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
#include "bench/benchmarks.h"
#include "bench/distribution.h"
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
// The sum of a field that maps names to counts ("resets"); 0 when absent.
double ReportTotal(const google::protobuf::Struct& report,
                   absl::string_view field);
// What the server did with the peer's streams, in words: how many it held,
// reset (by error code), answered (by grpc-status), GOAWAY, when it closed
// the connection.
std::string DescribeServerReaction(const google::protobuf::Struct& report);

// Which service an ordinary client calls.
enum class ServerKind {
  kFrontend,  // Frontend.Fetch with no work (it calls its backend).
  kBackend,   // Backend.Work with no work.
};

// One ordinary call to `address` on a connection of its own (a client
// that is not the flooding peer), with `deadline`; `elapsed` gets its
// latency, connecting included.
grpc::Status CallOnNewConnection(const std::string& address, ServerKind kind,
                                 absl::Duration deadline,
                                 absl::Duration* elapsed);

// Ordinary clients calling meanwhile: from a thread of its own, one call
// every `interval` (CallOnNewConnection), until Stop(). Thread-safe.
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

// Half-open streams and rapid reset against the real backend and frontend
// processes (`config.bin_dir`) with their default serving limits: RSS at
// rest and at most, ordinary calls meanwhile, the rapid-reset rate. Skipped
// (an Info row) without --bin_dir, python3 or python3-h2.
Section Flood(const Config& config);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_FLOOD_H_
