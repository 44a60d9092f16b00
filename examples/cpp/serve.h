#ifndef DEADLINE_EXAMPLES_CPP_SERVE_H_
#define DEADLINE_EXAMPLES_CPP_SERVE_H_

#include <memory>
#include <string>

#include "grpcpp/server.h"
#include "grpcpp/support/status.h"

namespace deadline::example {

// Starts `service` (which must outlive the server) on `address`, plaintext;
// "127.0.0.1:0" picks a free port, written to `*port`. Returns null when the
// address cannot be bound.
std::unique_ptr<grpc::Server> StartServer(grpc::Service* service,
                                          const std::string& address,
                                          int* port);

// What a server's main() does once its flags are parsed: starts `service`,
// prints "NAME listening on HOST:PORT" and serves until the process is
// killed. Returns 1 when `address` cannot be bound.
int ServeForever(const std::string& name, grpc::Service* service,
                 const std::string& address);

}  // namespace deadline::example

#endif  // DEADLINE_EXAMPLES_CPP_SERVE_H_
