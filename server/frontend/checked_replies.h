#ifndef DEADLINE_SERVER_FRONTEND_CHECKED_REPLIES_H_
#define DEADLINE_SERVER_FRONTEND_CHECKED_REPLIES_H_

#include <memory>
#include <string>

#include "grpcpp/support/client_interceptor.h"

namespace deadline {

// A client interceptor for channels to peers whose replies are not trusted:
// a reply that does not parse turns an OK status into INTERNAL ("<peer>
// answered OK with a reply that does not parse"), so a garbled answer is
// never taken for success. gRPC 1.51's callback unary client needs this: it
// drops the "message parsed" bit and reports the server's OK with a
// half-parsed reply. Other statuses pass unchanged. Unary calls only: the
// end of a stream is indistinguishable here from a message that did not
// parse, so streams check their messages themselves.
std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>
CheckedReplies(std::string peer);

}  // namespace deadline

#endif  // DEADLINE_SERVER_FRONTEND_CHECKED_REPLIES_H_
