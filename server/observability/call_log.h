#ifndef DEADLINE_SERVER_OBSERVABILITY_CALL_LOG_H_
#define DEADLINE_SERVER_OBSERVABILITY_CALL_LOG_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/deadline.pb.h"

namespace deadline {

// Which calls get a log line.
enum class LogMode {
  kAll,     // Every call.
  kErrors,  // Calls that did not end OK (the default: quiet at high rates).
  kNone,
};

// "all", "errors" or "none"; INVALID_ARGUMENT otherwise.
absl::StatusOr<LogMode> ParseLogMode(absl::string_view text);

// One logfmt line (no newline) describing one call at one hop: time, hop,
// method, request id, status code, budget at arrival, forwarded budget,
// steps, elapsed time, stop latency and why it stopped. For example:
//   time=2026-11-23T06:05:10.1234Z hop=backend method=Work
//   request_id=5f2c9a0e1b7d4c83 code=DEADLINE_EXCEEDED budget=88.8ms
//   forwarded=none steps=8/100 elapsed=86.9ms stop_latency=0.1ms
//   arrival=0.3ms deadline_from=grpc-timeout stop="at its deadline"
// (arrival: from the caller's send to this hop, when the caller said when
// it sent the call; deadline_from: what set the deadline planned from).
std::string FormatCallLog(absl::string_view method,
                          const deadline::v1::BudgetTrace& trace,
                          const deadline::v1::HopTrace& hop,
                          absl::Duration stop_latency);

// Whether `mode` wants a line for a call that ended with `code`.
bool Logged(LogMode mode, absl::StatusCode code);

// Writes FormatCallLog() to stderr as one line, if `mode` wants this call.
// Thread-safe: lines never interleave.
void LogCall(LogMode mode, absl::string_view method,
             const deadline::v1::BudgetTrace& trace,
             const deadline::v1::HopTrace& hop, absl::Duration stop_latency);

}  // namespace deadline

#endif  // DEADLINE_SERVER_OBSERVABILITY_CALL_LOG_H_
