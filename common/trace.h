#ifndef DEADLINE_COMMON_TRACE_H_
#define DEADLINE_COMMON_TRACE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "google/protobuf/arena.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "proto/deadline.pb.h"

namespace deadline {

// Trailing metadata with the serialized deadline.v1.BudgetTrace of a call.
inline constexpr char kTraceKey[] = "deadline-trace-bin";
// Request metadata naming the user's request at every hop and in every log.
inline constexpr char kRequestIdKey[] = "x-request-id";

// Request metadata by which a caller asks for the trace of a call that
// succeeds too. A failed call always carries its trace; an OK one only on
// request, which keeps the hot path of a busy service lean (building and
// sending a trace costs about a tenth of a hop's CPU, see bench/).
inline constexpr char kTraceRequestKey[] = "deadline-trace";
inline constexpr char kTraceRequestAlways[] = "always";

// What a hop sends back is bounded, so that a long story (or a hostile
// hop's) cannot push an answer past its receiver's limit on metadata
// (gRPC's 8 KiB by default, trailers and status message included) and turn
// its real status into RESOURCE_EXHAUSTED.
inline constexpr size_t kMaxTraceBytes = 4096;
inline constexpr size_t kMaxMessageBytes = 1024;
// Each text field of a hop in a trace.
inline constexpr size_t kMaxTraceTextBytes = 256;

// `text` when it fits in `max_bytes`; otherwise cut (at a UTF-8 character
// boundary) and marked, as "...[trimmed 5120 bytes]", within `max_bytes`.
std::string Trimmed(absl::string_view text, size_t max_bytes);

// Makes `trace` fit in `max_bytes` once serialized: its text fields are
// trimmed first, then the last hops give way to one marker hop saying how
// many were left out. The first hop (the sender's own) always stays.
void FitTrace(deadline::v1::BudgetTrace& trace,
              size_t max_bytes = kMaxTraceBytes);

// Whether the caller of `context` asked for the trace of an OK call too.
bool TraceWanted(const grpc::ServerContextBase& context);
// Asks for it on a call about to be made with `context`.
void WantTrace(grpc::ClientContext& context);

// Sends `trace` back with the call's trailing metadata when the call ends
// with a status other than OK, or when its caller asked for it, fitted into
// kMaxTraceBytes; not when the call ends CANCELLED and is cancelled (no
// trailers reach anyone then). Call once, before the call finishes.
void AttachTrace(grpc::ServerContextBase& context,
                 const deadline::v1::BudgetTrace& trace,
                 const absl::Status& status);

// The trace the server sent back with a finished call, if it sent one.
absl::optional<deadline::v1::BudgetTrace> TraceFrom(
    const grpc::ClientContext& context);
// The same, made in `arena`; nullptr when there is none (or it does not
// parse).
deadline::v1::BudgetTrace* TraceFrom(const grpc::ClientContext& context,
                                     google::protobuf::Arena* arena);

// The x-request-id the caller sent, if it is a sane one (1 to 64 of
// [A-Za-z0-9._-], so it is safe to log); otherwise a new one.
std::string RequestIdOf(const grpc::ServerContextBase& context);

// Which attempt of its call the call of `context` is, 1-based: gRPC's
// retries say how many came before in grpc-previous-rpc-attempts.
int AttemptOf(const grpc::ServerContextBase& context);

// A new random request id: 16 hex digits.
std::string NewRequestId();

// A HopTrace with `hop` named and no panel (-1).
deadline::v1::HopTrace NewHop(absl::string_view hop);

}  // namespace deadline

#endif  // DEADLINE_COMMON_TRACE_H_
