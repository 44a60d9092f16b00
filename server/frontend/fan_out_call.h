#ifndef DEADLINE_SERVER_FRONTEND_FAN_OUT_CALL_H_
#define DEADLINE_SERVER_FRONTEND_FAN_OUT_CALL_H_

#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "server/frontend/frontend.h"

namespace deadline {

// The calls whose work goes to several backend calls at once, as a FanOut
// (server/deadline/fan_out.h) decides: which to start, when to hedge,
// which to cancel, and when the whole is done. Each backend call has the
// caller's deadline less the reserve; the answer comes from the last one
// to end. Returned reactors are gRPC's; `frontend` must outlive them.

// Frontend.FetchAll: a panel per requested one, all at once, panel i on
// backend i % backends, under one budget; see deadline.v1.FanOutMode
// (all-or-nothing, errgroup-style, or partial). INVALID_ARGUMENT, without
// calling a backend, for too many panels or a panel outside the limits.
// A FetchAllRequest in (as bytes), a FetchAllReply out.
grpc::ServerUnaryReactor* StartFetchAll(Frontend& frontend,
                                        grpc::CallbackServerContext& caller,
                                        const grpc::ByteBuffer& request,
                                        grpc::ByteBuffer& reply);

// Frontend.Fetch with hedging: one panel on the backends in turn; when its
// backend has not answered after FrontendOptions::hedge_after, a second
// call goes to the next backend, the first OK wins and the other is
// cancelled at once. A FetchRequest in, a FetchReply out.
grpc::ServerUnaryReactor* StartHedgedFetch(Frontend& frontend,
                                           grpc::CallbackServerContext& caller,
                                           const grpc::ByteBuffer& request,
                                           grpc::ByteBuffer& reply);

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_FAN_OUT_CALL_H_
