#ifndef DEADLINE_CLIENT_REPORT_H_
#define DEADLINE_CLIENT_REPORT_H_

#include <string>

#include "absl/time/time.h"
#include "client/calls.h"
#include "proto/deadline.pb.h"

namespace deadline {

// Lines for people: the status, the elapsed time and the budget each hop
// saw. Text from the servers (status messages, backend names) is printed
// through Printable(), so each line stays one line. E.g. "budgets: client 300ms
// -> frontend 299.6ms at arrival, forwarded 289.6ms -> backend 289.3ms at
// arrival, 10 steps done".
std::string FormatOutcome(const FetchOutcome& outcome,
                          absl::Duration client_budget);

// As FormatOutcome, then one line per panel: its backend, how it ended, the
// steps it did, the budget it was given and the time it took.
std::string FormatFanOut(const FetchAllOutcome& outcome,
                         absl::Duration client_budget);

// One line per streamed step, e.g. "step 3: 30.2ms elapsed, 269.8ms left".
std::string FormatProgress(const deadline::v1::WorkProgress& progress);

// One line of counters, e.g. "started 3, ok 1, deadline_exceeded 2, ...".
std::string FormatStats(const deadline::v1::StatsReply& stats);

// The client's exit status for a call that ended with `code`: 0 for OK,
// otherwise 10 + the gRPC code (e.g. 14 for DEADLINE_EXCEEDED, 11 for
// CANCELLED, 24 for UNAVAILABLE). 2 is kept for usage errors.
int ExitCodeFor(grpc::StatusCode code);

}  // namespace deadline

#endif  // DEADLINE_CLIENT_REPORT_H_
