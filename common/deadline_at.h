#ifndef DEADLINE_COMMON_DEADLINE_AT_H_
#define DEADLINE_COMMON_DEADLINE_AT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"

namespace deadline {

// gRPC sends a deadline as a relative timeout (grpc-timeout), which the
// receiver counts from when it reads the call: the time a call spent on
// the wire, or waiting to be read, is invisible to it. Beside it, every
// caller of this project sends two request metadata entries, in decimal
// ASCII Unix microseconds so that any tool can send them too:
// - the caller's absolute deadline;
inline constexpr char kDeadlineAtKey[] = "deadline-at";
// - when the caller started the call.
inline constexpr char kDeadlineSentAtKey[] = "deadline-sent-at";
// gRPC still enforces grpc-timeout alone; these never replace it. How a
// hop plans from them: BudgetPolicy (server/deadline/budget.h).

// What a call's metadata says of its absolute deadline.
struct DeadlineAt {
  absl::optional<absl::Time> at;       // deadline-at, if sent and it parsed.
  absl::optional<absl::Time> sent_at;  // deadline-sent-at, likewise.
  // An entry was sent and did not parse (or was sent twice).
  bool malformed = false;
};

// The entries of the call `context` serves.
DeadlineAt DeadlineAtOf(const grpc::ServerContextBase& context);

// Adds the entries to a call about to be made with `context`: its
// absolute deadline `deadline` (nothing when InfiniteFuture()) and its
// start `sent_at`.
void SendDeadlineAt(grpc::ClientContext& context, absl::Time deadline,
                    absl::Time sent_at);

// `t` (finite, after 1970) as decimal Unix microseconds, and back: 1 to 18
// digits, nothing else; nullopt for anything else.
std::string FormatUnixMicros(absl::Time t);
absl::optional<absl::Time> ParseUnixMicros(absl::string_view text);

}  // namespace deadline

#endif  // DEADLINE_COMMON_DEADLINE_AT_H_
