#ifndef DEADLINE_SERVER_FRONTEND_FETCH_STREAM_H_
#define DEADLINE_SERVER_FRONTEND_FETCH_STREAM_H_

#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "server/frontend/frontend.h"

namespace deadline {

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
// call is admitted and its budget planned as every frontend call's
// (FrontendCall), with FrontendOptions::max_stream_duration as the
// method's own cap: the backend stream gets the caller's deadline less the
// reserve or, when it comes first, its arrival plus the cap less the
// reserve; a stream that reaches the cap ends DEADLINE_EXCEEDED with a
// message naming it. A reader so slow that the stream is still waiting on
// it when it should have ended (the frontend's own deadline for it) is cut
// off then, with DEADLINE_EXCEEDED: a reader that does not read cannot hold
// the frontend beyond the stream's deadline.
//
// The caller cancelling (or going) cancels the backend stream at once (with
// propagation; without, at the next message, which cannot be written). A
// backend that fails mid-stream ends the caller's stream with its code
// unchanged and a message that names this hop and its budget; a backend
// message out of order, or an OK end before every step, is INTERNAL. Every
// outcome carries the BudgetTrace in trailing metadata, and is counted and
// logged as method "FetchStream", with steps_done the messages forwarded.
//
// A FetchRequest in (as bytes), WorkProgress messages out. Returns a
// reactor that gRPC owns; `frontend` must outlive every stream.
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartFetchStream(
    Frontend& frontend, grpc::CallbackServerContext& caller,
    const grpc::ByteBuffer& request);

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_FETCH_STREAM_H_
