#ifndef DEADLINE_BENCH_CALL_LOG_H_
#define DEADLINE_BENCH_CALL_LOG_H_

// The servers' call logs (--log=all or --log=errors: one logfmt line per
// call that ends), read back by the benchmarks that run the real binaries.

#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace deadline::bench {

// The fields of a logfmt call-log line. A quoted value holding spaces is
// cut at its first space, so only the fields before it are sound: the call
// log puts its one such field, stop=, last. The views point into `line`.
absl::flat_hash_map<absl::string_view, absl::string_view> LogFields(
    absl::string_view line);

// One call's line in a server's call log.
struct LoggedCall {
  absl::Time arrived;
  absl::Time finished;
  absl::Duration budget = absl::InfiniteDuration();  // At arrival.
  absl::Duration stop_latency = absl::ZeroDuration();
  std::string code;
  int steps_done = 0;
  // The deadline this hop worked to: arrival + budget.
  absl::Time deadline() const { return arrived + budget; }
};

// The call lines in `log` (lines that are not a call's are skipped), by
// request id (a fan-out's panels share one).
std::map<std::string, std::vector<LoggedCall>> ParseCallLog(
    absl::string_view log);

}  // namespace deadline::bench

#endif  // DEADLINE_BENCH_CALL_LOG_H_
