#ifndef DEADLINE_COMMON_TRACE_H_
#define DEADLINE_COMMON_TRACE_H_

#include <string>

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

// Sends `trace` back with the call's trailing metadata. Call once, before
// the call finishes.
void AttachTrace(grpc::ServerContextBase& context,
                 const deadline::v1::BudgetTrace& trace);

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

// A new random request id: 16 hex digits.
std::string NewRequestId();

// A HopTrace with `hop` named and no panel (-1).
deadline::v1::HopTrace NewHop(absl::string_view hop);

}  // namespace deadline

#endif  // DEADLINE_COMMON_TRACE_H_
