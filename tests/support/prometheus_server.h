#ifndef DEADLINE_TESTS_SUPPORT_PROMETHEUS_SERVER_H_
#define DEADLINE_TESTS_SUPPORT_PROMETHEUS_SERVER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "tests/support/subprocess.h"

namespace deadline::testing {

// One series of an instant query's answer.
struct QueryResult {
  std::map<std::string, std::string> labels;
  double value = 0;  // NaN and +Inf as such.
};

// A real Prometheus server (Debian's /usr/bin/prometheus, from the
// prometheus package) run by a test as a child process, with its own
// configuration, storage folder and port under `Options::dir`: never the
// packaged system service, which the tests neither need nor touch. Not
// thread-safe. Stops it (SIGTERM, then SIGKILL) when destroyed, so nothing
// is left running.
class PrometheusServer {
 public:
  struct Options {
    // Scrape jobs: job name -> HOST:PORT targets (their /metrics).
    std::map<std::string, std::vector<std::string>> jobs;
    // Rule files to load (absolute paths).
    std::vector<std::string> rule_files;
    // Also the rules' evaluation interval.
    absl::Duration scrape_interval = absl::Seconds(1);
    // Where the configuration and the storage go; must exist.
    std::string dir;
  };

  // Writes the configuration, starts Prometheus on a free port of
  // 127.0.0.1, and waits until it is ready to answer (20 s at most).
  static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(
      const Options& options);
  ~PrometheusServer();

  // HOST:PORT of its HTTP API.
  const std::string& address() const { return address_; }

  // GET /api/v1/query: evaluates `promql` now; the instant vector it gives
  // (a scalar answer is one result without labels).
  absl::StatusOr<std::vector<QueryResult>> Query(absl::string_view promql);

  // Stops it: SIGTERM, and its exit status once it has exited (nullopt if
  // it did not within 10 s).
  absl::optional<int> Stop();
  // What it logged so far.
  const std::string& output() { return process_->output(); }

 private:
  PrometheusServer(std::unique_ptr<Subprocess> process, std::string address)
      : process_(std::move(process)), address_(std::move(address)) {}

  std::unique_ptr<Subprocess> process_;
  std::string address_;
};

}  // namespace deadline::testing

#endif  // DEADLINE_TESTS_SUPPORT_PROMETHEUS_SERVER_H_
