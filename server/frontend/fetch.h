#ifndef DEADLINE_SERVER_FRONTEND_FETCH_H_
#define DEADLINE_SERVER_FRONTEND_FETCH_H_

#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "server/frontend/frontend.h"

namespace deadline {

// Frontend.Fetch: one call of Backend.Work, on the backends in turn, with
// the caller's deadline less the reserve (see FrontendCall), answered from
// the backend call's completion: no thread waits, no reaction blocks. With
// hedging on (FrontendOptions::hedge_after) it is a one-panel fan-out
// instead (fan_out_call.h).
//
// A deadline.v1.FetchRequest in (as bytes), a FetchReply out. Returns a
// reactor that gRPC owns; `frontend` must outlive it.
grpc::ServerUnaryReactor* StartFetch(Frontend& frontend,
                                     grpc::CallbackServerContext& caller,
                                     const grpc::ByteBuffer& request,
                                     grpc::ByteBuffer& reply);

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_FETCH_H_
