#ifndef DEADLINE_SERVER_FRONTEND_FETCH_STREAM_H_
#define DEADLINE_SERVER_FRONTEND_FETCH_STREAM_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "proto/deadline.grpc.pb.h"
#include "server/deadline/budget.h"
#include "server/observability/hop_record.h"
#include "server/deadline/propagation.h"
#include "server/serving/work_request.h"

namespace deadline {

// How the frontend's streams behave.
struct FetchStreamOptions {
  WorkLimits limits;
  // What the backend stream inherits from the caller's (see Propagation).
  Propagation propagation = Propagation::kDeadlineAndCancellation;
  // Calls in flight (all methods) beyond this are refused at once with
  // RESOURCE_EXHAUSTED.
  int max_in_flight = 10'000;
  // The longest a stream may last here, counted from its arrival, whatever
  // its caller's deadline: the twin of Envoy's max_stream_duration. It is
  // on top of the budget's max_deadline clamp, and applies to streams only.
  // Infinite: off.
  absl::Duration max_stream_duration = absl::InfiniteDuration();
};

// --max_stream_duration as given: 0 and infinity mean off (returned as
// InfiniteDuration()); otherwise it must leave room for the budget's
// reserve and minimum, or every stream would fail fast. INVALID_ARGUMENT
// naming the flag and its range.
absl::StatusOr<absl::Duration> ParseMaxStreamDuration(
    absl::Duration flag, const BudgetOptions& budget);

// One backend a stream may be sent to.
struct StreamBackend {
  std::string name;  // As the frontend's --backend names it.
  deadline::v1::Backend::StubInterface* stub;
};

// What the frontend's streams share with the frontend that serves them:
// its budget policy, its counters and log (so streams are counted as its
// other calls are), its clock, and its backends.
struct FetchStreamHost {
  FetchStreamOptions options;
  const BudgetPolicy* policy;
  HopSink* sink;
  Clock* clock;
  // The backend for the next stream.
  std::function<StreamBackend()> next_backend;
  // Told of each backend stream started without any propagation, and again
  // as it ends, so that a shutdown can cancel it (nothing else would).
  std::function<void(grpc::ClientContext&)> track;
  std::function<void(grpc::ClientContext&)> untrack;
};

// Frontend.FetchStream on the callback API: forwards a Backend.WorkStream
// to the caller message by message, holding no thread while it waits.
//
// Flow control holds end to end: the frontend holds one message at a time,
// and asks the backend for the next only once the caller's transport has
// taken the last one, so a slow reader holds the backend back through both
// hops instead of growing a buffer here. (Each hop's HTTP/2 windows still
// hold what they hold: see BackendChannelOptions::stream_window_bytes.)
//
// The caller's deadline covers the whole stream, as gRPC defines it. The
// budget is planned as for Fetch: DEADLINE_EXCEEDED at once, without
// calling a backend, when too little is left; otherwise the backend stream
// gets the caller's deadline less the reserve, or, when it comes first,
// its arrival plus max_stream_duration less the reserve. A stream that
// reaches that cap ends with DEADLINE_EXCEEDED and a message naming it.
// A reader so slow that the stream is still waiting on it when it should
// have ended (the frontend's own deadline for it) is cut off then, with
// DEADLINE_EXCEEDED: a reader that does not read cannot hold the frontend
// beyond the stream's deadline.
//
// The caller cancelling (or going) cancels the backend stream at once (with
// propagation; without, at the next message, which cannot be written). A
// backend that fails mid-stream ends the caller's stream with its code
// unchanged and a message that names this hop and its budget; a backend
// message out of order, or an OK end before every step, is INTERNAL.
// INVALID_ARGUMENT for a request that does not parse or asks for work
// outside the limits; RESOURCE_EXHAUSTED beyond max_in_flight. Every
// outcome carries the BudgetTrace in trailing metadata (like Fetch), and is
// counted and logged as method "FetchStream", with steps_done the messages
// forwarded.
//
// Returns a reactor that gRPC owns; the host must outlive every stream.
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartFetchStream(
    const FetchStreamHost& host, grpc::CallbackServerContext* context,
    const grpc::ByteBuffer* request);

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_FETCH_STREAM_H_
